"""Hostile clients against the pass-through (issue 14): what other clients see, and the RSS.

One sidecar process (`python -m sidecar`, as deployed, default limits) in front of a fresh
OpenSearch node. In turn: four endless 100 MB heads, a completed 100 MB head, a poisoned
upstream connection (100 KB header) followed by another client's write, 50 slowloris
connections, 70 slow-body connections beside a normal client, a 40 MB `_bulk` and a 45 MB
chunked one (sidecar and direct), a declared 105 MB body, and the plain pass-through
latency of `_count` (sidecar vs direct). Prints one JSON document.

    python benchmarks/bench_proxy_isolation.py [--opensearch-url URL] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loadtest import rss_kb  # noqa: E402
from sidecar.dev_services import opensearch_node, sidecar_process  # noqa: E402

INDEX = "bench-isolation"
MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    return round(rss_kb(pid) / 1024, 1)


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _connect(url: str, timeout: float = 60.0) -> socket.socket:
    return socket.create_connection(_address(url), timeout=timeout)


def _status_line(sock: socket.socket) -> str:
    """The status line of the server's answer, or how the connection ended without one."""
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "no answer"
    return data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"


def endless_head(url: str, total: int, finish: bool) -> dict[str, Any]:
    """Send a head of `total` bytes (with its final CRLF when `finish`): what got in, the answer."""
    sent = 0
    with _connect(url) as sock:
        sock.sendall(b"GET /_count HTTP/1.1\r\nHost: x\r\nX-Big: ")
        block = b"a" * MB
        try:
            while sent < total:
                sock.sendall(block)
                sent += len(block)
            if finish:
                sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return {"sent_mb": round(sent / MB, 2), "answer": _status_line(sock)}


def _parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def timed(call: Callable[[], httpx.Response]) -> tuple[int, float]:
    started = time.perf_counter()
    status = call().status_code
    return status, round((time.perf_counter() - started) * 1000, 1)


def poisoned(url: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=60) as client:
        big = client.get(f"/{INDEX}/_count", headers={"X-Big": "a" * 100_000}).status_code
        put = timed(lambda: client.put(f"/{INDEX}/_doc/poison?refresh=true", json={"v": 0}))
        found = client.get(f"/{INDEX}/_doc/poison").json().get("found")
    return {"big_head_status": big, "next_put_status_ms": put, "indexed": found}


def slowloris(url: str, count: int = 50) -> dict[str, Any]:
    """`count` connections adding a header line every 2 s: seconds until each is closed."""

    def one(_: int) -> float:
        started = time.monotonic()
        with _connect(url, timeout=120) as sock:
            sock.sendall(b"GET /_count HTTP/1.1\r\nHost: x\r\n")
            try:
                while True:
                    sock.settimeout(2.0)
                    try:
                        if not sock.recv(4096):
                            break
                        continue  # the 408, then the close
                    except TimeoutError:
                        sock.sendall(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        return time.monotonic() - started

    closed_after = _parallel(count, one)
    return {
        "connections": count,
        "closed_after_s_median": round(statistics.median(closed_after), 1),
        "closed_after_s_max": round(max(closed_after), 1),
    }


def slow_bodies(url: str, count: int = 70) -> dict[str, Any]:
    """`count` connections announcing 100 bytes and sending 1, beside a normal client."""
    socks = []
    for _ in range(count):
        sock = _connect(url)
        sock.sendall(
            f"POST /{INDEX}/_count HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{".encode()
        )
        socks.append(sock)
    time.sleep(1.0)
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=60) as client:
        figures = {
            "connections": count,
            "count_status_ms": timed(lambda: client.get(f"/{INDEX}/_count")),
            "put_status_ms": timed(lambda: client.put(f"/{INDEX}/_doc/slow", json={"v": 1})),
            "readyz_status_ms": timed(lambda: client.get("/readyz")),
        }
    answers = _parallel(count, lambda i: _status_line(socks[i]))
    figures["slow_clients_cut_after_s"] = round(time.monotonic() - started + 1.0, 1)
    figures["slow_clients_answers"] = sorted(set(answers))
    for sock in socks:
        sock.close()
    return figures


def _bulk(docs: int, doc_bytes: int) -> bytes:
    filler = json.dumps({"blob": "x" * doc_bytes})
    lines = []
    for i in range(docs):
        lines.append(json.dumps({"index": {"_index": INDEX + "-blobs", "_id": f"b{i}"}}))
        lines.append(filler)
    return ("\n".join(lines) + "\n").encode()


def bulks(url: str, direct: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-ndjson"}
    body = _bulk(40, MB)
    chunked = _bulk(45, MB)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(chunked), MB):
            yield chunked[start : start + MB]

    figures: dict[str, Any] = {"bulk_mb": round(len(body) / MB, 1)}
    with httpx.Client(timeout=300, headers=headers) as client:
        for name, base in (("direct", direct), ("sidecar", url)):
            figures[f"{name}_40mb_status_ms"] = timed(
                lambda b=base: client.post(f"{b}/_bulk", content=body)
            )
            figures[f"{name}_45mb_chunked_status_ms"] = timed(
                lambda b=base: client.post(f"{b}/_bulk", content=chunks())
            )
    with _connect(url) as sock:
        sock.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (105 * MB))
        figures["declared_105mb_answer"] = _status_line(sock)
    return figures


def passthrough_latency(url: str, direct: str, reps: int = 300) -> dict[str, Any]:
    figures = {}
    with httpx.Client(timeout=30) as client:
        for name, base in (("direct", direct), ("sidecar", url)):
            for _ in range(30):
                client.get(f"{base}/{INDEX}/_count")
            samples = []
            for _ in range(reps):
                started = time.perf_counter()
                client.get(f"{base}/{INDEX}/_count")
                samples.append((time.perf_counter() - started) * 1000)
            samples.sort()
            figures[f"{name}_p50_ms"] = round(samples[len(samples) // 2], 2)
            figures[f"{name}_p95_ms"] = round(samples[int(len(samples) * 0.95)], 2)
    return figures


def run(os_url: str, url: str, pid: int) -> dict[str, Any]:
    httpx.put(f"{os_url}/{INDEX}", json={"settings": {"number_of_replicas": 0}}, timeout=60)
    blobs = {"settings": {"number_of_replicas": 0}, "mappings": {"dynamic": False}}
    httpx.put(f"{os_url}/{INDEX}-blobs", json=blobs, timeout=60)
    figures: dict[str, Any] = {"rss_mb_start": rss_mb(pid)}
    figures["endless_100mb_heads_x4"] = _parallel(4, lambda _: endless_head(url, 100 * MB, False))
    figures["rss_mb_after_endless_heads"] = rss_mb(pid)
    figures["completed_100mb_head"] = endless_head(url, 100 * MB, True)
    figures["poisoned_connection"] = poisoned(url)
    figures["slowloris"] = slowloris(url)
    figures["slow_bodies"] = slow_bodies(url)
    figures["bulk"] = bulks(url, os_url)
    figures["passthrough_count"] = passthrough_latency(url, os_url)
    figures["rss_mb_end"] = rss_mb(pid)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opensearch-url", help="a running OpenSearch (else one is started)")
    parser.add_argument("--json", dest="json_out", help="write the figures here as JSON")
    args = parser.parse_args(argv)
    log = ROOT / ".run" / "bench-proxy-isolation.log"
    log.parent.mkdir(exist_ok=True)
    with (
        opensearch_node(args.opensearch_url) as os_url,
        sidecar_process(os_url, {}, log) as (
            url,
            pid,
        ),
    ):
        figures = run(os_url, url, pid)
    print(json.dumps(figures, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
