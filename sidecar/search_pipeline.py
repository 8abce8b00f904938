"""`POST /{index}/_search`, step by step (DESIGN §1).

parse -> normalize -> retrieve top-W -> cache get -> hydrate + score the misses (deadline,
breaker) -> cache set -> rules -> the page of the reranked list (sidecar/paging.py) ->
shape. The window W is fixed per index and every page, even one past W, computes the same
window, so every page of a query is cut from the same list: the window's kept hits, then
the hits beyond it in OpenSearch's order (fetched from OpenSearch at the positions the
rules' removals shift them to).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from connectors.errors import ImageFetchError
from connectors.search import SearchBackend
from lychee_engine.types import Query
from sidecar import step_aside
from sidecar.errors import InvalidRequest
from sidecar.filter_path import compile_filter_path
from sidecar.image_input import ImageResolver, is_url
from sidecar.metrics import Metrics, StageTimer
from sidecar.normalize import normalize_query
from sidecar.paging import plan_page
from sidecar.query_extract import SearchRequest, parse_search_request
from sidecar.response_shape import (
    HitOutcome,
    RerankReport,
    RerankStatus,
    removed_entry,
    shape_response,
    skipped_response,
)
from sidecar.result_list import WindowFetch, WindowOutcome, page_of, scored_depth
from sidecar.retrieval_query import normalize_clauses, normalize_query_string
from sidecar.rules import RulesStore, apply_rules_detailed
from sidecar.rules.types import RankedHit
from sidecar.settings import IndexConfig, Settings
from sidecar.source_filter import source_filter_of
from sidecar.window_scoring import HitHydrator, ScoringQuery, WindowScorer, WindowScores

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SearchResult:
    response: dict[str, Any]
    status: str  # ok | partial | degraded | skipped
    cacheable: bool = False  # the same request may get this response again (result cache)
    reason: str | None = None  # why skipped, degraded or partial (X-Rerank-Reason)


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
            request = self._for_retrieval(request, config)
        skip = self._skip_reason(request, config) if allow_rerank else "overloaded"
        if skip is not None:
            return await self._pass_through(index, request, skip, timer, headers)

        with timer.stage("normalize"):
            query_text = self._normalize(request.query_text)
        # What the model cannot judge passes through before it reaches the model or the
        # breaker (sidecar/step_aside.py); the model reads `decision.text`.
        capabilities = self._window_scorer.capabilities
        decision = step_aside.decide(
            query_text,
            bool(request.options.query_image),
            request.options.instruction or config.instruction,
            capabilities,
            capabilities.name or self._window_scorer.model_id,
        )
        if decision.skip:
            notes = {"detail": decision.detail, **decision.notes}
            return await self._pass_through(
                index, request, decision.reason or "", timer, headers, notes
            )
        source_filter = source_filter_of(request.body, request.params)  # applied to the page
        spec = request.params.get("filter_path")
        path_filter = compile_filter_path(spec) if spec else None  # a bad spec fails early
        fetch = WindowFetch(self._search, index, request, headers)
        with timer.stage("retrieve"):
            upstream = await fetch.first(window)
        hits: list[dict[str, Any]] = list((upstream.get("hits") or {}).get("hits") or [])
        top = hits[:window]
        query, query_image_error = await self._scoring_query(decision.text, request, config, timer)
        if query is None:
            scores = WindowScores.unscored(len(top), "query_image_error")
        else:
            scores = await self._score_window(query, top, index, timer)
        report = self._report(scores, timer)
        report.query_image_error = query_image_error
        report.notes.update(decision.notes)
        with timer.stage("rules"):
            depth = scored_depth(scores, len(top))
            window_hits = top[:depth]
            scored = scores if scores.depth is None else scores.prefix(depth)
            outcome = self._apply_rules(window_hits, scored, query_text, index)
        plan = plan_page(depth, len(outcome.kept), request.from_, request.size)
        with timer.stage("retrieve_beyond"):
            beyond = await fetch.beyond(hits, plan, upstream)
        with timer.stage("shape"):
            degraded = report.status == "degraded"
            page, max_score = page_of(outcome, plan, beyond, hits, degraded, self._floor(index))
            if request.options.explain:
                title = config.fields.title
                report.removed = [removed_entry(r, title) for r in outcome.removed]
            response = shape_response(
                upstream, page, max_score, len(outcome.removed), report, request.options.explain
            )
            if not source_filter.is_noop:
                page_hits = response["hits"]["hits"]
                response["hits"]["hits"] = [source_filter.apply(hit) for hit in page_hits]
            if path_filter is not None:  # last, as OpenSearch does
                response = path_filter.apply(response)
        self._metrics.child(self._metrics.rerank_outcomes, report.status, report.reason or "").inc()
        # Degraded, explained or image-failed answers describe this one request only (the
        # score cache keeps no text-only fallback scores either).
        cacheable = report.status == "ok" and not request.options.explain
        cacheable = cacheable and not query_image_error and not any(scores.image_errors)
        return SearchResult(response, report.status, cacheable, report.reason)

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

    def _skip_reason(self, request: SearchRequest, config: IndexConfig) -> str | None:
        # A page past the window is not skipped: it computes the same window as page 1 to
        # know where OpenSearch's order resumes (sidecar/paging.py).
        if request.skip_reason is not None:
            return request.skip_reason
        if not config.rerank:
            return "index_disabled"
        return None

    def _floor(self, index: str) -> float:
        """The beyond-window score ceiling when the rules kept nothing of the window: the
        threshold that removed it (or 1.0 when hides alone emptied it)."""
        threshold = self._rules.current().for_index(index).min_score
        return threshold if threshold > 0 else 1.0

    async def _pass_through(
        self,
        index: str,
        request: SearchRequest,
        reason: str,
        timer: StageTimer,
        headers: Mapping[str, str] | None,
        notes: dict[str, Any] | None = None,
    ) -> SearchResult:
        with timer.stage("retrieve"):
            upstream = await self._search.search(index, request.body, request.params, headers)
        self._metrics.child(self._metrics.rerank_outcomes, "skipped", reason).inc()
        report = RerankReport(
            "skipped",
            model=self._window_scorer.model_id,
            reason=reason,
            timings_ms=timer.timings_ms,
            notes=notes or {},
        )
        response = skipped_response(upstream, report, request.options.explain)
        return SearchResult(response, "skipped", reason=reason)

    def _for_retrieval(self, request: SearchRequest, config: IndexConfig) -> SearchRequest:
        """The request with its query text normalized for OpenSearch too (per index)."""
        if not config.normalize_retrieval:
            return request
        dictionary = self._settings.normalization_dictionary or None

        def normalize(text: str) -> str:
            return normalize_query(text, dictionary)

        body, params = request.body, request.params
        if "query" in body:
            body = {**body, "query": normalize_clauses(body["query"], normalize)}
        if params.get("q"):
            params = {**params, "q": normalize_query_string(params["q"], normalize)}
        return replace(request, body=body, params=params)

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
    ) -> WindowOutcome:
        # Partial (a scored prefix) is reranked; nothing scored is OpenSearch's order.
        partial = scores.depth is not None and scores.depth > 0
        degraded = scores.degraded_reason is not None and not partial
        ranked = [
            _ranked_hit(hit, score, degraded)
            for hit, score in zip(hits, scores.scores, strict=True)
        ]
        by_source = {id(r.source): i for i, r in enumerate(ranked)}
        result = apply_rules_detailed(ranked, query_text, index, self._rules.current(), degraded)

        def outcome(r: RankedHit) -> HitOutcome:
            i = by_source[id(r.source)]
            return HitOutcome(
                hit=hits[i],
                final_score=r.final_score,
                model_score=r.model_score,
                original_score=r.original_score,
                band=r.band,
                rules_fired=list(r.rules_fired),
                cached=scores.cached[i],
                image_error=scores.image_errors[i],
            )

        kept = [outcome(r) for r in result.kept]
        pinned = [r.doc_id in result.pinned for r in result.kept]
        return WindowOutcome(kept, pinned, [outcome(r) for r in result.removed])

    def _report(self, scores: WindowScores, timer: StageTimer) -> RerankReport:
        status: RerankStatus = "ok"
        if scores.depth is not None and scores.depth > 0:
            status = "partial"
        elif scores.degraded_reason:
            status = "degraded"
        return RerankReport(
            status=status,
            model=self._window_scorer.model_id,
            reason=scores.degraded_reason,
            cache_hits=scores.cache_hits,
            timings_ms=timer.timings_ms,
            depth=scores.depth if status == "partial" else None,
        )


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
