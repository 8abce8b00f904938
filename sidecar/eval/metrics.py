"""Ranking metrics with ranx: per query, per query kind and overall, with a paired t-test."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from sidecar.eval.dataset import JudgedQuery

Ranking = dict[str, list[str]]  # qid -> product ids, best first


@dataclass(frozen=True, slots=True)
class KindResult:
    kind: str
    queries: int
    scores: dict[str, dict[str, float]]  # system -> metric -> mean
    # candidate system -> metric -> paired t-test p-value against the baseline (first system)
    p_values: dict[str, dict[str, float]]


def metric_names(window: int) -> list[str]:
    return ["ndcg@10", "ndcg@5", "mrr@10", f"recall@{window}"]


def _to_ranx(queries: list[JudgedQuery], ranking: Ranking, name: str) -> tuple[Any, Any]:
    from ranx import Qrels, Run

    qrels = Qrels({q.qid: {d: g for d, g in q.judgments.items() if g > 0} for q in queries})
    # ranx wants scores; a strictly decreasing score per rank keeps the given order.
    run = Run(
        {
            q.qid: {d: float(len(ids) - i) for i, d in enumerate(ids)} or {"__none__": 0.0}
            for q in queries
            for ids in [ranking.get(q.qid, [])]
        },
        name=name,
    )
    return qrels, run


def judged(queries: list[JudgedQuery]) -> list[JudgedQuery]:
    """Queries with at least one relevant product: the others have no defined NDCG."""
    return [q for q in queries if any(g > 0 for g in q.judgments.values())]


def per_query(queries: list[JudgedQuery], ranking: Ranking, metric: str) -> dict[str, float]:
    from ranx import evaluate

    qs = judged(queries)
    qrels, run = _to_ranx(qs, ranking, "run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = evaluate(qrels, run, metric, return_mean=False)
    return {q.qid: float(v) for q, v in zip(sorted(qs, key=lambda q: q.qid), values, strict=True)}


def compare_kind(
    kind: str,
    queries: list[JudgedQuery],
    systems: list[tuple[str, Ranking]],
    window: int,
) -> KindResult:
    """Mean metrics of every system; p-values of each later system against the first."""
    from ranx import compare

    qs = judged(queries)
    metrics = metric_names(window)
    runs = []
    for name, ranking in systems:
        qrels, run = _to_ranx(qs, ranking, name)
        runs.append(run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = compare(qrels, runs, metrics, stat_test="student").to_dict()
    base = systems[0][0]
    scores = {name: dict(report[name]["scores"]) for name, _ in systems}
    p_values = {
        name: {m: float(report[base]["comparisons"][name][m]) for m in metrics}
        for name, _ in systems[1:]
    }
    return KindResult(kind, len(qs), scores, p_values)


def compare_by_kind(
    queries: list[JudgedQuery],
    baseline: tuple[str, Ranking],
    *candidates: tuple[str, Ranking],
    window: int,
) -> list[KindResult]:
    """One result per query kind (with at least two judged queries) and an `overall` row."""
    systems = [baseline, *candidates]
    kinds = sorted({q.kind for q in judged(queries)})
    rows = []
    for kind in kinds:
        subset = [q for q in queries if q.kind == kind]
        if len(judged(subset)) >= 2:  # a paired test needs pairs
            rows.append(compare_kind(kind, subset, systems, window))
    rows.append(compare_kind("overall", queries, systems, window))
    return rows
