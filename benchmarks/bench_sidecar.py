"""Sidecar overhead: warm-cache search through the sidecar vs straight to OpenSearch.

Same run, same queries, same HTTP client settings: each repetition sends a query to
OpenSearch and then through the sidecar (in-process uvicorn, MiniLM, in-process LRU cache
unless --redis-url), alternating which goes first. Reports p50/p95 of both and their ratio
(goal: warm p50 <= 1.15x), plus the cold path (every score a cache miss, MiniLM on CPU).

    python benchmarks/bench_sidecar.py [--opensearch-url URL] [--reps 30] [--json out.json]

Without --opensearch-url a node is started with scripts/opensearch.sh and stopped after.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lychee_engine import load_scorer  # noqa: E402
from lychee_engine.options import EngineOptions  # noqa: E402
from sidecar.app import create_app  # noqa: E402
from sidecar.dev_services import opensearch_node, sidecar_process  # noqa: E402
from sidecar.sample_catalog.catalog import generate_catalog, load_queries  # noqa: E402
from sidecar.sample_catalog.indexing import index_catalog  # noqa: E402
from sidecar.server_thread import ServerThread  # noqa: E402
from sidecar.settings import CacheSettings, IndexConfig, Settings  # noqa: E402

INDEX = "bench-sidecar-catalog"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opensearch-url", help="a running OpenSearch (else one is started)")
    parser.add_argument("--redis-url", help="use Redis for the score cache (else in-process LRU)")
    parser.add_argument("--data-dir", default=str(ROOT / "data" / "catalog"))
    parser.add_argument("--queries", type=int, default=20, help="distinct queries")
    parser.add_argument("--reps", type=int, default=30, help="warm repetitions of each query")
    parser.add_argument("--size", type=int, default=10, help="hits per page")
    parser.add_argument("--window", type=int, default=50, help="rerank window W")
    parser.add_argument("--json", dest="json_out", help="write the results here as JSON")
    parser.add_argument(
        "--in-process", action="store_true", help="serve the sidecar from a thread of this process"
    )
    return parser


def _body(text: str, size: int) -> dict[str, Any]:
    fields = ["title^2", "selling_points"]
    return {"query": {"multi_match": {"query": text, "fields": fields}}, "size": size}


@contextmanager
def sidecar(settings: Settings, in_process: bool) -> Iterator[str]:
    """The sidecar as deployed (`python -m sidecar`, its own process), or in a thread of this
    one (then the benchmark client shares its GIL, which inflates the sidecar's latency)."""
    if in_process:
        scorer = load_scorer("minilm", EngineOptions(device="cpu"))
        server = ServerThread(create_app(settings, scorer=scorer)).start()
        try:
            yield server.url
        finally:
            server.stop()
        return
    env = {
        "LYCHEE_MODEL_DEADLINE_MS": str(settings.model_deadline_ms),
        "LYCHEE_DEFAULT_INDEX__WINDOW": str(settings.default_index.window),
    }
    if settings.cache.redis_url:
        env["LYCHEE_CACHE__REDIS_URL"] = settings.cache.redis_url
    with tempfile.TemporaryDirectory(prefix="bench-sidecar-") as tmp:
        log = Path(tmp) / "sidecar.log"
        with sidecar_process(settings.opensearch_url, env, log) as (base, _pid):
            yield base


def _timed(client: httpx.Client, path: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = (time.perf_counter() - started) * 1000.0
    response.raise_for_status()
    return elapsed


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    data_dir = generate_catalog(args.data_dir).root
    count = index_catalog(url, INDEX, data_dir)
    texts = [q.text for q in load_queries(data_dir)][: args.queries]
    cache = CacheSettings(redis_url=args.redis_url)
    settings = Settings(
        opensearch_url=url,
        cache=cache,
        default_index=IndexConfig(window=args.window),
        model_deadline_ms=60_000,  # the cold path on a busy CPU must not degrade
    )
    direct: list[float] = []
    through: list[float] = []
    cold: list[float] = []
    with (
        sidecar(settings, args.in_process) as sidecar_url,
        httpx.Client(base_url=url, timeout=120) as os_client,
        httpx.Client(base_url=sidecar_url, timeout=120) as sc_client,
    ):
        path = f"/{INDEX}/_search"
        bodies = [_body(text, args.size) for text in texts]
        for body in bodies:  # cold: every pair is a cache miss
            cold.append(_timed(sc_client, path, body))
        pair = [(direct, os_client), (through, sc_client)]
        for rep in range(args.reps):
            for body in bodies:
                for samples, client in pair if rep % 2 == 0 else pair[::-1]:
                    samples.append(_timed(client, path, body))
        status = sc_client.post(path, json=_body(texts[0], args.size)).headers
    warm_direct, warm_sidecar = _summary(direct), _summary(through)
    return {
        "catalog_docs": count,
        "queries": len(texts),
        "window": args.window,
        "size": args.size,
        "cache": "redis" if args.redis_url else "lru",
        "sidecar_process": "in-process thread" if args.in_process else "own process",
        "rerank_status": status.get("X-Rerank-Status"),
        "opensearch_direct": warm_direct,
        "sidecar_warm": warm_sidecar,
        "sidecar_cold_minilm": _summary(cold),
        "warm_ratio_p50": round(warm_sidecar["p50_ms"] / warm_direct["p50_ms"], 3),
        "warm_ratio_p95": round(warm_sidecar["p95_ms"] / warm_direct["p95_ms"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with opensearch_node(args.opensearch_url) as url:
        result = run(args, url)
    print(json.dumps(result, indent=2))
    print(
        f"\nwarm p50: OpenSearch {result['opensearch_direct']['p50_ms']:.2f} ms, "
        f"sidecar {result['sidecar_warm']['p50_ms']:.2f} ms -> "
        f"{result['warm_ratio_p50']:.2f}x (goal <= 1.15x); "
        f"cold p50 {result['sidecar_cold_minilm']['p50_ms']:.1f} ms"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
