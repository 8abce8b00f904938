"""Sidecar overhead: a warm search through the sidecar vs the same query straight to OpenSearch.

Same run, same queries, same HTTP client: each repetition sends every query straight to
OpenSearch (size 10), through the sidecar as deployed (result cache on: a repeated request
is answered from it), through a second sidecar with the result cache off (every request
fetches the window from OpenSearch and reads the warm score cache), and straight to
OpenSearch for the whole window (size W: what the score-cache path must fetch), in an order
that rotates per repetition. Reports p50/p95 and ratios to the direct search (goal: warm
p50 <= 1.15x), plus the cold path (every score a cache miss, MiniLM on CPU).

    python benchmarks/bench_sidecar.py [--opensearch-url URL] [--reps 30] [--json out.json]

Without --opensearch-url a node is started with scripts/opensearch.sh (production JIT: C2)
and stopped after; either way the node is warmed up before anything is timed.
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
from sidecar.settings import CacheSettings, IndexConfig, ResultCacheSettings, Settings  # noqa: E402

INDEX = "bench-sidecar-catalog"
# The dev node runs C1-only to start fast; steady-state timings need the optimising JIT.
PRODUCTION_JIT = "-XX:TieredStopAtLevel=4"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opensearch-url", help="a running OpenSearch (else one is started)")
    parser.add_argument("--redis-url", help="use Redis for the score cache (else in-process LRU)")
    parser.add_argument("--data-dir", default=str(ROOT / "data" / "catalog"))
    parser.add_argument("--queries", type=int, default=20, help="distinct queries")
    parser.add_argument("--reps", type=int, default=30, help="warm repetitions of each query")
    parser.add_argument("--size", type=int, default=10, help="hits per page")
    parser.add_argument("--window", type=int, default=50, help="rerank window W")
    parser.add_argument("--warmup", type=int, default=30, help="untimed searches per query")
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
        "LYCHEE_RESULT_CACHE__ENABLED": str(settings.result_cache.enabled).lower(),
    }
    if settings.cache.redis_url:
        env["LYCHEE_CACHE__REDIS_URL"] = settings.cache.redis_url
    with tempfile.TemporaryDirectory(prefix="bench-sidecar-") as tmp:
        log = Path(tmp) / "sidecar.log"
        with sidecar_process(settings.opensearch_url, env, log) as (base, _pid):
            yield base


def _timed(client: httpx.Client, path: str, body: dict[str, Any] | None) -> float:
    """One request's wall time in ms: a search POST, or a GET when `body` is None."""
    started = time.perf_counter()
    response = client.post(path, json=body) if body is not None else client.get(path)
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


def _settings(args: argparse.Namespace, url: str, result_cache: bool) -> Settings:
    return Settings(
        opensearch_url=url,
        cache=CacheSettings(redis_url=args.redis_url),
        result_cache=ResultCacheSettings(enabled=result_cache),
        default_index=IndexConfig(window=args.window),
        model_deadline_ms=60_000,  # the cold path on a busy CPU must not degrade
    )


def _ratios(summary: dict[str, dict[str, float]], stat: str) -> dict[str, float]:
    """Searches against the direct search; the proxied _count against the direct _count."""
    base = summary["direct"][stat]
    out = {k: round(summary[k][stat] / base, 3) for k in ("results", "scores", "window")}
    out["count_proxied"] = round(summary["count_proxied"][stat] / summary["count_direct"][stat], 3)
    return out


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    data_dir = generate_catalog(args.data_dir).root
    count = index_catalog(url, INDEX, data_dir)
    texts = [q.text for q in load_queries(data_dir)][: args.queries]
    path = f"/{INDEX}/_search"
    bodies = [_body(text, args.size) for text in texts]
    window_bodies = [_body(text, args.window) for text in texts]
    names = ("direct", "results", "scores", "window", "count_direct", "count_proxied")
    samples: dict[str, list[float]] = {k: [] for k in names}
    cold: list[float] = []
    with (
        sidecar(_settings(args, url, True), args.in_process) as results_url,
        sidecar(_settings(args, url, False), args.in_process) as scores_url,
        httpx.Client(base_url=url, timeout=120) as os_client,
        httpx.Client(base_url=results_url, timeout=120) as results_client,
        httpx.Client(base_url=scores_url, timeout=120) as scores_client,
    ):
        for body in bodies:  # cold: every pair is a cache miss (the second sidecar then
            cold.append(_timed(scores_client, path, body))  # shares nothing with the first)
        for body, window_body in zip(bodies, window_bodies, strict=True):
            _timed(results_client, path, body)  # warm both caches of the first sidecar
            for _ in range(args.warmup):  # the JVM compiles the search path on first use
                _timed(os_client, path, body)
                _timed(os_client, path, window_body)
        plan = [
            ("direct", os_client, bodies),
            ("results", results_client, bodies),
            ("scores", scores_client, bodies),
            ("window", os_client, window_bodies),
            ("count_direct", os_client, None),  # a pass-through path, for the proxy's cost
            ("count_proxied", scores_client, None),
        ]
        count_path = f"/{INDEX}/_count"
        for rep in range(args.reps):
            order = plan[rep % len(plan) :] + plan[: rep % len(plan)]
            for i in range(len(bodies)):
                for name, client, sent in order:
                    if sent is None:
                        samples[name].append(_timed(client, count_path, None))
                    else:
                        samples[name].append(_timed(client, path, sent[i]))
        headers = results_client.post(path, json=bodies[0]).headers
    summary = {name: _summary(values) for name, values in samples.items()}
    return {
        "catalog_docs": count,
        "queries": len(texts),
        "window": args.window,
        "size": args.size,
        "score_cache": "redis" if args.redis_url else "lru",
        "sidecar_process": "in-process thread" if args.in_process else "own process",
        "rerank_status": headers.get("X-Rerank-Status"),
        "result_cache": headers.get("X-Rerank-Result-Cache"),
        "opensearch_direct": summary["direct"],
        "sidecar_warm_result_cache": summary["results"],
        "sidecar_warm_score_cache_only": summary["scores"],
        "opensearch_window_fetch": summary["window"],
        "count_direct": summary["count_direct"],
        "count_through_sidecar_proxy": summary["count_proxied"],
        "sidecar_cold_minilm": _summary(cold),
        "ratio_p50": _ratios(summary, "p50_ms"),
        "ratio_p95": _ratios(summary, "p95_ms"),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with opensearch_node(args.opensearch_url, java_opts=PRODUCTION_JIT) as url:
        result = run(args, url)
    print(json.dumps(result, indent=2))
    ratio = result["ratio_p50"]
    print(
        f"\nwarm p50 (goal <= 1.15x): OpenSearch {result['opensearch_direct']['p50_ms']:.2f} ms; "
        f"sidecar {result['sidecar_warm_result_cache']['p50_ms']:.2f} ms = "
        f"{ratio['results']:.2f}x (result cache); "
        f"{result['sidecar_warm_score_cache_only']['p50_ms']:.2f} ms = {ratio['scores']:.2f}x "
        f"(score cache only; its W={result['window']} fetch alone is {ratio['window']:.2f}x); "
        f"cold p50 {result['sidecar_cold_minilm']['p50_ms']:.1f} ms; pass-through _count "
        f"{result['count_through_sidecar_proxy']['p50_ms']:.2f} vs "
        f"{result['count_direct']['p50_ms']:.2f} ms direct"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
