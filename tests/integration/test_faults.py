"""Faults against the real services: Redis killed mid-loop, OpenSearch stopped, a slow
model, and an engine that runs out of memory. Each keeps answering, and recovers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from opensearchpy import OpenSearch, helpers

from connectors.score_cache import RedisScoreCache
from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from sidecar.app import create_app
from sidecar.server_thread import ServerThread
from sidecar.settings import IndexConfig, Settings
from tests.integration.conftest import CountingScorer
from tests.service_procs import OpenSearchServer, RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INDEX = "faults-products"
WINDOW = 12
PRODUCTS = [
    "Ceramic coffee mug | 350 ml | dishwasher safe",
    "Stainless steel travel mug | leak proof lid",
    "Espresso cup set | 4 porcelain cups",
    "Large tea mug with infuser | loose leaf tea",
    "Coffee grinder | burr grinder with 15 settings",
    "French press coffee maker | borosilicate glass",
    "Mens trail running shoes | waterproof upper",
    "Womens road running shoes | breathable mesh",
    "Leather office chair | lumbar support",
    "LED desk lamp | dimmable with USB port",
    "Wool hiking socks | merino wool",
    "Insulated water bottle | keeps drinks cold",
    "Camping enamel mug | campfire safe",
    "Cotton bath towel | quick dry",
]
QUERIES = ["coffee mug", "running shoes", "tea", "desk lamp", "water bottle", "wool socks"]


def _search_body(text: str, explain: bool = True) -> dict[str, Any]:
    query = {"multi_match": {"query": text, "fields": ["title", "selling_points"]}}
    return {"query": query, "size": 5, "ext": {"rerank": {"explain": explain}}}


@pytest.fixture(scope="module")
def managed_os(_opensearch_session_server: OpenSearchServer) -> Iterator[str]:
    """The managed node (the one fault tests may stop), holding this module's index."""
    url = _opensearch_session_server.url
    client = OpenSearch(hosts=[url], timeout=30)
    client.indices.create(
        index=INDEX, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}}
    )
    actions = [
        {
            "_index": INDEX,
            "_id": f"p{i}",
            "_source": {"title": t.split(" | ")[0], "selling_points": t.split(" | ")[1:]},
        }
        for i, t in enumerate(PRODUCTS)
    ]
    helpers.bulk(client, actions, refresh=True)
    yield url
    client.indices.delete(index=INDEX, ignore_unavailable=True)
    client.close()


@pytest.fixture(scope="module")
def redis_cache(_redis_session_server: RedisServer) -> RedisScoreCache:
    return RedisScoreCache(_redis_session_server.url, ttl_s=600, timeout_s=0.25, retry_after_s=0.5)


@pytest.fixture(scope="module")
def sidecar(managed_os: str, redis_cache: RedisScoreCache, serve_sidecar: Any) -> ServerThread:
    """One MiniLM sidecar on the managed OpenSearch and Redis (a scorer serves one loop)."""
    scorer = load_scorer("minilm", EngineOptions(device="cpu"))
    app = create_app(_settings(managed_os), scorer=scorer, cache=redis_cache)
    return serve_sidecar(app)  # type: ignore[no-any-return]


def _settings(opensearch_url: str, **overrides: Any) -> Settings:
    overrides.setdefault("model_deadline_ms", 3000)
    return Settings(
        opensearch_url=opensearch_url, default_index=IndexConfig(window=WINDOW), **overrides
    )


def test_redis_killed_and_restarted_during_a_request_loop(
    sidecar: ServerThread, redis_server: RedisServer, redis_cache: RedisScoreCache
) -> None:
    server, cache = sidecar, redis_cache
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            i = 0
            while not stop.is_set():
                body = _search_body(QUERIES[i % len(QUERIES)])
                response = client.post(f"/{INDEX}/_search", json=body)
                results.append((response.status_code, response.headers.get("X-Rerank-Status", "")))
                i += 1

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    _wait_for(lambda: len(results) >= 10, 60)
    redis_server.stop()  # SIGTERM while requests are in flight
    during = len(results)
    _wait_for(lambda: len(results) >= during + 10, 60)
    redis_server.start()
    after = len(results)
    _wait_for(lambda: len(results) >= after + 10, 60)
    stop.set()
    worker.join(timeout=60)

    assert len(results) >= 30
    assert all(status == 200 for status, _ in results), results
    assert all(rerank == "ok" for _, rerank in results), results
    assert cache.stats.errors > 0  # the outage was real and was absorbed
    # Caching resumes: after the restart a repeated query is served from Redis again.
    time.sleep(0.6)  # past retry_after_s, so the cache is tried again
    fresh = "insulated bottle for camping"
    first = httpx.post(f"{server.url}/{INDEX}/_search", json=_search_body(fresh), timeout=30)
    second = httpx.post(f"{server.url}/{INDEX}/_search", json=_search_body(fresh), timeout=30)
    assert first.status_code == second.status_code == 200
    assert second.json()["rerank"]["cache_hits"] > 0
    assert all(hit["_rerank"]["cached"] for hit in second.json()["hits"]["hits"])


def test_opensearch_stopped_answers_in_its_shape_and_recovers(
    sidecar: ServerThread, opensearch_server: OpenSearchServer
) -> None:
    url = sidecar.url
    assert httpx.post(f"{url}/{INDEX}/_search", json=_search_body("tea"), timeout=30).is_success
    with opensearch_server.stopped():
        started = time.monotonic()
        search = httpx.post(f"{url}/{INDEX}/_search", json=_search_body("tea"), timeout=30)
        proxied = httpx.get(f"{url}/{INDEX}/_count", timeout=30)
        ready = httpx.get(f"{url}/readyz", timeout=30)
        elapsed = time.monotonic() - started
        assert search.status_code in (502, 503)
        body = search.json()
        assert body["status"] == search.status_code
        assert body["error"]["type"] == "upstream_unavailable"
        assert "OpenSearch" in body["error"]["reason"]
        assert proxied.status_code in (502, 503)
        assert proxied.json()["error"]["root_cause"][0]["type"] == "upstream_unavailable"
        assert ready.status_code == 503
        assert ready.json()["checks"]["opensearch"] == "unreachable"
        assert elapsed < 10  # refused connections fail fast; nothing waits for a timeout
    recovered = httpx.post(f"{url}/{INDEX}/_search", json=_search_body("tea"), timeout=30)
    assert recovered.status_code == 200
    assert recovered.headers["X-Rerank-Status"] == "ok"
    assert httpx.get(f"{url}/{INDEX}/_count", timeout=30).json()["count"] == len(PRODUCTS)
    assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200


def test_a_slow_model_degrades_within_the_deadline_and_trips_the_breaker(
    managed_os: str, serve_sidecar: Any
) -> None:
    slow = CountingScorer(load_scorer("minilm", EngineOptions(device="cpu")))
    # A model silent for longer than breaker_stall_s is broken, not busy: its deadline
    # misses count (a busy engine's never do: tests/unit/test_ordered_scoring.py).
    settings = _settings(
        managed_os,
        model_deadline_ms=1000,
        breaker_failures=3,
        breaker_reset_s=3.0,
        breaker_stall_s=0.5,
    )
    server: ServerThread = serve_sidecar(create_app(settings, scorer=slow))
    slow.delay_s = 20.0

    def search(text: str) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = httpx.post(f"{server.url}/{INDEX}/_search", json=_search_body(text), timeout=30)
        return response, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(search, [f"{q} gift" for q in QUERIES]))
    for response, elapsed in answers:
        assert response.status_code == 200
        assert response.headers["X-Rerank-Status"] == "degraded"
        assert response.json()["rerank"]["reason"] in ("timeout", "breaker_open")
        assert elapsed < 6.0  # 1 s deadline plus a loaded machine's slack, never the 20 s
    tripped, elapsed = search("ceramic mug sale")
    assert tripped.json()["rerank"]["reason"] == "breaker_open"
    assert elapsed < 2.0  # an open breaker answers without waiting for the model
    slow.delay_s = 0.0
    time.sleep(3.2)  # half-open: the next call is a trial, and it succeeds
    healed, _ = search("ceramic mug sale")
    assert healed.headers["X-Rerank-Status"] == "ok", healed.json()["rerank"].get("reason")


def test_engine_out_of_memory_halves_batches_and_never_crashes(
    managed_os: str, tmp_path: Path, serve_sidecar: Any
) -> None:
    from lychee_engine.tiny import write_tiny_checkpoint

    torch.set_num_threads(1)
    scorer = load_scorer(
        f"tiny:{write_tiny_checkpoint(tmp_path / 'tiny')}",
        EngineOptions(device="cpu", max_batch_tokens=100_000),
    )
    backend = scorer.backend  # type: ignore[attr-defined]
    batch_sizes: list[int] = []
    oom_above = {"pairs": 1}

    def hook(batch: int, length: int) -> None:
        batch_sizes.append(batch)
        if batch > oom_above["pairs"]:
            raise torch.cuda.OutOfMemoryError(f"simulated: no room for {batch} x {length}")

    backend.forward_hook = hook
    settings = _settings(managed_os, model_deadline_ms=60_000)
    server: ServerThread = serve_sidecar(create_app(settings, scorer=scorer))
    url = server.url

    halved = httpx.post(f"{url}/{INDEX}/_search", json=_search_body("coffee mug"), timeout=90)
    assert halved.status_code == 200
    assert halved.headers["X-Rerank-Status"] == "ok"
    assert all(h["_rerank"]["model_score"] is not None for h in halved.json()["hits"]["hits"])
    assert max(batch_sizes) > 1 and batch_sizes[-1] == 1  # tried big, halved down to single pairs

    oom_above["pairs"] = 0  # even one pair does not fit: the model is unusable
    degraded = httpx.post(f"{url}/{INDEX}/_search", json=_search_body("tea mug"), timeout=90)
    assert degraded.status_code == 200
    assert degraded.json()["rerank"]["status"] == "degraded"
    assert degraded.json()["rerank"]["reason"] == "engine_error"
    api = httpx.post(
        f"{url}/api/rerank", json={"query": "tea", "documents": ["tea mug", "lamp"]}, timeout=90
    )
    assert api.status_code == 503
    assert api.json()["error"]["type"] == "model_unavailable"

    backend.forward_hook = None  # memory is back: the same process serves again
    healthy = httpx.post(f"{url}/{INDEX}/_search", json=_search_body("tea mug"), timeout=90)
    assert healthy.headers["X-Rerank-Status"] == "ok"
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


def _wait_for(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(0.05)
