"""The paging contract of a reranked search (README "Paging").

The result list of a search is the window's kept hits (what the rules left, best first),
followed by the hits beyond the window in OpenSearch's order. With `n` window hits of
which the rules removed `removed` (so `kept = n - removed`), list position `p` is:

    p <  kept  ->  the p-th kept window hit
    p >= kept  ->  OpenSearch position n + (p - kept)

Every page computes the same window (the score and result caches make that cheap), so
every page agrees on `kept` and `removed`: pages never overlap or leave holes, and
`hits.total` (OpenSearch's total minus `removed`) is the same on every page.

Scores never rise down the list: a pinned hit shows a score clamped between its
neighbours, and a hit beyond the window shows its OpenSearch score rescaled into
(0, floor/2], `floor` being the lowest kept score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PagePlan:
    """Which part of the result list a page `[from_, from_ + size)` shows."""

    kept: tuple[int, int]  # [start, end) into the kept window hits
    beyond: tuple[int, int]  # [start, end) OpenSearch positions of the hits beyond the window

    @property
    def beyond_count(self) -> int:
        return self.beyond[1] - self.beyond[0]


def plan_page(window_hits: int, kept: int, from_: int, size: int) -> PagePlan:
    """The kept-hit slice and the OpenSearch slice of one page (see the module docstring)."""
    if not 0 <= kept <= window_hits:
        raise ValueError(f"kept ({kept}) must lie in [0, {window_hits}]")
    end = from_ + size
    kept_slice = (min(from_, kept), min(end, kept))
    first_beyond = window_hits + max(0, from_ - kept)
    last_beyond = window_hits + max(0, end - kept)
    return PagePlan(kept_slice, (first_beyond, last_beyond))


def adjust_total(total: Any, removed: int) -> Any:
    """`hits.total` with the hits the rules removed taken out.

    An exact total (relation `eq`, or the plain int of `rest_total_hits_as_int`) loses
    `removed`; a lower bound (relation `gte`, beyond `track_total_hits`) is kept as
    OpenSearch said it: the true count is unknown, and it still bounds the list from below
    as long as the list is longer than the bound. Absent (track_total_hits false): absent.
    """
    exact = exact_total(total)
    if removed <= 0 or exact is None:
        return total
    adjusted = max(0, exact - removed)
    return {**total, "value": adjusted} if isinstance(total, dict) else adjusted


def exact_total(total: Any) -> int | None:
    """The number of hits OpenSearch matched, when it said so exactly."""
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    if isinstance(total, dict) and total.get("relation", "eq") == "eq":
        value = total.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def non_increasing(scores: Sequence[float], pinned: Sequence[bool]) -> list[float]:
    """Scores to show for the kept hits, in list order, never rising.

    Unpinned hits are sorted best first already; a pinned hit sits where a merchandiser
    put it, so it shows its own score clamped between the score shown above it and the
    score of the next unpinned hit below it.
    """
    n = len(scores)
    below: list[float] = [0.0] * n  # the next unpinned score below each position
    nearest = 0.0
    for i in range(n - 1, -1, -1):
        below[i] = nearest
        if not pinned[i]:
            nearest = scores[i]
    shown: list[float] = []
    above = float("inf")
    for i, score in enumerate(scores):
        value = min(max(score, below[i]) if pinned[i] else score, above)
        shown.append(value)
        above = value
    return shown


def beyond_score(opensearch_score: Any, floor: float, reference: float) -> float | None:
    """A beyond-window hit's shown score: its OpenSearch score mapped into (0, floor/2].

    `reference` is the window's best OpenSearch score, the same on every page; OpenSearch
    scores beyond the window are at most that, so the map s -> floor * s / (s + reference)
    is monotone and stays below the lowest kept score on every page alike.
    """
    if not isinstance(opensearch_score, int | float) or isinstance(opensearch_score, bool):
        return None
    score = max(float(opensearch_score), 0.0)
    ref = reference if reference > 0 else 1.0
    return floor * score / (score + ref)
