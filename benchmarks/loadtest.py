"""Load test: N concurrent clients for M seconds against the sidecar (MiniLM backend).

Each client is a closed loop over one shared, bounded httpx connection pool, mixing
reranked `/{index}/_search` requests (a pool of distinct storefront queries) with
`/api/rerank` calls (always scored by the model). The sidecar's RSS is sampled every
second from /proc. Then a hostile phase runs the same normal clients against the same
sidecar beside clients that try to hurt them (benchmarks/hostile.py: slowloris, slow bodies,
oversized headers, image-only queries, 100-search `_msearch` with large windows, image
reranks); the normal clients must see no errors, a search p95 within 3x of the quiet
(steady) phase and >= 95% of their searches `ok` or `partial`, and the RSS must stay flat
after warm-up over both phases. Then an overload phase runs a second sidecar with a tiny
model queue and many more clients: the answers must be 429 (or degraded searches), never
timeouts or 5xx.

    python benchmarks/loadtest.py [--clients 16] [--seconds 300] [--hostile-seconds 300]
                                  [--json reports/load.json]
    python benchmarks/loadtest.py --url http://127.0.0.1:8080 --pid 1234 --index products

Without --url, OpenSearch is started with scripts/opensearch.sh, the sample catalog is
indexed, and the sidecar runs as a subprocess (`python -m sidecar`), so the RSS is its own.
Exit status 1 when a check fails: errors in the steady phase, RSS drift over the limit
after warm-up, fewer requests than --min-requests, a hostile-phase goal missed, or
timeouts/5xx under overload.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.hostile import HostileTally, run_hostile  # noqa: E402
from sidecar.dev_services import opensearch_node, sidecar_process  # noqa: E402
from sidecar.sample_catalog import (  # noqa: E402
    generate_catalog,
    index_catalog,
    load_products,
    load_queries,
)

INDEX = "loadtest-products"
MODIFIERS = ["", "cheap", "for men", "for women", "red", "black", "blue", "large", "gift", "new"]
REQUEST_TIMEOUT_S = 30.0

Request = tuple[str, str, dict[str, Any]]  # kind, path, JSON body
FAILURE_NOTES: list[str] = []  # the first client-side failures, for the report


@dataclass(slots=True)
class Sample:
    at: float  # seconds since the phase started
    kind: str
    status: str  # HTTP status, or the client-side failure ("timeout", "ConnectError", ...)
    latency_ms: float
    rerank: str = ""  # X-Rerank-Status of searches


@dataclass(slots=True)
class PhaseResult:
    samples: list[Sample] = field(default_factory=list)
    rss_kb: list[tuple[float, int]] = field(default_factory=list)
    seconds: float = 0.0


# --- the workload ---------------------------------------------------------------------


@dataclass(slots=True)
class Workload:
    """Requests over a pool of distinct search queries and the catalog's documents.

    With `distinct=0` every query is new (a token no product has), so none is cached.
    """

    index: str
    queries: list[str]
    base: list[str]
    texts: list[str]
    rerank_share: float
    rerank_docs: int
    cold_share: float = 0.0  # searches for a query never seen: the model scores the window

    @classmethod
    def load(
        cls, data_dir: Path, args: argparse.Namespace, distinct: int, seed: int = 7
    ) -> Workload:
        base = [q.text for q in load_queries(data_dir)]
        rng = random.Random(seed)
        pool = {f"{rng.choice(base)} {rng.choice(MODIFIERS)}".strip() for _ in range(9 * distinct)}
        texts = [" | ".join([p.title, *p.selling_points]) for p in load_products(data_dir)]
        return cls(
            args.index,
            sorted(pool)[:distinct],
            base,
            texts,
            args.rerank_share,
            args.rerank_docs,
            getattr(args, "cold_share", 0.0),
        )

    def search(self, query: str) -> Request:
        fields = ["title^2", "selling_points"]
        body = {"query": {"multi_match": {"query": query, "fields": fields}}, "size": 10}
        return "search", f"/{self.index}/_search", body

    def __call__(self, r: random.Random) -> Request:
        if self.queries and r.random() >= self.cold_share:
            query = r.choice(self.queries)
        else:
            query = f"{r.choice(self.base)} z{r.getrandbits(48):x}"
        if r.random() < self.rerank_share:
            body = {"query": query, "documents": r.sample(self.texts, self.rerank_docs)}
            return "rerank", "/api/rerank", body
        return self.search(query)


async def client_loop(
    client: httpx.AsyncClient,
    next_request: Workload,
    seed: int,
    started: float,
    deadline: float,
    out: list[Sample],
) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        kind, path, body = next_request(rng)
        t0 = time.monotonic()
        try:
            response = await client.post(path, json=body)
            status, rerank = str(response.status_code), response.headers.get("X-Rerank-Status", "")
        except httpx.TimeoutException:
            status, rerank = "timeout", ""
        except httpx.HTTPError as exc:
            status, rerank = type(exc).__name__, ""
            if len(FAILURE_NOTES) < 20:
                FAILURE_NOTES.append(f"{kind} after {time.monotonic() - t0:.1f}s: {exc!r}")
        t1 = time.monotonic()
        out.append(Sample(t1 - started, kind, status, (t1 - t0) * 1000.0, rerank))


async def sample_rss(pid: int | None, started: float, stop: asyncio.Event, out: list) -> None:
    while pid is not None and not stop.is_set():
        out.append((time.monotonic() - started, rss_kb(pid)))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def run_phase(
    url: str, pid: int | None, clients: int, seconds: float, next_request: Workload
) -> PhaseResult:
    result = PhaseResult()
    # Idle connections are dropped well before uvicorn's 5 s keep-alive timeout: reusing one
    # the server is closing at that moment ends in a reset, a client bug, not a server error.
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
    )
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=5.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        started = time.monotonic()
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(pid, started, stop, result.rss_kb))
        loops = [
            client_loop(client, next_request, i, started, started + seconds, result.samples)
            for i in range(clients)
        ]
        await asyncio.gather(*loops)
        result.seconds = time.monotonic() - started
        stop.set()
        await sampler
    return result


# --- figures --------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q / 100.0 * len(sorted_values)))]


def latency_figures(samples: list[Sample]) -> dict[str, float]:
    values = sorted(s.latency_ms for s in samples)
    return {f"p{q}_ms": round(percentile(values, q), 1) for q in (50, 95, 99)} | {
        "max_ms": round(values[-1], 1) if values else float("nan")
    }


def steady_figures(result: PhaseResult, warmup_s: float) -> dict[str, Any]:
    samples = result.samples
    errors = [s for s in samples if not s.status.startswith("2")]
    return {
        "requests": len(samples),
        "errors": len(errors),
        "error_rate": round(len(errors) / max(len(samples), 1), 5),
        "error_kinds": dict(Counter(s.status for s in errors)),
        "throughput_rps": round(len(samples) / max(result.seconds, 1e-9), 1),
        "by_kind": {
            kind: {"requests": sum(1 for s in samples if s.kind == kind)}
            | latency_figures([s for s in samples if s.kind == kind])
            for kind in ("search", "rerank")
        },
        "rerank_status": dict(Counter(s.rerank for s in samples if s.kind == "search")),
        "requests_after_warmup": sum(1 for s in samples if s.at >= warmup_s),
        "rss_mb": rss_figures(result.rss_kb, warmup_s),
    } | latency_figures(samples)


def rss_figures(rss: list[tuple[float, int]], warmup_s: float) -> dict[str, Any]:
    """Start, after warm-up, end, drift after warm-up, and one sample per 10 s."""
    if not rss:
        return {"drift_pct": None}
    after = [kb for t, kb in rss if t >= warmup_s] or [rss[-1][1]]
    return {
        "start": round(rss[0][1] / 1024, 1),
        "after_warmup": round(after[0] / 1024, 1),
        "end": round(rss[-1][1] / 1024, 1),
        "max_after_warmup": round(max(after) / 1024, 1),
        "drift_pct": round((rss[-1][1] - after[0]) / after[0] * 100, 2),
        "every_10s": [round(kb / 1024, 1) for t, kb in rss if int(t) % 10 == 0],
    }


def hostile_figures(
    quiet: PhaseResult, hostile: PhaseResult, tally: HostileTally
) -> dict[str, Any]:
    """The normal clients' figures under attack, against their own quiet (steady) phase."""
    quiet_searches = [s for s in quiet.samples if s.kind == "search"]
    searches = [s for s in hostile.samples if s.kind == "search"]
    errors = [s for s in hostile.samples if not s.status.startswith("2")]
    quiet_p95 = latency_figures(quiet_searches)["p95_ms"]
    p95 = latency_figures(searches)["p95_ms"]
    good = sum(1 for s in searches if s.rerank in ("ok", "partial"))
    return {
        "normal_requests": len(hostile.samples),
        "normal_errors": len(errors),
        "error_kinds": dict(Counter(s.status for s in errors)),
        "search_p95_quiet_ms": quiet_p95,
        "search_p95_hostile_ms": p95,
        "p95_ratio": round(p95 / quiet_p95, 2) if quiet_p95 else None,
        "searches": len(searches),
        "searches_ok_or_partial_pct": round(100.0 * good / max(len(searches), 1), 2),
        "rerank_status": dict(Counter(s.rerank for s in searches)),
        "by_kind": {
            kind: latency_figures([s for s in hostile.samples if s.kind == kind])
            for kind in ("search", "rerank")
        },
        "hostile_actors": tally.as_dict(),
    }


def joined_rss(first: PhaseResult, second: PhaseResult) -> list[tuple[float, int]]:
    """One RSS series over two consecutive phases (the second's clock moved on)."""
    return first.rss_kb + [(t + first.seconds, kb) for t, kb in second.rss_kb]


def overload_figures(result: PhaseResult) -> dict[str, Any]:
    samples = result.samples
    by_status = Counter(f"{s.kind}:{s.status}" for s in samples)
    shed = [s for s in samples if s.status == "429"]
    return {
        "requests": len(samples),
        "by_status": dict(by_status),
        "search_rerank_status": dict(Counter(s.rerank for s in samples if s.kind == "search")),
        "timeouts": sum(1 for s in samples if s.status == "timeout"),
        "server_errors": sum(1 for s in samples if s.status.startswith("5")),
        "client_failures": sum(1 for s in samples if not s.status.isdigit()),
        "429_latency": latency_figures(shed),
        "all_latency": latency_figures(samples),
    }


# --- the stack ------------------------------------------------------------------------


# --- main -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--clients", type=int, default=16, help="concurrent closed-loop clients")
    add("--seconds", type=float, default=300.0, help="length of the steady phase")
    add("--warmup-s", type=float, default=60.0, help="RSS drift is measured after this")
    add("--url", help="an already running sidecar (else one is started)")
    add("--pid", type=int, help="PID of the sidecar at --url, for its RSS")
    add("--opensearch-url", help="a running OpenSearch (else one is started)")
    add("--index", default=INDEX)
    add("--data-dir", default=str(ROOT / "data" / "catalog"))
    add("--distinct-queries", type=int, default=60, help="search queries, prewarmed")
    add("--rerank-share", type=float, default=0.02, help="share of /api/rerank requests")
    add("--rerank-docs", type=int, default=5, help="documents per /api/rerank request")
    add("--window", type=int, default=20, help="rerank window W of the managed sidecar")
    # The product's default: a window the deadline cannot take whole is reranked to the
    # depth reached (`partial`), so a slow CPU no longer needs a longer deadline.
    add("--deadline-ms", type=int, default=2000, help="model deadline of the managed sidecar")
    add("--min-requests", type=int, default=10_000, help="fail below this many requests")
    add("--max-drift-pct", type=float, default=10.0, help="fail above this RSS growth")
    add("--overload-clients", type=int, default=128)
    add("--overload-seconds", type=float, default=20.0)
    add("--overload-queue", type=int, default=32, help="LYCHEE_ENGINE__QUEUE_SIZE (pairs)")
    add("--skip-overload", action="store_true")
    add("--hostile-seconds", type=float, default=300.0, help="hostile phase (0: none)")
    add("--cold-share", type=float, default=0.1, help="share of searches never seen before")
    add("--result-cache", action="store_true", help="serve repeated searches from the result cache")
    add("--json", dest="json_out", help="write the figures here as JSON")
    return parser


def check(figures: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The failed checks, in words."""
    failed = []
    steady = figures["steady"]
    if steady["errors"]:
        failed.append(f"{steady['errors']} errors in the steady phase: {steady['error_kinds']}")
    if steady["requests"] < args.min_requests:
        failed.append(f"only {steady['requests']} requests (< {args.min_requests})")
    drift = figures.get("rss_mb", steady["rss_mb"])["drift_pct"]
    if drift is not None and drift > args.max_drift_pct:
        failed.append(f"RSS grew {drift}% after warm-up (> {args.max_drift_pct}%)")
    hostile = figures.get("hostile")
    if hostile is not None:
        if hostile["normal_errors"]:
            failed.append(f"normal clients saw {hostile['normal_errors']} errors under attack")
        if hostile["p95_ratio"] is not None and hostile["p95_ratio"] > 3.0:
            failed.append(f"search p95 under attack is {hostile['p95_ratio']}x the quiet one")
        if hostile["searches_ok_or_partial_pct"] < 95.0:
            pct = hostile["searches_ok_or_partial_pct"]
            failed.append(f"only {pct}% of searches ok or partial under attack")
    overload = figures.get("overload")
    if overload is not None:
        if overload["timeouts"] or overload["server_errors"] or overload["client_failures"]:
            failed.append(f"overload answered with timeouts/5xx: {overload['by_status']}")
        if not any(k.endswith(":429") for k in overload["by_status"]):
            failed.append("overload produced no 429: the queue never filled")
    return failed


async def measure(args: argparse.Namespace, url: str, pid: int | None, data_dir: Path) -> dict:
    """Prewarm, the quiet (steady) phase, then the hostile phase on the same sidecar."""
    workload = Workload.load(data_dir, args, args.distinct_queries)
    warm = await prewarm(url, workload)
    print(f"steady: {args.clients} clients x {args.seconds:.0f}s against {url} (pid {pid})")
    steady = await run_phase(url, pid, args.clients, args.seconds, workload)
    figures: dict[str, Any] = {"steady": {"prewarm": warm} | steady_figures(steady, args.warmup_s)}
    if args.hostile_seconds > 0:
        print(f"hostile: the same clients x {args.hostile_seconds:.0f}s beside hostile ones")
        tally = HostileTally()
        hostile, _ = await asyncio.gather(
            run_phase(url, pid, args.clients, args.hostile_seconds, workload),
            run_hostile(url, args.index, args.hostile_seconds, tally),
        )
        figures["hostile"] = hostile_figures(steady, hostile, tally)
        figures["rss_mb"] = rss_figures(joined_rss(steady, hostile), args.warmup_s)
    return figures


async def prewarm(url: str, workload: Workload) -> dict[str, Any]:
    """Each distinct query once, two at a time, so the steady phase starts with a warm cache
    (a cold burst of many clients would only measure the model's queue on a small CPU)."""
    started = time.monotonic()
    statuses: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:

        async def one(query: str) -> None:
            _, path, body = workload.search(query)
            response = await client.post(path, json=body)
            statuses[f"{response.status_code}:{response.headers.get('X-Rerank-Status')}"] += 1

        for i in range(0, len(workload.queries), 2):
            await asyncio.gather(*(one(q) for q in workload.queries[i : i + 2]))
    seconds = round(time.monotonic() - started, 1)
    print(f"prewarmed {len(workload.queries)} queries in {seconds}s: {dict(statuses)}")
    return {"queries": len(workload.queries), "seconds": seconds, "statuses": dict(statuses)}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data_dir = Path(args.data_dir)
    generate_catalog(data_dir)
    figures: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "json_out"}}
    if args.url is not None:
        figures |= asyncio.run(measure(args, args.url, args.pid, data_dir))
    else:
        figures |= run_managed(args, data_dir)
    failed = check(figures, args)
    figures["client_failure_notes"] = FAILURE_NOTES
    figures["failed_checks"] = failed
    print(json.dumps(figures, indent=2))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n")
    print("PASS" if not failed else "FAIL:\n  " + "\n  ".join(failed))
    return 0 if not failed else 1


def run_managed(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """OpenSearch + catalog + a sidecar subprocess for the steady phase, another for overload."""
    figures: dict[str, Any] = {}
    log = ROOT / ".run" / "loadtest-sidecar.log"
    log.parent.mkdir(exist_ok=True)
    with opensearch_node(args.opensearch_url) as os_url:
        print(f"indexed {index_catalog(os_url, args.index, data_dir)} products into {os_url}")
        with sidecar_process(os_url, sidecar_env(args), log) as (url, pid):
            figures |= asyncio.run(measure(args, url, pid, data_dir))
        if not args.skip_overload:
            figures["overload"] = run_overload(args, os_url, data_dir, log)
    return figures


def sidecar_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        "LYCHEE_DEFAULT_INDEX__WINDOW": str(args.window),
        "LYCHEE_MODEL_DEADLINE_MS": str(args.deadline_ms),
        # Off by default: repeated searches would all be result-cache hits, and the path that
        # must hold under load is the full one (OpenSearch window, score cache, rules).
        "LYCHEE_RESULT_CACHE__ENABLED": str(args.result_cache).lower(),
    }


def run_overload(args: argparse.Namespace, os_url: str, data_dir: Path, log: Path) -> dict:
    env = sidecar_env(args) | {"LYCHEE_ENGINE__QUEUE_SIZE": str(args.overload_queue)}
    # Half model-bound rerank calls, half searches whose windows are never cached.
    overload_args = argparse.Namespace(**(vars(args) | {"rerank_share": 0.5, "rerank_docs": 10}))
    workload = Workload.load(data_dir, overload_args, 0, seed=11)
    with sidecar_process(os_url, env, log) as (url, pid):
        print(f"overload: {args.overload_clients} clients, queue {args.overload_queue} pairs")
        result = asyncio.run(
            run_phase(url, pid, args.overload_clients, args.overload_seconds, workload)
        )
    return overload_figures(result)


if __name__ == "__main__":
    sys.exit(main())
