"""The evaluation's metrics, cross-checked against values computed by hand."""

import math

import pytest

from sidecar.eval.dataset import JudgedQuery
from sidecar.eval.metrics import compare_by_kind, per_query

QUERIES = [
    JudgedQuery("q1", "retro denim jacket", "style", {"a": 3, "b": 1, "c": 0}),
    JudgedQuery("q2", "beach wedding outfit", "scenario", {"d": 2}),
    JudgedQuery("q3", "waterproof backpack", "function", {"e": 1, "f": 2}),
    JudgedQuery("q4", "red mug", "style", {"g": 3}),
    JudgedQuery("q5", "no relevant product", "style", {"h": 0}),
]


def dcg(grades: list[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(grades))


def test_ndcg_matches_hand_computation() -> None:
    ranking = {"q1": ["a", "c", "b"], "q2": ["x", "d"], "q3": ["e", "f"], "q4": ["g"]}
    got = per_query(QUERIES, ranking, "ndcg@10")
    # q1: gains 3, 0, 1 at ranks 1-3; ideal 3, 1.
    assert got["q1"] == pytest.approx(dcg([3, 0, 1]) / dcg([3, 1]))
    assert got["q2"] == pytest.approx(dcg([0, 2]) / dcg([2]))
    assert got["q3"] == pytest.approx(dcg([1, 2]) / dcg([2, 1]))
    assert got["q4"] == pytest.approx(1.0)
    assert "q5" not in got  # no relevant product: NDCG undefined, query left out


def test_mrr_and_recall_match_hand_computation() -> None:
    ranking = {"q1": ["c", "b", "a"], "q2": ["x", "y", "d"], "q3": ["f"], "q4": []}
    mrr = per_query(QUERIES, ranking, "mrr@10")
    assert mrr == pytest.approx({"q1": 1 / 2, "q2": 1 / 3, "q3": 1.0, "q4": 0.0})
    recall = per_query(QUERIES, ranking, "recall@2")
    assert recall == pytest.approx({"q1": 1 / 2, "q2": 0.0, "q3": 1 / 2, "q4": 0.0})


def test_compare_by_kind_has_overall_row_and_paired_p_values() -> None:
    base = {"q1": ["c", "b", "a"], "q2": ["x", "d"], "q3": ["e", "f"], "q4": ["z", "g"]}
    better = {"q1": ["a", "b", "c"], "q2": ["d"], "q3": ["f", "e"], "q4": ["g"]}
    rows = compare_by_kind(QUERIES, ("bm25", base), ("rerank", better), window=50)
    kinds = [r.kind for r in rows]
    assert kinds == ["style", "overall"]  # scenario/function have one judged query each
    overall = rows[-1]
    assert overall.queries == 4
    assert overall.scores["rerank"]["ndcg@10"] == pytest.approx(1.0)
    expected_base = sum(per_query(QUERIES, base, "ndcg@10").values()) / 4
    assert overall.scores["bm25"]["ndcg@10"] == pytest.approx(expected_base)
    assert 0.0 <= overall.p_values["rerank"]["ndcg@10"] <= 1.0
    assert set(overall.scores["bm25"]) == {"ndcg@10", "ndcg@5", "mrr@10", "recall@50"}


def test_three_systems_compare_against_the_first_and_check_the_goals() -> None:
    from sidecar.eval.__main__ import goal_lines
    from sidecar.eval.report import table

    base = {"q1": ["c", "b", "a"], "q2": ["x", "d"], "q3": ["e", "f"], "q4": ["z", "g"]}
    model = {"q1": ["a", "b", "c"], "q2": ["d"], "q3": ["f", "e"], "q4": ["g"]}
    shipped = {"q1": ["a", "c"], "q2": ["d"], "q3": ["f", "e"], "q4": ["g"]}  # b removed
    rows = compare_by_kind(
        QUERIES, ("bm25", base), ("model", model), ("shipped", shipped), window=50
    )
    overall = rows[-1]
    assert set(overall.p_values) == {"model", "shipped"}
    assert overall.scores["shipped"]["ndcg@10"] < overall.scores["model"]["ndcg@10"]
    text = table(rows, ["bm25", "model", "shipped"])
    assert "| BM25 NDCG@10 | model only NDCG@10 | as shipped NDCG@10 |" in text
    assert "as shipped − BM25 | as shipped − model only" in text
    goals = goal_lines("sample-catalog", rows, ["bm25", "model", "shipped"])
    gain = overall.scores["shipped"]["ndcg@10"] - overall.scores["bm25"]["ndcg@10"]
    assert goals[0].endswith("NOT met") == (gain < 0.10)
    slack = overall.scores["model"]["ndcg@10"] - overall.scores["shipped"]["ndcg@10"]
    assert goals[1].endswith("NOT met") == (slack > 0.01)
    assert any("every query kind: met" in g for g in goals)
