"""The evaluation report: a console table, Markdown, a bar chart per query kind, wins/losses.

Systems are compared left to right; the first is the baseline (BM25) and the last is the
headline (the product as shipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sidecar.eval.metrics import KindResult
from sidecar.eval.runner import SystemRun

LABELS = {"bm25": "BM25", "model": "model only", "shipped": "as shipped", "rerank": "rerank"}


def label(system: str) -> str:
    return LABELS.get(system, system)


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


def table(rows: list[KindResult], systems: list[str]) -> str:
    """kind | queries | NDCG@10 per system | last - first (and last - second) | p-value."""
    first, last = systems[0], systems[-1]
    deltas = [first] + ([systems[1]] if len(systems) > 2 else [])
    head = ["kind", "queries", *(f"{label(s)} NDCG@10" for s in systems)]
    head += [f"{label(last)} − {label(d)}" for d in deltas]
    head += [f"lift vs {label(first)}", f"p ({label(last)} vs {label(first)})"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        values = [r.scores[s]["ndcg@10"] for s in systems]
        cells = [r.kind, str(r.queries), *(f"{v:.4f}" for v in values)]
        cells += [f"{values[-1] - r.scores[d]['ndcg@10']:+.4f}" for d in deltas]
        cells += [lift(values[0], values[-1]), f"{r.p_values[last]['ndcg@10']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_table(overall: KindResult) -> str:
    names = list(next(iter(overall.scores.values())))
    lines = ["| system | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for system, scores in overall.scores.items():
        lines.append(f"| {label(system)} | " + " | ".join(f"{scores[m]:.4f}" for m in names) + " |")
    base = next(iter(overall.scores))
    for system, p in overall.p_values.items():
        cells = " | ".join(f"{p[m]:.4f}" for m in names)
        lines.append(f"| p ({label(system)} vs {label(base)}, paired t-test) | {cells} |")
    return "\n".join(lines)


def latency_line(run: SystemRun) -> str:
    values = np.array(list(run.latency_ms.values()) or [0.0])
    per_query = max(len(run.latency_ms), 1)  # one latency per query run
    return (
        f"| {label(run.name)} | {np.percentile(values, 50):.1f} | {np.percentile(values, 95):.1f} "
        f"| {run.cache_hits / per_query:.1f} | {run.hits / per_query:.1f} | {run.degraded} "
        f"| {run.skipped} |"
    )


def bar_chart(rows: list[KindResult], systems: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [r.kind for r in rows]
    x = np.arange(len(kinds))
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(max(6, len(kinds) * 1.6), 4))
    for i, system in enumerate(systems):
        offset = (i - (len(systems) - 1) / 2) * width
        ax.bar(x + offset, [r.scores[system]["ndcg@10"] for r in rows], width, label=label(system))
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
    runs: list[SystemRun],
    deltas: list[QueryDelta],
    settings_line: str,
    extra: str = "",
) -> Path:
    """report.md and ndcg_by_kind.png; wins/losses compare the last system with the first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    systems = [run.name for run in runs]
    bar_chart(rows, systems, out_dir / "ndcg_by_kind.png")
    ordered = sorted(deltas, key=lambda d: d.delta)
    wins = [d for d in reversed(ordered) if d.delta > 1e-9][:10]
    losses = [d for d in ordered if d.delta < -1e-9][:10]
    first, last = label(systems[0]), label(systems[-1])

    def qlines(items: list[QueryDelta]) -> str:
        head = f"| query | kind | {first} | {last} | Δ |\n|---|---|---|---|---|\n"
        body = "\n".join(
            f"| {d.text} | {d.kind} | {d.baseline:.3f} | {d.candidate:.3f} | {d.delta:+.3f} |"
            for d in items
        )
        return head + (body or "| (none) | | | | |")

    latency = "\n".join(latency_line(run) for run in runs)
    md = f"""# {title}

{settings_line}

## NDCG@10 by query kind

{table(rows, systems)}

![NDCG@10 per query kind](ndcg_by_kind.png)
{extra}
## All metrics, overall

{metrics_table(rows[-1])}

## Latency per query, cache and hits returned

| system | p50 ms | p95 ms | score-cache hits per query | hits per query | degraded | skipped |
|---|---|---|---|---|---|---|
{latency}

## Biggest wins of {last} over {first} (NDCG@10)

{qlines(wins)}

## Biggest losses of {last} against {first} (NDCG@10)

{qlines(losses)}
"""
    path = out_dir / "report.md"
    path.write_text(md, encoding="utf-8")
    return path
