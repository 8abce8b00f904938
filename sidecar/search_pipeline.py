"""`POST /{index}/_search`, step by step (DESIGN §1).

parse -> normalize -> retrieve top-W -> cache get -> hydrate + score the misses (deadline,
breaker) -> cache set -> rules -> shape and slice the page. The window W is fixed per
index, so every page of a query is cut from the same reranked list: page 2 continues
page 1. Hits beyond W (a page that straddles it) keep OpenSearch's order; a page that
starts beyond W is passed through untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.errors import ImageFetchError
from connectors.search import SearchBackend
from lychee_engine.types import Query
from sidecar.errors import InvalidRequest
from sidecar.filter_path import compile_filter_path
from sidecar.image_input import ImageResolver, is_url
from sidecar.metrics import Metrics, StageTimer
from sidecar.normalize import normalize_query
from sidecar.query_extract import SearchRequest, parse_search_request
from sidecar.response_shape import (
    HitOutcome,
    RerankReport,
    RerankStatus,
    shape_response,
    skipped_response,
)
from sidecar.rules import RulesStore, apply_rules
from sidecar.rules.types import RankedHit
from sidecar.settings import IndexConfig, Settings
from sidecar.source_filter import SOURCE_PARAMS, source_filter_of
from sidecar.window_scoring import HitHydrator, ScoringQuery, WindowScorer, WindowScores

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SearchResult:
    response: dict[str, Any]
    status: str  # ok | partial | degraded | skipped
    cacheable: bool = False  # the same request may get this response again (result cache)


class SearchPipeline:
    """Runs one search request through the reranker; one instance per app."""

    def __init__(
        self,
        settings: Settings,
        search: SearchBackend,
        window_scorer: WindowScorer,
        hydrator_for: Callable[[str], HitHydrator],
        images: ImageResolver,
        rules: RulesStore,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._search = search
        self._window_scorer = window_scorer
        self._hydrator_for = hydrator_for
        self._images = images
        self._rules = rules
        self._metrics = metrics

    async def run(
        self,
        index: str,
        body: dict[str, Any] | None,
        params: dict[str, str],
        allow_rerank: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> SearchResult:
        """Search `index` and rerank the window; `allow_rerank=False` passes through."""
        timer = StageTimer(self._metrics)
        with timer.stage("parse"):
            request = parse_search_request(body, params)
            config = self._settings.index(index)
            window = self._window(request, config)
        skip = self._skip_reason(request, config, window) if allow_rerank else "overloaded"
        if skip is not None:
            return await self._pass_through(index, request, skip, timer, headers)

        with timer.stage("normalize"):
            query_text = self._normalize(request.query_text)
        source_filter = source_filter_of(request.body, request.params)  # applied to the page
        spec = request.params.get("filter_path")
        path_filter = compile_filter_path(spec) if spec else None  # a bad spec fails early
        with timer.stage("retrieve"):
            upstream = await self._search.search(
                index, _window_body(request, window), _window_params(request), headers
            )
        hits: list[dict[str, Any]] = list((upstream.get("hits") or {}).get("hits") or [])
        top, rest = hits[:window], hits[window:]
        query, query_image_error = await self._scoring_query(query_text, request, config, timer)
        if query is None:
            scores = WindowScores.unscored(len(top), "query_image_error")
        else:
            scores = await self._score_window(query, top, index, timer)
        report_of = scores
        if scores.depth is not None:  # partial: rerank [0, depth), OpenSearch's order below
            top, rest = top[: scores.depth], top[scores.depth :] + rest
            scores = scores.prefix(scores.depth)
        with timer.stage("rules"):
            ranked = self._apply_rules(top, scores, query_text, index)
        with timer.stage("shape"):
            outcomes = ranked + [_beyond_window(hit) for hit in rest]
            report = self._report(report_of, timer)
            report.query_image_error = query_image_error
            response = shape_response(
                upstream, outcomes, request.from_, request.size, report, request.options.explain
            )
            if not source_filter.is_noop:
                page = response["hits"]["hits"]
                response["hits"]["hits"] = [source_filter.apply(hit) for hit in page]
            if path_filter is not None:  # last, as OpenSearch does
                response = path_filter.apply(response)
        self._metrics.child(self._metrics.rerank_outcomes, report.status, report.reason or "").inc()
        # Degraded, explained or image-failed answers describe this one request only (the
        # score cache keeps no text-only fallback scores either).
        cacheable = report.status == "ok" and not request.options.explain
        cacheable = cacheable and not query_image_error and not any(scores.image_errors)
        return SearchResult(response, report.status, cacheable)

    async def _score_window(
        self, query: ScoringQuery, hits: list[dict[str, Any]], index: str, timer: StageTimer
    ) -> WindowScores:
        """Score the window, each hit read with its own index's field mapping.

        A search over several indices (`/_search`, `a,b`, `prod*`) can return hits whose
        indices map fields differently; a hit's `_index` with its own entry in `indices`
        uses that, any other the config of the searched name (an alias, say). One group,
        the usual case, is one cache lookup and one model call.
        """
        groups: dict[str, list[int]] = {}
        for i, hit in enumerate(hits):
            own = hit.get("_index")
            name = own if isinstance(own, str) and own in self._settings.indices else index
            groups.setdefault(name, []).append(i)
        if len(groups) <= 1:
            return await self._score_group(query, hits, next(iter(groups), index), timer)
        names = list(groups)
        parts = await asyncio.gather(
            *(self._score_group(query, [hits[i] for i in groups[n]], n, timer) for n in names)
        )
        n = len(hits)
        merged = WindowScores([None] * n, [False] * n, [None] * n)
        for name, part in zip(names, parts, strict=True):
            for j, i in enumerate(groups[name]):
                merged.scores[i] = part.scores[j]
                merged.cached[i] = part.cached[j]
                merged.image_errors[i] = part.image_errors[j]
            merged.degraded_reason = merged.degraded_reason or part.degraded_reason
        merged.settle(merged.degraded_reason)
        return merged

    async def _score_group(
        self, query: ScoringQuery, hits: list[dict[str, Any]], name: str, timer: StageTimer
    ) -> WindowScores:
        config = self._settings.index(name)
        return await self._window_scorer.score(
            query, hits, _key_fields(config), self._hydrator_for(name), timer
        )

    def _window(self, request: SearchRequest, config: IndexConfig) -> int:
        limit = self._settings.limits.max_window
        asked = request.options.window
        if asked is not None and asked > limit:
            # Clamping silently would hand the caller a shallower rerank than asked for.
            raise InvalidRequest(f"ext.rerank.window is {asked}; limits.max_window is {limit}")
        return min(asked or config.window, limit)

    def _skip_reason(self, request: SearchRequest, config: IndexConfig, window: int) -> str | None:
        if request.skip_reason is not None:
            return request.skip_reason
        if not config.rerank:
            return "index_disabled"
        if request.from_ >= window:
            return "beyond_window"
        return None

    async def _pass_through(
        self,
        index: str,
        request: SearchRequest,
        reason: str,
        timer: StageTimer,
        headers: Mapping[str, str] | None,
    ) -> SearchResult:
        with timer.stage("retrieve"):
            upstream = await self._search.search(index, request.body, request.params, headers)
        self._metrics.child(self._metrics.rerank_outcomes, "skipped", reason).inc()
        report = RerankReport("skipped", reason=reason, timings_ms=timer.timings_ms)
        return SearchResult(skipped_response(upstream, report, request.options.explain), "skipped")

    def _normalize(self, text: str | None) -> str:
        if not text:
            return ""
        limit = self._settings.limits.max_query_chars
        if len(text) > limit:
            raise InvalidRequest(f"the query text is longer than {limit} characters")
        return normalize_query(text, self._settings.normalization_dictionary or None)

    async def _scoring_query(
        self, text: str, request: SearchRequest, config: IndexConfig, timer: StageTimer
    ) -> tuple[ScoringQuery | None, str | None]:
        """The query to score with, or None and why when there is nothing left to score.

        A query image URL that cannot be fetched fails open like a document image: the
        text alone is scored (error in the explain block). Malformed base64 is a 400.
        """
        image: bytes | None = None
        image_error: str | None = None
        if request.options.query_image:
            with timer.stage("query_image"):
                try:
                    image = await self._images.resolve(request.options.query_image)
                except ImageFetchError as exc:
                    if not is_url(request.options.query_image):
                        raise InvalidRequest(f"ext.rerank.query_image: {exc.describe()}") from None
                    image_error = exc.describe()
        if not text and image is None:
            return None, image_error
        instruction = (
            request.options.instruction or config.instruction or self._settings.default_instruction
        )
        query = ScoringQuery(
            query=Query(text=text or None, image=image),
            text=text,
            image_hash=hashlib.sha256(image).hexdigest() if image else "",
            instruction=instruction,
        )
        return query, image_error

    def _apply_rules(
        self, hits: list[dict[str, Any]], scores: WindowScores, query_text: str, index: str
    ) -> list[HitOutcome]:
        degraded = scores.degraded_reason is not None
        ranked = [
            _ranked_hit(hit, score, degraded)
            for hit, score in zip(hits, scores.scores, strict=True)
        ]
        by_source = {id(r.source): i for i, r in enumerate(ranked)}
        result = apply_rules(ranked, query_text, index, self._rules.current(), degraded)
        outcomes = []
        for r in result:
            i = by_source[id(r.source)]
            outcomes.append(
                HitOutcome(
                    hit=hits[i],
                    final_score=r.final_score,
                    model_score=r.model_score,
                    original_score=r.original_score,
                    band=r.band,
                    rules_fired=list(r.rules_fired),
                    cached=scores.cached[i],
                    image_error=scores.image_errors[i],
                )
            )
        return outcomes

    def _report(self, scores: WindowScores, timer: StageTimer) -> RerankReport:
        status: RerankStatus = "partial" if scores.depth is not None else "ok"
        return RerankReport(
            status="degraded" if scores.degraded_reason and status == "ok" else status,
            model=self._window_scorer.model_id,
            reason=scores.degraded_reason,
            depth=scores.depth,
            cache_hits=scores.cache_hits,
            timings_ms=timer.timings_ms,
        )


def _window_body(request: SearchRequest, window: int) -> dict[str, Any]:
    """Ask OpenSearch for the whole window from the top (at least through the page), with
    the whole `_source`: the reranker reads it; the client's filter is applied after."""
    body = dict(request.body)
    body.pop("_source", None)
    body["from"] = 0
    body["size"] = max(window, request.from_ + request.size)
    return body


def _window_params(request: SearchRequest) -> dict[str, str]:
    # filter_path could strip the fields the reranker reads: applied to the final response.
    dropped = ("from", "size", "filter_path", *SOURCE_PARAMS)
    return {k: v for k, v in request.params.items() if k not in dropped}


def _key_fields(config: IndexConfig) -> list[str]:
    fields = config.fields
    return [fields.title, *fields.selling_points, *fields.image_fields]


def _ranked_hit(hit: dict[str, Any], score: float | None, degraded: bool) -> RankedHit:
    original = hit.get("_score")
    original_score = float(original) if isinstance(original, int | float) else None
    initial = score if (score is not None and not degraded) else (original_score or 0.0)
    return RankedHit(
        doc_id=str(hit.get("_id", "")),
        # A fresh dict per hit: the rules see `_source`, and its identity maps them back.
        source=dict(hit.get("_source") or {}),
        model_score=score,
        original_score=original_score,
        final_score=initial,
    )


def _beyond_window(hit: dict[str, Any]) -> HitOutcome:
    score = hit.get("_score")
    return HitOutcome(
        hit=hit,
        final_score=float(score) if isinstance(score, int | float) else None,
        original_score=float(score) if isinstance(score, int | float) else None,
        reranked=False,
    )
