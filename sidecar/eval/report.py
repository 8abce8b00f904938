"""The evaluation report: a console table, Markdown, a bar chart per query kind, wins/losses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sidecar.eval.metrics import KindResult
from sidecar.eval.runner import SystemRun


@dataclass(frozen=True, slots=True)
class QueryDelta:
    qid: str
    text: str
    kind: str
    baseline: float
    candidate: float

    @property
    def delta(self) -> float:
        return self.candidate - self.baseline


def lift(base: float, cand: float) -> str:
    return f"{(cand - base) / base * 100:+.1f}%" if base > 0 else "n/a"


def table(rows: list[KindResult], baseline: str, candidate: str) -> str:
    """kind | BM25 NDCG@10 | rerank NDCG@10 | lift % (plus query count and p-value)."""
    lines = [
        "| kind | queries | BM25 NDCG@10 | rerank NDCG@10 | lift % | p (t-test) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        b, c = r.scores[baseline]["ndcg@10"], r.scores[candidate]["ndcg@10"]
        lines.append(
            f"| {r.kind} | {r.queries} | {b:.4f} | {c:.4f} | {lift(b, c)} "
            f"| {r.p_values['ndcg@10']:.4f} |"
        )
    return "\n".join(lines)


def metrics_table(overall: KindResult) -> str:
    names = list(next(iter(overall.scores.values())))
    lines = ["| system | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for system, scores in overall.scores.items():
        lines.append(f"| {system} | " + " | ".join(f"{scores[m]:.4f}" for m in names) + " |")
    lines.append("| p (paired t-test) | " + " | ".join(f"{overall.p_values[m]:.4f}" for m in names))
    return "\n".join(lines) + " |"


def latency_line(run: SystemRun) -> str:
    values = np.array(list(run.latency_ms.values()) or [0.0])
    hit_rate = run.cache_hits / run.scored_docs if run.scored_docs else 0.0
    return (
        f"| {run.name} | {np.percentile(values, 50):.1f} | {np.percentile(values, 95):.1f} "
        f"| {hit_rate:.1%} | {run.degraded} |"
    )


def bar_chart(rows: list[KindResult], baseline: str, candidate: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [r.kind for r in rows]
    x = np.arange(len(kinds))
    fig, ax = plt.subplots(figsize=(max(6, len(kinds) * 1.4), 4))
    ax.bar(x - 0.2, [r.scores[baseline]["ndcg@10"] for r in rows], 0.4, label="BM25")
    ax.bar(x + 0.2, [r.scores[candidate]["ndcg@10"] for r in rows], 0.4, label="rerank")
    ax.set_xticks(x, kinds)
    ax.set_ylabel("NDCG@10")
    ax.set_ylim(0, 1)
    ax.set_title("NDCG@10 per query kind")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    out_dir: Path,
    title: str,
    rows: list[KindResult],
    runs: tuple[SystemRun, SystemRun],
    deltas: list[QueryDelta],
    settings_line: str,
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    base, cand = runs
    bar_chart(rows, base.name, cand.name, out_dir / "ndcg_by_kind.png")
    ordered = sorted(deltas, key=lambda d: d.delta)
    wins = [d for d in reversed(ordered) if d.delta > 1e-9][:10]
    losses = [d for d in ordered if d.delta < -1e-9][:10]

    def qlines(items: list[QueryDelta]) -> str:
        head = "| query | kind | BM25 | rerank | Δ |\n|---|---|---|---|---|\n"
        body = "\n".join(
            f"| {d.text} | {d.kind} | {d.baseline:.3f} | {d.candidate:.3f} | {d.delta:+.3f} |"
            for d in items
        )
        return head + (body or "| (none) | | | | |")

    md = f"""# {title}

{settings_line}

## NDCG@10 by query kind

{table(rows, base.name, cand.name)}

![NDCG@10 per query kind](ndcg_by_kind.png)

## All metrics, overall

{metrics_table(rows[-1])}

## Latency per query and cache

| system | p50 ms | p95 ms | cache hit rate | degraded |
|---|---|---|---|---|
{latency_line(base)}
{latency_line(cand)}

## Biggest wins (NDCG@10)

{qlines(wins)}

## Biggest losses (NDCG@10)

{qlines(losses)}
"""
    path = out_dir / "report.md"
    path.write_text(md, encoding="utf-8")
    return path
