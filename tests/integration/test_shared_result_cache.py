"""The result cache shared through Redis: an answer one sidecar stored is a hit for another
sidecar instance (its own process memory, its own model) that shares the Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis
from opensearchpy import OpenSearch, helpers

from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from sidecar.app import create_app
from sidecar.settings import CacheSettings, IndexConfig, ResultCacheSettings, Settings
from tests.integration.conftest import CountingScorer

pytestmark = pytest.mark.integration

HEADER = "X-Rerank-Result-Cache"
TITLES = ["Ceramic coffee mug", "Travel mug", "Espresso cup set", "Wool hiking socks"]


@pytest.fixture(scope="module")
def catalog(opensearch_client: OpenSearch, os_index: str) -> str:
    actions = [
        {"_index": os_index, "_id": f"p{i}", "_source": {"title": t}} for i, t in enumerate(TITLES)
    ]
    helpers.bulk(opensearch_client, actions, refresh=True)
    return os_index


def _settings(opensearch_url: str, redis_url: str) -> Settings:
    return Settings(
        opensearch_url=opensearch_url,
        cache=CacheSettings(redis_url=redis_url),
        result_cache=ResultCacheSettings(poll_s=0.2),
        default_index=IndexConfig(window=10),
        model_deadline_ms=60_000,  # a degraded answer is never stored
    )


async def test_an_answer_stored_by_one_sidecar_is_a_hit_for_another(
    catalog: str, opensearch_url: str, redis_url: str, serve_sidecar: Any
) -> None:
    settings = _settings(opensearch_url, redis_url)
    models = [CountingScorer(load_scorer("minilm", EngineOptions(device="cpu"))) for _ in "ab"]
    first, second = (serve_sidecar(create_app(settings, scorer=m)) for m in models)
    body = {"query": {"match": {"title": "coffee mug"}}, "size": 3}
    path = f"/{catalog}/_search"
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=60) as a,
        httpx.AsyncClient(base_url=second.url, timeout=60) as b,
    ):
        stored = await a.post(path, json=body)
        assert stored.headers[HEADER] == "miss" and stored.headers["X-Rerank-Status"] == "ok"
        shared = await b.post(path, json=body)
        assert shared.headers[HEADER] == "hit"
        assert shared.content == stored.content
        assert models[1].calls == 0  # the second sidecar never asked its model
        assert (await b.post(path, json=body)).headers[HEADER] == "hit"  # now in its memory
        metrics = (await b.get("/metrics")).text
    assert 'lychee_result_cache_total{outcome="shared_hit"} 1.0' in metrics
    assert 'lychee_result_cache_total{outcome="hit"} 1.0' in metrics
    keys = redis.Redis.from_url(redis_url).keys("lychee:result:v1:*")
    assert keys  # compressed: smaller than the answer
    assert len(redis.Redis.from_url(redis_url).get(keys[0]) or b"") < len(stored.content)


async def test_redis_down_reads_as_a_miss(
    catalog: str, opensearch_url: str, serve_sidecar: Any
) -> None:
    settings = _settings(opensearch_url, "redis://127.0.0.1:1/0")  # nothing listens there
    model = CountingScorer(load_scorer("minilm", EngineOptions(device="cpu")))
    server = serve_sidecar(create_app(settings, scorer=model))
    body = {"query": {"match": {"title": "hiking socks"}}, "size": 2}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        first = await client.post(f"/{catalog}/_search", json=body)
        assert first.status_code == 200 and first.headers[HEADER] == "miss"
        assert (await client.post(f"/{catalog}/_search", json=body)).headers[HEADER] == "hit"
