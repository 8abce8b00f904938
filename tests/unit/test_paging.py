"""The paging math: list positions to window hits and OpenSearch positions, shown scores."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.paging import (
    adjust_total,
    beyond_score,
    exact_total,
    non_increasing,
    plan_page,
)
from sidecar.query_extract import parse_search_request
from sidecar.result_list import MAX_RESULT_WINDOW, WindowFetch


def test_a_page_inside_the_kept_hits_needs_nothing_beyond() -> None:
    plan = plan_page(window_hits=50, kept=30, from_=10, size=10)
    assert (plan.kept, plan.beyond_count) == ((10, 20), 0)


def test_a_straddling_page_continues_at_the_window_end() -> None:
    plan = plan_page(window_hits=50, kept=30, from_=25, size=10)
    assert plan.kept == (25, 30)
    assert plan.beyond == (50, 55)


def test_a_page_past_the_kept_hits_is_shifted_by_the_removed_ones() -> None:
    plan = plan_page(window_hits=50, kept=3, from_=10, size=10)
    assert plan.kept == (3, 3)
    assert plan.beyond == (57, 67)  # list position 10 is OpenSearch position 50 + 7


def test_kept_must_fit_the_window() -> None:
    with pytest.raises(ValueError, match="kept"):
        plan_page(window_hits=5, kept=6, from_=0, size=10)


@given(
    total=st.integers(0, 300),
    window=st.integers(1, 60),
    removed_share=st.floats(0, 1),
    size=st.integers(1, 25),
)
def test_pages_tile_the_list_without_gaps_or_overlap(
    total: int, window: int, removed_share: float, size: int
) -> None:
    window_hits = min(window, total)
    kept = window_hits - int(window_hits * removed_share)
    length = total - (window_hits - kept)  # the list: kept hits, then OpenSearch's rest
    seen: list[tuple[str, int]] = []
    for from_ in range(0, length, size):
        plan = plan_page(window_hits, kept, from_, size)
        page = [("kept", i) for i in range(*plan.kept)]
        page += [("os", p) for p in range(plan.beyond[0], min(plan.beyond[1], total))]
        assert page, "no empty page while from < total"
        assert len(page) == min(size, length - from_)
        seen.extend(page)
    assert len(seen) == len(set(seen)) == length
    assert [p for kind, p in seen if kind == "os"] == list(range(window_hits, total))


def test_totals() -> None:
    assert adjust_total({"value": 62, "relation": "eq"}, 10) == {"value": 52, "relation": "eq"}
    assert adjust_total({"value": 10000, "relation": "gte"}, 10) == {
        "value": 10000,
        "relation": "gte",
    }
    assert adjust_total(62, 10) == 52
    assert adjust_total(None, 3) is None
    assert adjust_total({"value": 62, "relation": "eq"}, 0) == {"value": 62, "relation": "eq"}
    assert exact_total({"value": 7, "relation": "eq"}) == 7
    assert exact_total({"value": 7, "relation": "gte"}) is None
    assert exact_total(7) == 7
    assert exact_total(None) is None


def test_pinned_hits_are_clamped_between_their_neighbours() -> None:
    # a pin at the top with a low score, a pin further down with a high one
    scores = [0.2, 0.9, 0.8, 0.95, 0.5]
    pinned = [True, False, False, True, False]
    assert non_increasing(scores, pinned) == [0.9, 0.9, 0.8, 0.8, 0.5]


def test_unpinned_scores_are_shown_as_they_are() -> None:
    assert non_increasing([0.9, 0.7, 0.7, 0.1], [False] * 4) == [0.9, 0.7, 0.7, 0.1]
    assert non_increasing([], []) == []


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=30))
def test_shown_scores_never_rise(items: list[tuple[float, bool]]) -> None:
    unpinned = sorted((s for s, p in items if not p), reverse=True)
    it = iter(unpinned)
    scores = [s if p else next(it) for s, p in items]
    shown = non_increasing(scores, [p for _, p in items])
    assert all(a >= b for a, b in itertools.pairwise(shown))


def test_beyond_scores_stay_below_half_the_floor_and_keep_order() -> None:
    floor, best = 0.42, 12.0
    shown = [beyond_score(s, floor, best) for s in (12.0, 7.5, 7.5, 0.3, 0.0)]
    assert shown[0] == pytest.approx(0.21)
    assert all(v is not None and 0 <= v <= floor / 2 for v in shown)
    assert shown == sorted(shown, reverse=True)  # type: ignore[type-var]
    assert beyond_score(None, floor, best) is None
    assert beyond_score(3.0, floor, 0.0) == pytest.approx(floor * 3 / 4)


class _Search:
    """OpenSearch with `n` hits; records the (from, size) of every request."""

    def __init__(self, n: int, relation: str = "eq") -> None:
        self.n, self.relation = n, relation
        self.asked: list[tuple[int, int]] = []

    async def search(
        self, index: str | None, body: dict[str, Any], params: Any = None, headers: Any = None
    ) -> dict[str, Any]:
        start, size = body["from"], body["size"]
        self.asked.append((start, size))
        hits = [
            {"_id": str(i), "_score": 100.0 - i} for i in range(start, min(self.n, start + size))
        ]
        total = {"value": self.n, "relation": self.relation}
        return {"hits": {"total": total, "hits": hits}}

    async def close(self) -> None:
        return None


async def _fetch(search: _Search, window: int, kept: int, from_: int, size: int) -> list[str]:
    request = parse_search_request(
        {"query": {"match": {"t": "x"}}, "from": from_, "size": size}, {}
    )
    fetch = WindowFetch(search, "i", request, None)
    upstream = await fetch.first(window)
    hits = upstream["hits"]["hits"]
    plan = plan_page(min(window, len(hits)), kept, from_, size)
    return [hit["_id"] for hit in await fetch.beyond(hits, plan, upstream)]


async def test_a_page_inside_the_window_is_one_request() -> None:
    search = _Search(100)
    assert await _fetch(search, window=20, kept=20, from_=10, size=10) == []
    assert search.asked == [(0, 21)]


async def test_a_page_past_the_window_asks_for_its_shifted_slice() -> None:
    search = _Search(100)
    ids = await _fetch(search, window=20, kept=15, from_=30, size=10)
    assert ids == [str(i) for i in range(35, 45)]
    assert search.asked == [(0, 21), (35, 10)]


async def test_the_slice_stops_at_the_exact_total_and_at_max_result_window() -> None:
    search = _Search(40)
    assert await _fetch(search, window=20, kept=10, from_=25, size=10) == [
        "35",
        "36",
        "37",
        "38",
        "39",
    ]
    assert search.asked[-1] == (35, 5)
    deep = _Search(20_000, relation="gte")
    ids = await _fetch(deep, window=20, kept=10, from_=9_985, size=10)  # past 10,000
    assert deep.asked[-1] == (9_995, MAX_RESULT_WINDOW - 9_995)
    assert len(ids) == 5
