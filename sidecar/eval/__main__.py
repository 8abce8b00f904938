"""`python -m sidecar.eval`: BM25, model only and as shipped, NDCG@10 per query kind.

Three systems answer every judged query, each through real HTTP against a real OpenSearch:
- `bm25`: the storefront's search sent straight to OpenSearch;
- `model`: through an in-process sidecar with neutral rules (no threshold, blend or boost):
  the reranker's own order over the window;
- `shipped`: through an in-process sidecar configured as `make run` ships it
  (`config/sidecar.yaml`, `config/rules.example.yaml`): threshold, blend, boosts, pins and
  hides all apply. Hits the rules remove are gone from its ranking (not retrieved), as a
  storefront would see them.
Only the model deadline is raised (`--deadline-ms`): the eval measures relevance, and a
loaded machine must not turn a slow answer into a degraded one (degraded counts are
reported anyway).

Datasets: `sample` (the generated catalog, 48 judged queries) and `homedepot` (the held-out
20% of Home Depot's search terms, the split `make calibrate` never fits on; each query
searches only its judged products, see `loaders.load_homedepot`), or TREC/ESCI/WANDS from
local files. Each dataset's report goes to `<out>/<dataset>/report.md`.
Give --opensearch-url / --sidecar-url to evaluate services that already run (a given
sidecar is evaluated as the `shipped` system, with no model-only column).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from connectors.score_cache import LruScoreCache
from sidecar.dev_services import opensearch_node
from sidecar.eval import loaders, stack
from sidecar.eval.dataset import JudgedDataset
from sidecar.eval.metrics import KindResult, compare_by_kind, per_query
from sidecar.eval.report import QueryDelta, label, table, write_report
from sidecar.eval.runner import SystemRun, index_products, run_system
from sidecar.settings import CacheSettings, EngineSettings, IndexConfig, Settings

SHIPPED_CONFIG = Path("config/sidecar.yaml")
SHIPPED_RULES = Path("config/rules.example.yaml")
STOREFRONT_INDEX = "products"  # the index `make run` serves; its settings apply to the eval's
SAMPLE_GAIN = 0.10  # goal: as shipped >= BM25 + 0.10 NDCG@10 on the sample catalog
MODEL_SLACK = 0.01  # goal: as shipped >= model only - 0.01


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sidecar.eval", description=__doc__)
    p.add_argument(
        "--dataset",
        nargs="+",
        choices=["sample", "homedepot", "trec", "esci", "wands"],
        default=["sample"],
    )
    p.add_argument("--data", type=Path, default=Path("data/catalog"), help="sample/WANDS dir")
    p.add_argument("--homedepot", type=Path, help="train.csv.zip (default ../shared/data/...)")
    p.add_argument("--trec", nargs=3, type=Path, metavar=("CORPUS", "TOPICS", "QRELS"))
    p.add_argument("--esci", nargs=2, type=Path, metavar=("EXAMPLES", "PRODUCTS"))
    p.add_argument("--max-queries", type=int, help="first N queries of each dataset")
    p.add_argument("--index", default="eval-products")
    p.add_argument("--window", type=int, default=50, help="hits asked of each system")
    p.add_argument("--model", default="minilm", help="engine spec for the in-process sidecars")
    p.add_argument("--config", type=Path, default=SHIPPED_CONFIG, help="shipped sidecar YAML")
    p.add_argument("--rules", type=Path, default=SHIPPED_RULES, help="shipped rules file")
    p.add_argument("--deadline-ms", type=int, default=120_000)
    p.add_argument("--opensearch-url")
    p.add_argument("--sidecar-url")
    p.add_argument("--out", type=Path, default=Path("reports/eval"))
    return p


def load_dataset(name: str, args: argparse.Namespace) -> JudgedDataset:
    limit = args.max_queries
    if name == "trec":
        return loaders.load_trec(*args.trec)
    if name == "esci":
        examples, products = args.esci
        return loaders.load_esci(examples, products, max_queries=limit or 200)
    if name == "wands":
        return loaders.load_wands(args.data, max_queries=limit or 480)
    if name == "homedepot":
        return loaders.load_homedepot(args.homedepot, max_queries=limit)
    from sidecar.sample_catalog import generate_catalog

    generate_catalog(args.data)
    dataset = loaders.load_sample_catalog(args.data)
    dataset.queries = dataset.queries[:limit] if limit else dataset.queries
    return dataset


def neutral_rules(tmp: Path) -> str:
    """Rules that keep every reranked hit, so the evaluation measures the model alone."""
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump({"min_score": 0.0, "boosts": []}), encoding="utf-8")
    return str(path)


def shipped_settings(args: argparse.Namespace, os_url: str, rules: str) -> Settings:
    """`config/sidecar.yaml` as `make run` loads it, pointed at the eval's node and index."""
    if not args.config.is_file():
        raise SystemExit(f"{args.config} not found: run from the repository root or --config")
    data: dict[str, Any] = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
    indices = dict(data.get("indices") or {})
    storefront = indices.get(STOREFRONT_INDEX, {})
    indices[args.index] = {**storefront, "window": max(args.window, storefront.get("window", 0))}
    data.update(
        opensearch_url=os_url,
        rules_path=rules,
        model_deadline_ms=args.deadline_ms,
        indices={k: IndexConfig.model_validate(v) for k, v in indices.items()},
        engine=EngineSettings.model_validate({**(data.get("engine") or {}), "model": args.model}),
        cache=CacheSettings(redis_url=None),  # scores shared in-process (`evaluate`)
    )
    images = dict(data.get("images") or {})
    images.setdefault("local_root", str(args.data.resolve()))
    data["images"] = images
    return Settings(**data)


def goal_lines(dataset: str, rows: list[KindResult], systems: list[str]) -> list[str]:
    """The issue's goals for the shipped product, checked on this dataset's figures."""
    if "shipped" not in systems or "bm25" not in systems:
        return []
    overall = rows[-1].scores
    shipped, bm25 = overall["shipped"]["ndcg@10"], overall["bm25"]["ndcg@10"]
    lines = []
    if dataset == "sample-catalog":
        ok = shipped >= bm25 + SAMPLE_GAIN
        lines.append(
            f"as shipped {shipped:.4f} >= BM25 {bm25:.4f} + {SAMPLE_GAIN}: "
            + ("met" if ok else "NOT met")
        )
    if "model" in overall:
        model = overall["model"]["ndcg@10"]
        ok = shipped >= model - MODEL_SLACK
        lines.append(
            f"as shipped {shipped:.4f} >= model only {model:.4f} - {MODEL_SLACK}: "
            + ("met" if ok else "NOT met")
        )
    below = [r.kind for r in rows if r.scores["shipped"]["ndcg@10"] < r.scores["bm25"]["ndcg@10"]]
    lines.append(
        "as shipped >= BM25 on every query kind: "
        + ("met" if not below else "NOT met (" + ", ".join(below) + ")")
    )
    return lines


def evaluate(
    name: str, args: argparse.Namespace, os_url: str, tmp: Path
) -> tuple[JudgedDataset, list[SystemRun], int, float]:
    dataset = load_dataset(name, args)
    started = time.perf_counter()
    count = index_products(os_url, args.index, dataset)
    runs = [run_system("bm25", os_url, args.index, dataset.queries, args.window, False)]
    sidecars: list[tuple[str, str | None, str]] = [("shipped", args.sidecar_url, "")]
    if not args.sidecar_url:
        if not args.rules.is_file():
            raise SystemExit(f"{args.rules} not found: run from the repository root or --rules")
        sidecars = [("model", None, neutral_rules(tmp)), ("shipped", None, str(args.rules))]
    scores = LruScoreCache(maxsize=1_000_000)
    for system, url, rules in sidecars:
        settings = shipped_settings(args, os_url, rules) if not url else Settings()
        with stack.sidecar(url, settings, scores) as sc_url:
            runs.append(run_system(system, sc_url, args.index, dataset.queries, args.window, True))
    return dataset, runs, count, time.perf_counter() - started


def report_dataset(
    args: argparse.Namespace, dataset: JudgedDataset, runs: list[SystemRun], count: int, took: float
) -> str:
    systems = [run.name for run in runs]
    rows = compare_by_kind(
        dataset.queries,
        (runs[0].name, runs[0].ranking),
        *((run.name, run.ranking) for run in runs[1:]),
        window=args.window,
    )
    base_q = per_query(dataset.queries, runs[0].ranking, "ndcg@10")
    cand_q = per_query(dataset.queries, runs[-1].ranking, "ndcg@10")
    by_id = {q.qid: q for q in dataset.queries}
    deltas = [QueryDelta(q, by_id[q].text, by_id[q].kind, base_q[q], cand_q[q]) for q in base_q]
    reranker = args.sidecar_url or args.model
    line = (
        f"Dataset `{dataset.name}`: {count} products, {len(base_q)} judged queries; "
        f"{args.window} hits asked of each system; reranker `{reranker}`; as shipped = "
        f"`{args.config}` + `{args.rules}`; {took:.0f} s."
    )
    goals = goal_lines(dataset.name, rows, systems)
    extra = ("\n## Goals\n\n" + "\n".join(f"- {g}" for g in goals) + "\n") if goals else ""
    title = "Relevance: " + ", ".join(label(s) for s in systems)
    out = args.out / dataset.name
    report = write_report(out, title, rows, runs, deltas, line, extra)
    return "\n".join([line, table(rows, systems), *goals, f"report: {report}", ""])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    printed = []
    with tempfile.TemporaryDirectory() as tmp, opensearch_node(args.opensearch_url) as os_url:
        for name in args.dataset:
            dataset, runs, count, took = evaluate(name, args, os_url, Path(tmp))
            text = report_dataset(args, dataset, runs, count, took)
            print(text, flush=True)
            printed.append(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.md").write_text("\n".join(printed), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
