"""Scores for the hits of the rerank window: cache first, then the model for the misses.

Cache keys are computed from the hit's `_source` before anything is fetched. The document
part of the key hashes the source fields the document is built from (title, selling
points, image *references*: URLs/paths) and the text cap, not the built text (building
it for every hit costs more than the MGET) nor the image bytes: hashing bytes would mean
downloading every image on every request, and a warm request must cost one MGET. The
trade-off: an image replaced behind an unchanged URL keeps its old score until the entry's
TTL ends; catalogs normally publish a changed image under a new URL, so we accept it. A
score computed while an image failed for a transient reason (timeout, HTTP error) is not
cached, so the next request tries the image again.

The model runs only for the misses, in window order and a chunk at a time (see
sidecar/ordered_scoring.py), under the request's deadline and the circuit breaker. When the
deadline or a full queue stops it early, the window is scored to the depth reached: hits
[0, depth) have scores (cached or fresh), the rest keeps OpenSearch's order (`partial`).
Nothing scored at the top (an engine error, an open breaker, no chunk done in time) marks
the window degraded: the caller keeps OpenSearch's order (DESIGN §5). Chunks still running
at the deadline are not cancelled but left to finish in the background (bounded, see
sidecar/background_scoring.py) and fill the cache, so a slow model still warms it. Only
engine faults count against the breaker, never an input the backend cannot take nor load.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from connectors.hydrate import get_field
from connectors.score_cache import ScoreCache, document_cache_key, query_key_prefix
from lychee_engine.types import Document, Query, Scorer, ScorerCapabilities, capabilities_of
from sidecar.background_scoring import BackgroundCompletions
from sidecar.breaker import CircuitBreaker
from sidecar.metrics import Metrics, StageTimer
from sidecar.ordered_scoring import Liveness, OrderedOutcome, Verdict, score_in_order

log = logging.getLogger(__name__)
# Bump when the hit -> document mapping changes meaning, so old cache entries stop matching.
HYDRATION_VERSION = "1"


TRANSIENT_IMAGE_ERRORS = ("failed", "timeout")
# Documents per model call when scoring a window in order (the depth's granularity).
DEFAULT_CHUNK = 8
# A deadline miss is an engine fault only after this long without any finished model call.
DEFAULT_STALL_S = 10.0
# How long a call that missed its deadline may keep running in the background.
LATE_SCORING_MAX_S = 120.0


class HydratedLike(Protocol):
    @property
    def document(self) -> Document: ...
    @property
    def image_error(self) -> str | None: ...
    @property
    def scorable(self) -> bool: ...


class HitHydrator(Protocol):
    async def hydrate(self, hits: list[dict[str, Any]]) -> Sequence[HydratedLike]: ...


@dataclass(frozen=True, slots=True)
class ScoringQuery:
    """The query as the model and the cache key see it."""

    query: Query
    text: str
    image_hash: str
    instruction: str


@dataclass(slots=True)
class WindowScores:
    scores: list[float | None]
    cached: list[bool]
    image_errors: list[str | None]
    degraded_reason: str | None = None
    # None: the whole window was scored (or none of it: degraded). d: only hits [0, d) are
    # scored (load shed, `partial`); the pipeline reranks [0, d) and keeps OpenSearch's order
    # below, exactly as for hits beyond the window. `degraded_reason` then says why it stopped.
    depth: int | None = None

    @property
    def cache_hits(self) -> int:
        return sum(self.cached)

    def settle(self, reason: str | None) -> None:
        """Depth and reason from the scored prefix: all of it (ok), part (partial: the
        reason scoring stopped), none (degraded). Known scores below the depth stay unused."""
        n = len(self.scores)
        depth = next((i for i, v in enumerate(self.scores) if v is None), n)
        self.degraded_reason = None if depth == n else (reason or "unscored")
        self.depth = depth if 0 < depth < n else None

    def prefix(self, depth: int) -> WindowScores:
        """The scores of hits [0, depth), all known: a whole window of that size."""
        return WindowScores(self.scores[:depth], self.cached[:depth], self.image_errors[:depth])

    @classmethod
    def unscored(cls, n: int, reason: str) -> WindowScores:
        return cls([None] * n, [False] * n, [None] * n, reason)


def document_key_hash(source: dict[str, Any], fields: Sequence[str], salt: str) -> str:
    """Hash of the source fields a document is built from (see the module docstring)."""
    values = [get_field(source, name) for name in fields]
    raw = orjson.dumps([HYDRATION_VERSION, salt, values], default=str)
    return hashlib.sha256(raw).hexdigest()


class WindowScorer:
    """Cache lookup, scoring of the misses under deadline and breaker, cache fill."""

    def __init__(
        self,
        scorer: Scorer,
        cache: ScoreCache,
        breaker: CircuitBreaker,
        deadline_s: float,
        prompt_version: str,
        metrics: Metrics,
        key_salt: str = "",
        late_limit: int = 0,
        chunk: int = DEFAULT_CHUNK,
        stall_s: float = DEFAULT_STALL_S,
    ) -> None:
        """`key_salt` joins every document key: settings that change the document the model
        reads from the same fields (the text cap) belong in it. Up to `late_limit` calls
        that missed the deadline finish in the background and fill the cache (0: cancel).
        Misses are scored `chunk` documents per model call, in window order; a deadline
        miss counts against the breaker only when no model call finished for `stall_s`."""
        self._scorer = scorer
        self._cache = cache
        self._breaker = breaker
        self._deadline_s = deadline_s
        self._prompt_version = prompt_version
        self._metrics = metrics
        self._key_salt = key_salt
        self._chunk = max(1, chunk)
        self._liveness = Liveness(stall_s)
        self._late = BackgroundCompletions(late_limit, max(LATE_SCORING_MAX_S, deadline_s))

    async def score(
        self,
        query: ScoringQuery,
        hits: list[dict[str, Any]],
        key_fields: Sequence[str],
        hydrator: HitHydrator,
        timer: StageTimer,
    ) -> WindowScores:
        """Scores for `hits` in order; `key_fields` are the source fields documents are
        built from (their values key the cache)."""
        with timer.stage("cache_get"):
            prefix = self._key_prefix(query)  # the query digest, once per request
            keys = [self._key(prefix, hit, key_fields) for hit in hits]
            found = await self._cache_get(keys)
        result = WindowScores(
            scores=list(found),
            cached=[v is not None for v in found],
            image_errors=[None] * len(hits),
        )
        self._metrics.cache_hits.inc(result.cache_hits)
        misses = [i for i, v in enumerate(found) if v is None]
        self._metrics.cache_misses.inc(len(misses))
        if not misses:
            return result
        with timer.stage("hydrate"):
            hydrated = await hydrator.hydrate([hits[i] for i in misses])
        for i, doc in zip(misses, hydrated, strict=True):
            result.image_errors[i] = doc.image_error
        self._metrics.image_errors.inc(sum(1 for d in hydrated if d.image_error))
        miss_keys = [keys[i] for i in misses]
        with timer.stage("score"):
            fresh, reason = await self._score_misses(query, hydrated, miss_keys)
        for i, value in zip(misses, fresh, strict=True):
            result.scores[i] = value
        result.settle(reason)
        with timer.stage("cache_set"):
            await self._cache_set(_cacheable(miss_keys, fresh, hydrated))
        return result

    @property
    def late(self) -> BackgroundCompletions:
        """The calls that missed their deadline and still run to fill the cache."""
        return self._late

    async def close(self) -> None:
        """Cancel the scoring still running in the background."""
        await self._late.close()

    async def _score_misses(
        self, query: ScoringQuery, hydrated: Sequence[HydratedLike], keys: list[str]
    ) -> tuple[list[float | None], str | None]:
        """Scores for the misses in order, as deep as deadline and queue allow (None past
        that), and why scoring stopped early (None: all scored). A hit with nothing to read
        scores 0."""
        positions = [i for i, d in enumerate(hydrated) if d.scorable]
        documents = [hydrated[i].document for i in positions]
        self._metrics.scored_pairs.observe(len(documents))
        unscored: list[float | None] = [None] * len(hydrated)
        if not documents:
            return [0.0] * len(hydrated), None
        if not self._breaker.allow():
            return unscored, "breaker_open"
        try:
            outcome = await score_in_order(
                self._scorer,
                query.query,
                documents,
                query.instruction,
                self._chunk,
                self._deadline_s,
                self._liveness,
            )
        except asyncio.CancelledError:
            self._breaker.abandon()  # the client went away: no verdict on the model
            raise
        self._record(outcome)
        for part, running in outcome.late:
            self._finish_late(running, [positions[i] for i in part], keys, hydrated)
        return _placed_prefix(positions, outcome, len(hydrated)), outcome.stopped

    def _record(self, outcome: OrderedOutcome) -> None:
        """Tell the breaker what the call says about the engine (faults only count)."""
        if outcome.verdict is Verdict.HEALTHY:
            self._breaker.record_success()
        elif outcome.verdict is Verdict.FAULT:
            self._breaker.record_failure()
            log.warning("model failed, serving OpenSearch order: %s", outcome.stopped)
        else:
            self._breaker.abandon()

    def _finish_late(
        self,
        scoring: asyncio.Future[list[float]],
        positions: list[int],
        keys: list[str],
        hydrated: Sequence[HydratedLike],
    ) -> None:
        """Cache what a chunk past the deadline computes, if the bound lets it run on."""

        chunk_keys = [keys[i] for i in positions]
        chunk_docs = [hydrated[i] for i in positions]

        async def fill_cache(values: list[float]) -> None:
            scores: list[float | None] = [float(value) for value in values]
            await self._cache_set(_cacheable(chunk_keys, scores, chunk_docs))

        if not self._late.adopt(scoring, fill_cache):
            log.info("late scoring bound reached, a deadline-missing call was cancelled")

    @property
    def model_id(self) -> str:
        return self._scorer.model_id

    @property
    def capabilities(self) -> ScorerCapabilities:
        return capabilities_of(self._scorer)

    def _key_prefix(self, query: ScoringQuery) -> str:
        scorer = self._scorer
        return query_key_prefix(
            scorer.model_id,
            scorer.revision,
            self._prompt_version,
            query.instruction,
            query.text,
            query.image_hash,
        )

    def _key(self, prefix: str, hit: dict[str, Any], fields: Sequence[str]) -> str:
        source = hit.get("_source") or {}
        return document_cache_key(prefix, document_key_hash(source, fields, self._key_salt))

    async def _cache_get(self, keys: list[str]) -> list[float | None]:
        if not keys:
            return []
        try:
            found = list(await self._cache.get_many(keys))
        except Exception as exc:  # the cache is an optimisation: never fail a search on it
            log.warning("score cache read failed, scoring without it: %r", exc)
            return [None] * len(keys)
        return found if len(found) == len(keys) else [None] * len(keys)

    async def _cache_set(self, values: dict[str, float]) -> None:
        if not values:
            return
        try:
            await self._cache.set_many(values)
        except Exception as exc:
            log.warning("score cache write failed: %r", exc)


def _placed_prefix(positions: list[int], outcome: OrderedOutcome, n: int) -> list[float | None]:
    """The outcome's scores (None past its depth) at their `positions` among `n` misses;
    the unscorable misses score 0."""
    scores: list[float | None] = [0.0] * n
    for position, value in zip(positions, outcome.scores, strict=True):
        scores[position] = value
    return scores


def _cacheable(
    keys: list[str], scores: list[float | None], hydrated: Sequence[HydratedLike]
) -> dict[str, float]:
    """What may be cached: not a score computed while an image failed transiently."""
    return {
        key: value
        for key, value, doc in zip(keys, scores, hydrated, strict=True)
        if value is not None and not _transient(doc.image_error)
    }


def _transient(image_error: str | None) -> bool:
    return image_error is not None and image_error.startswith(TRANSIENT_IMAGE_ERRORS)
