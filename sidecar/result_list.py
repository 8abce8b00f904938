"""The result list of a reranked search, page by page (the contract: sidecar/paging.py).

`WindowFetch` asks OpenSearch for the window (and the page, while it lies inside it), then
for the slice beyond the window a page needs; `page_of` turns the window the rules left
and that slice into the page's hits with the scores they show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from connectors.search import SearchBackend
from sidecar.paging import PagePlan, beyond_score, exact_total, non_increasing
from sidecar.query_extract import SearchRequest
from sidecar.response_shape import HitOutcome
from sidecar.source_filter import SOURCE_PARAMS
from sidecar.window_scoring import WindowScores

MAX_RESULT_WINDOW = 10_000  # OpenSearch's default index.max_result_window


@dataclass(slots=True)
class WindowOutcome:
    """The window after the rules: kept hits in list order (with which were pinned) and
    the hits the rules removed."""

    kept: list[HitOutcome]
    pinned: list[bool]
    removed: list[HitOutcome]


class WindowFetch:
    """The OpenSearch requests of one search: the window (and, while the page lies inside
    it, the page), then the slice beyond the window the page needs, when it needs one."""

    def __init__(
        self,
        search: SearchBackend,
        index: str,
        request: SearchRequest,
        headers: Mapping[str, str] | None,
    ) -> None:
        self._search = search
        self._index = index
        self._request = request
        self._headers = headers
        self._asked = 0

    async def first(self, window: int) -> dict[str, Any]:
        # One hit past the window: the list's best score when the rules keep nothing.
        request = self._request
        end = request.from_ + request.size if request.from_ < window else 0
        self._asked = max(window + 1, end)
        return await self._fetch(0, self._asked)

    async def beyond(
        self, fetched: list[dict[str, Any]], plan: PagePlan, upstream: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The hits at OpenSearch positions `plan.beyond`, fetching what the first
        request did not bring (nothing past OpenSearch's exact total)."""
        start, end = plan.beyond
        if end <= start:
            return []
        have = len(fetched)
        exhausted = have < self._asked  # OpenSearch had no more hits to give
        total = exact_total((upstream.get("hits") or {}).get("total"))
        if total is not None:
            end = min(end, total)
        # Past OpenSearch's default index.max_result_window a deep page ends short rather
        # than fail where OpenSearch itself would have answered.
        end = min(end, MAX_RESULT_WINDOW)
        missing_from = max(start, have)
        if end <= missing_from or exhausted:
            return fetched[start:end]
        more = await self._fetch(missing_from, end - missing_from)
        extra: list[dict[str, Any]] = list((more.get("hits") or {}).get("hits") or [])
        return fetched[start:missing_from] + extra

    async def _fetch(self, from_: int, size: int) -> dict[str, Any]:
        return await self._search.search(
            self._index,
            _window_body(self._request, from_, size),
            _window_params(self._request),
            self._headers,
        )


def _window_body(request: SearchRequest, from_: int, size: int) -> dict[str, Any]:
    """The client's search for OpenSearch positions [from_, from_ + size), with the whole
    `_source`: the reranker reads it; the client's filter is applied after."""
    body = dict(request.body)
    body.pop("_source", None)
    body["from"] = from_
    body["size"] = size
    return body


def scored_depth(scores: WindowScores, window_hits: int) -> int:
    """How many window hits the list treats as the window: all of them, unless only a
    prefix was scored (partial), which then acts as a window of that depth."""
    if scores.depth is None or scores.depth <= 0:
        return window_hits
    return min(scores.depth, window_hits)


def page_of(
    window: WindowOutcome,
    plan: PagePlan,
    beyond: list[dict[str, Any]],
    fetched: list[dict[str, Any]],
    degraded: bool,
    empty_floor: float,
) -> tuple[list[HitOutcome], float | None]:
    """The page's hits with the scores they show, and the list's max_score.

    Kept hits show non-increasing scores (pins clamped between their neighbours). Hits
    beyond the window keep OpenSearch's score when nothing was scored (degraded: the whole
    list is on OpenSearch's scale), else show it rescaled below the lowest kept score.
    """
    kept = window.kept
    shown = non_increasing([o.final_score or 0.0 for o in kept], window.pinned)
    start, end = plan.kept
    page = [
        replace(kept[i], final_score=shown[i], rules_score=kept[i].final_score)
        for i in range(start, end)
    ]
    floor = shown[-1] if shown else empty_floor
    reference = _opensearch_score(fetched[0]) if fetched else None
    n = len(window.kept) + len(window.removed)

    def beyond_outcome(hit: dict[str, Any]) -> HitOutcome:
        original = _opensearch_score(hit)
        score = original if degraded else beyond_score(original, floor, reference or 0.0)
        return HitOutcome(hit=hit, final_score=score, original_score=original, reranked=False)

    page.extend(beyond_outcome(hit) for hit in beyond)
    if shown:
        return page, shown[0]
    first_beyond = fetched[n] if len(fetched) > n else None
    return page, beyond_outcome(first_beyond).final_score if first_beyond else None


def _opensearch_score(hit: dict[str, Any]) -> float | None:
    score = hit.get("_score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        return float(score)
    return None


def _window_params(request: SearchRequest) -> dict[str, str]:
    # filter_path could strip the fields the reranker reads: applied to the final response.
    dropped = ("from", "size", "filter_path", *SOURCE_PARAMS)
    return {k: v for k, v in request.params.items() if k not in dropped}
