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
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.hydrate import FieldMapping, Hydrator  # noqa: E402
from lychee_engine import load_scorer  # noqa: E402
from lychee_engine.options import EngineOptions  # noqa: E402
from sidecar.app import create_app  # noqa: E402
from sidecar.dev_services import opensearch_node, sidecar_process  # noqa: E402
from sidecar.sample_catalog.catalog import generate_catalog, load_queries  # noqa: E402
from sidecar.sample_catalog.indexing import index_catalog  # noqa: E402
from sidecar.server_thread import ServerThread, free_port  # noqa: E402
from sidecar.settings import CacheSettings, IndexConfig, ResultCacheSettings, Settings  # noqa: E402

INDEX = "bench-sidecar-catalog"
RERANK_DOCS = 40  # documents per /api/rerank call (a judged pool of the query)
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
        "--replicas", type=int, default=3, help="sidecars sharing one Redis (0: skip that row)"
    )
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
    novel = summary["never_seen"][stat] / summary["direct_never_seen"][stat]
    out["never_seen"] = round(novel, 3)
    out["count_proxied"] = round(summary["count_proxied"][stat] / summary["count_direct"][stat], 3)
    return out


def _product_texts(data_dir: Path) -> dict[str, str]:
    """Every product's text exactly as a search hydrates it (so the same embedding keys)."""
    hydrator = Hydrator(FieldMapping(), None, Settings().engine.max_doc_chars)
    rows = [json.loads(line) for line in (data_dir / "products.jsonl").read_text().splitlines()]
    return {str(row["id"]): hydrator.text_of(row) for row in rows if row}


def _see_products(client: httpx.Client, texts: list[str]) -> None:
    """Let a sidecar embed every product once (what `python -m sidecar warm` does with
    Redis; here the sidecars keep embeddings in memory)."""
    for start in range(0, len(texts), 200):
        body = {"query": "warm up", "documents": texts[start : start + 200]}
        client.post("/api/rerank", json=body).raise_for_status()


def _novel(text: str, rep: int, i: int) -> str:
    """A query text no cache has seen; the added token matches no product, so OpenSearch's
    window is the one of `text`."""
    return f"{text} zq{rep}x{i}"


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    data_dir = generate_catalog(args.data_dir).root
    count = index_catalog(url, INDEX, data_dir)
    queries = load_queries(data_dir)[: args.queries]
    texts = [q.text for q in queries]
    products = _product_texts(data_dir)
    pools = [[products[pid] for pid in sorted(q.judgments)][:RERANK_DOCS] for q in queries]
    path = f"/{INDEX}/_search"
    bodies = [_body(text, args.size) for text in texts]
    window_bodies = [_body(text, args.window) for text in texts]
    names = (
        "direct", "results", "scores", "window", "count_direct", "count_proxied",
        "never_seen", "direct_never_seen", "rerank_api",
    )  # fmt: skip
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
        _see_products(scores_client, list(products.values()))
        for body, window_body in zip(bodies, window_bodies, strict=True):
            _timed(results_client, path, body)  # warm both caches of the first sidecar
            for _ in range(args.warmup):  # the JVM compiles the search path on first use
                _timed(os_client, path, body)
                _timed(os_client, path, window_body)
        count_path = f"/{INDEX}/_count"

        def novel(rep: int, i: int) -> dict[str, Any]:
            return _body(_novel(texts[i], rep, i), args.size)

        # (name, client, path, body for (rep, query)); None: a GET
        plan: list[tuple[str, httpx.Client, str, Any]] = [
            ("direct", os_client, path, lambda r, i: bodies[i]),
            ("results", results_client, path, lambda r, i: bodies[i]),
            ("scores", scores_client, path, lambda r, i: bodies[i]),
            ("window", os_client, path, lambda r, i: window_bodies[i]),
            ("count_direct", os_client, count_path, lambda r, i: None),
            ("count_proxied", scores_client, count_path, lambda r, i: None),
            ("never_seen", scores_client, path, lambda r, i: novel(r, i)),
            ("direct_never_seen", os_client, path, lambda r, i: novel(r, i)),
            ("rerank_api", scores_client, "/api/rerank",
             lambda r, i: {"query": _novel(texts[i], r, i), "documents": pools[i]}),
        ]  # fmt: skip
        for rep in range(args.reps):
            order = plan[rep % len(plan) :] + plan[: rep % len(plan)]
            for i in range(len(bodies)):
                for name, client, target, make in order:
                    samples[name].append(_timed(client, target, make(rep, i)))
        headers = results_client.post(path, json=bodies[0]).headers
        embeddings = _embedding_counts(scores_client)
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
        "opensearch_direct_never_seen": summary["direct_never_seen"],
        "sidecar_never_seen_query_products_seen": summary["never_seen"],
        "rerank_api_documents_seen": summary["rerank_api"]
        | {"documents": RERANK_DOCS, "pairs_per_s_p50": _pairs_per_s(summary["rerank_api"])},
        "embedding_cache_after_timed_runs": embeddings,
        "ratio_p50": _ratios(summary, "p50_ms"),
        "ratio_p95": _ratios(summary, "p95_ms"),
    }


def _pairs_per_s(summary: dict[str, float]) -> float:
    return round(RERANK_DOCS / (summary["p50_ms"] / 1000.0), 1)


def _embedding_counts(client: httpx.Client) -> dict[str, float]:
    """The sidecar's embedding-cache counters: misses stay at the catalog size when every
    timed search reused embeddings."""
    wanted = ("hits", "misses", "bytes")
    out = {}
    for line in client.get("/metrics").text.splitlines():
        for name in wanted:
            if line.startswith(f"lychee_embedding_cache_{name} "):
                out[name] = float(line.split()[1])
    return out


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway Redis (no persistence) on a free port."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def run_replicas(args: argparse.Namespace, url: str, replicas: int = 3) -> dict[str, Any]:
    """The result cache shared through Redis: each query answered once by the first of
    `replicas` sidecar processes, then asked of every replica in turn."""
    data_dir = generate_catalog(args.data_dir).root
    texts = [q.text for q in load_queries(data_dir)][: args.queries]
    bodies = [_body(text, args.size) for text in texts]
    path = f"/{INDEX}/_search"
    samples: dict[str, list[float]] = {"direct": [], "replicas": []}
    with redis_server() as redis_url, ExitStack() as stack:
        settings = _settings(args, url, True).model_copy(
            update={"cache": CacheSettings(redis_url=redis_url)}
        )
        urls = [stack.enter_context(sidecar(settings, False)) for _ in range(replicas)]
        clients = [stack.enter_context(httpx.Client(base_url=u, timeout=120)) for u in urls]
        os_client = stack.enter_context(httpx.Client(base_url=url, timeout=120))
        for body in bodies:
            clients[0].post(path, json=body).raise_for_status()  # misses: stored in Redis
        first_asks = [
            client.post(path, json=body).headers.get("X-Rerank-Result-Cache")
            for client in clients[1:]
            for body in bodies
        ]
        for _ in range(args.warmup):
            for body in bodies:
                _timed(os_client, path, body)
        for rep in range(args.reps):
            for i, body in enumerate(bodies):
                samples["direct"].append(_timed(os_client, path, body))
                samples["replicas"].append(_timed(clients[(rep + i) % replicas], path, body))
    direct, shared = _summary(samples["direct"]), _summary(samples["replicas"])
    return {
        "replicas": replicas,
        "first_ask_on_other_replicas": {
            "hit": first_asks.count("hit"),
            "total": len(first_asks),
        },
        "opensearch_direct": direct,
        "sidecar_result_cache_any_replica": shared,
        "ratio_p50": round(shared["p50_ms"] / direct["p50_ms"], 3),
    }


def goals_table(result: dict[str, Any]) -> str:
    """The issue's goals with this run's figures (p50, ratios to the same-run direct)."""
    ratio = result["ratio_p50"]
    direct = result["opensearch_direct"]["p50_ms"]
    novel_direct = result["opensearch_direct_never_seen"]["p50_ms"]
    rows = [
        "| path | sidecar p50 | direct p50 | ratio | goal |",
        "|---|---|---|---|---|",
        f"| never-seen query, products seen before | "
        f"{result['sidecar_never_seen_query_products_seen']['p50_ms']:.2f} ms | "
        f"{novel_direct:.2f} ms | {ratio['never_seen']:.2f}x | <= 10x |",
        f"| score cache only | {result['sidecar_warm_score_cache_only']['p50_ms']:.2f} ms | "
        f"{direct:.2f} ms | {ratio['scores']:.2f}x | <= 1.6x |",
        f"| result cache | {result['sidecar_warm_result_cache']['p50_ms']:.2f} ms | "
        f"{direct:.2f} ms | {ratio['results']:.2f}x | <= 0.9x |",
    ]
    shared = result.get("replicas")
    if shared:
        first = shared["first_ask_on_other_replicas"]
        rows.append(
            f"| result cache, any of {shared['replicas']} replicas (one Redis) | "
            f"{shared['sidecar_result_cache_any_replica']['p50_ms']:.2f} ms | "
            f"{shared['opensearch_direct']['p50_ms']:.2f} ms | {shared['ratio_p50']:.2f}x | "
            f"<= 0.9x; first ask on another replica: {first['hit']}/{first['total']} hits |"
        )
    api = result["rerank_api_documents_seen"]
    rows.append(
        f"| `/api/rerank`, {api['documents']} documents seen before | {api['p50_ms']:.2f} ms | "
        f"— | {api['pairs_per_s_p50']:.0f} pairs/s | >= 1,000 pairs/s |"
    )
    rows.append(
        f"| cold (every pair a miss, W={result['window']}) | "
        f"{result['sidecar_cold_minilm']['p50_ms']:.1f} ms | {direct:.2f} ms | — | — |"
    )
    return "\n".join(rows) + "\n\n" + score_path_breakdown(result)


def score_path_breakdown(result: dict[str, Any]) -> str:
    """Where the score-cache-only search spends its time beyond the direct search (p50 ms):
    the extra hits of the W-hit window fetch, the HTTP hop (a `_count` through the sidecar
    minus a direct `_count`), and the rest, which is the sidecar's own rerank work (parse,
    keys, cache lookup, rules, paging, shaping). The ratio without any rerank work is the
    floor of this path on this box."""
    direct = result["opensearch_direct"]["p50_ms"]
    window = result["opensearch_window_fetch"]["p50_ms"] - direct
    hop = result["count_through_sidecar_proxy"]["p50_ms"] - result["count_direct"]["p50_ms"]
    total = result["sidecar_warm_score_cache_only"]["p50_ms"]
    work = total - direct - window - hop
    floor = (direct + window + hop) / direct
    return (
        f"score cache only, p50: {total:.2f} ms = direct {direct:.2f} + window extra "
        f"{window:+.2f} + HTTP hop {hop:+.2f} + rerank work {work:+.2f}; "
        f"without any rerank work the ratio would be {floor:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    load_before = os.getloadavg()
    with opensearch_node(args.opensearch_url, java_opts=PRODUCTION_JIT) as url:
        result = run(args, url)
        print(json.dumps(result, indent=2), flush=True)  # kept if the replicas phase fails
        if args.replicas:
            result["replicas"] = run_replicas(args, url, args.replicas)
    result["load_average"] = {"start": load_before, "end": os.getloadavg()}
    print(json.dumps(result.get("replicas"), indent=2))
    print()
    print(goals_table(result))
    print(f"\nload average (1/5/15 min) at start {load_before}, at end {os.getloadavg()}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
