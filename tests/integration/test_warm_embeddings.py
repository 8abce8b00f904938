"""`python -m sidecar warm` against a real OpenSearch and Redis: it fills the shared
embedding cache, and a never-seen query on a fresh sidecar then embeds no document."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from opensearchpy import OpenSearch, helpers

from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from sidecar.app import create_app
from sidecar.settings import CacheSettings, IndexConfig, ResultCacheSettings, Settings
from sidecar.warm import WarmRefused, warm_index

pytestmark = pytest.mark.integration

COLORS = ["red", "navy", "olive", "black", "white", "sand"]
KINDS = ["running shoes", "denim jacket", "hiking backpack", "coffee mug", "wool socks"]
PRODUCTS = [
    {"id": f"p{i}", "title": f"{color} {kind}", "selling_points": [f"style {i}", "free returns"]}
    for i, (color, kind) in enumerate((c, k) for c in COLORS for k in KINDS)
]


@pytest.fixture(scope="module")
def catalog(opensearch_client: OpenSearch, os_index: str) -> str:
    actions = [{"_index": os_index, "_id": p["id"], "_source": p} for p in PRODUCTS]
    helpers.bulk(opensearch_client, actions, refresh=True)
    return os_index


@pytest.fixture
def settings(opensearch_url: str, redis_url: str) -> Iterator[Settings]:
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("lychee:emb:v1:*"):  # embeddings other tests left
        client.delete(key)
    yield Settings(
        opensearch_url=opensearch_url,
        cache=CacheSettings(redis_url=redis_url),
        result_cache=ResultCacheSettings(enabled=False),  # every search runs the pipeline
        default_index=IndexConfig(window=len(PRODUCTS)),
        model_deadline_ms=60_000,
    )


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


async def test_warm_fills_the_cache_and_a_new_query_embeds_no_document(
    settings: Settings, catalog: str, redis_url: str, serve_sidecar: Any
) -> None:
    report = await warm_index(settings, catalog, page_size=7, progress=False)  # 5 pages
    assert (report.documents, report.warmed, report.unscorable) == (30, 30, 0)
    assert len(redis.Redis.from_url(redis_url).keys("lychee:emb:v1:*")) == 30
    again = await warm_index(settings, catalog, page_size=100, progress=False)
    assert (again.documents, again.warmed) == (30, 0)

    # A fresh sidecar (its own process memory empty) sharing the Redis.
    scorer = load_scorer("minilm", EngineOptions(device="cpu"))
    server = serve_sidecar(create_app(settings, scorer=scorer))
    never_seen = f"navy denim jacket for autumn {uuid.uuid4().hex}"  # no score cached
    body = {"query": {"match": {"title": never_seen}}, "size": 5}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        answer = await client.post(f"/{catalog}/_search", json=body)
        assert answer.status_code == 200
        assert answer.headers["X-Rerank-Status"] == "ok"
        assert answer.json()["hits"]["hits"][0]["_source"]["title"] == "navy denim jacket"
        metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "lychee_embedding_cache_misses") == 0  # nothing embedded
    hits = _metric(metrics, "lychee_embedding_cache_hits")
    assert hits == _metric(metrics, "lychee_embedding_cache_redis_hits") >= 1
    assert _metric(metrics, "lychee_embedding_cache_bytes") == hits * 384 * 4


async def test_warm_refuses_when_nothing_shared_would_be_filled(
    settings: Settings, catalog: str
) -> None:
    alone = settings.model_copy(update={"cache": CacheSettings()})
    with pytest.raises(WarmRefused, match="no Redis configured"):
        await warm_index(alone, catalog, progress=False)


async def test_documents_written_through_the_proxy_are_embedded_before_a_search(
    settings: Settings, catalog: str, serve_sidecar: Any, tmp_path: Path
) -> None:
    await warm_index(settings, catalog, progress=False)  # the existing products, in Redis
    rules = tmp_path / "rules.yaml"
    rules.write_text("min_score: 0.0\n")  # keep every hit: the new documents must show
    scorer = load_scorer("minilm", EngineOptions(device="cpu"))
    keep_all = settings.model_copy(update={"rules_path": str(rules)})
    server = serve_sidecar(create_app(keep_all, scorer=scorer))
    new = [("n1", "teal rain poncho"), ("n2", "teal rain boots")]
    bulk = b"".join(
        orjson.dumps({"index": {"_id": doc_id}}) + b"\n" + orjson.dumps({"title": title}) + b"\n"
        for doc_id, title in new
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        written = await client.post(
            f"/{catalog}/_bulk?refresh=true",
            content=bulk,
            headers={"content-type": "application/x-ndjson"},
        )
        assert written.status_code == 200 and written.json()["errors"] is False
        for _ in range(300):  # warmed in the background, after OpenSearch acknowledged
            metrics = (await client.get("/metrics")).text
            if _metric(metrics, "lychee_embedding_warmed_on_write") >= 2:
                break
            await asyncio.sleep(0.1)
        assert _metric(metrics, "lychee_embedding_cache_misses") == 2  # the new ones only
        body = {"query": {"match": {"title": f"teal rain {uuid.uuid4().hex}"}}, "size": 2}
        answer = await client.post(f"/{catalog}/_search", json=body)
        assert answer.headers["X-Rerank-Status"] == "ok"
        assert {h["_id"] for h in answer.json()["hits"]["hits"]} == {"n1", "n2"}
        metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "lychee_embedding_cache_misses") == 2  # the search embedded none
