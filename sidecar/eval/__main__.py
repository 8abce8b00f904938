"""`python -m sidecar.eval`: BM25 vs reranked NDCG@10 per query kind, and a report.

By default it generates the sample catalog, starts an OpenSearch node and an in-process
sidecar (backend from --model, default minilm), indexes, evaluates and writes the report.
Give --opensearch-url / --sidecar-url to evaluate services that already run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sidecar.dev_services import opensearch_node
from sidecar.eval import loaders, stack
from sidecar.eval.dataset import JudgedDataset
from sidecar.eval.metrics import compare_by_kind, per_query
from sidecar.eval.report import QueryDelta, table, write_report
from sidecar.eval.runner import index_products, run_system
from sidecar.settings import CacheSettings, EngineSettings, IndexConfig, Settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sidecar.eval", description=__doc__)
    p.add_argument("--dataset", choices=["sample", "trec", "esci", "wands"], default="sample")
    p.add_argument("--data", type=Path, default=Path("data/catalog"), help="sample/WANDS dir")
    p.add_argument("--trec", nargs=3, type=Path, metavar=("CORPUS", "TOPICS", "QRELS"))
    p.add_argument("--esci", nargs=2, type=Path, metavar=("EXAMPLES", "PRODUCTS"))
    p.add_argument("--max-queries", type=int, default=200)
    p.add_argument("--index", default="eval-products")
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--model", default="minilm", help="engine spec for the in-process sidecar")
    p.add_argument("--rules", help="rules file (default: no threshold, pure model order)")
    p.add_argument("--opensearch-url")
    p.add_argument("--sidecar-url")
    p.add_argument("--out", type=Path, default=Path("reports/eval"))
    return p


def load_dataset(args: argparse.Namespace) -> JudgedDataset:
    if args.dataset == "trec":
        return loaders.load_trec(*args.trec)
    if args.dataset == "esci":
        examples, products = args.esci
        return loaders.load_esci(examples, products, max_queries=args.max_queries)
    if args.dataset == "wands":
        return loaders.load_wands(args.data, max_queries=args.max_queries)
    from sidecar.sample_catalog import generate_catalog

    generate_catalog(args.data)
    dataset = loaders.load_sample_catalog(args.data)
    dataset.queries = dataset.queries[: args.max_queries]
    return dataset


def neutral_rules(tmp: Path) -> str:
    """Rules that keep every reranked hit, so the evaluation measures the model alone."""
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump({"min_score": 0.0, "boosts": []}), encoding="utf-8")
    return str(path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    dataset = load_dataset(args)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, opensearch_node(args.opensearch_url) as os_url:
        count = index_products(os_url, args.index, dataset)
        settings = Settings(
            opensearch_url=os_url,
            rules_path=args.rules or neutral_rules(Path(tmp)),
            model_deadline_ms=120_000,
            indices={args.index: IndexConfig(window=args.window)},
            engine=EngineSettings(model=args.model),
            cache=CacheSettings(redis_url=None),
        )
        with stack.sidecar(args.sidecar_url, settings) as sc_url:
            bm25 = run_system("bm25", os_url, args.index, dataset.queries, args.window, False)
            rerank = run_system("rerank", sc_url, args.index, dataset.queries, args.window, True)
    rows = compare_by_kind(
        dataset.queries, ("bm25", bm25.ranking), ("rerank", rerank.ranking), args.window
    )
    base_q = per_query(dataset.queries, bm25.ranking, "ndcg@10")
    cand_q = per_query(dataset.queries, rerank.ranking, "ndcg@10")
    by_id = {q.qid: q for q in dataset.queries}
    deltas = [QueryDelta(q, by_id[q].text, by_id[q].kind, base_q[q], cand_q[q]) for q in base_q]
    line = (
        f"Dataset `{dataset.name}`: {count} products, {len(base_q)} judged queries; window "
        f"{args.window}; reranker `{args.model if not args.sidecar_url else args.sidecar_url}`; "
        f"{time.perf_counter() - started:.0f} s."
    )
    report = write_report(
        args.out, "Relevance: BM25 vs reranked", rows, (bm25, rerank), deltas, line
    )
    print(line)
    print(table(rows, "bm25", "rerank"))
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
