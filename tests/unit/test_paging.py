"""The paging math: list positions to window hits and OpenSearch positions, shown scores."""

from __future__ import annotations

import itertools

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
