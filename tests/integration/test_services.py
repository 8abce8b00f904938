"""The real services behave as the sidecar expects: OpenSearch search and Redis reads/writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.service_procs import OpenSearchServer, RedisServer

pytestmark = pytest.mark.integration

TIMEOUT = 30
PRODUCTS = [
    {"sku": "shoe-1", "title": "Lightweight running shoes for men", "price": 79.0},
    {"sku": "shoe-2", "title": "Trail runner shoe with grippy sole", "price": 109.0},
    {"sku": "mug-1", "title": "Ceramic coffee mug", "price": 12.5},
    {"sku": "sock-1", "title": "Running socks, three pairs", "price": 15.0},
]


@pytest.fixture(scope="module")
def products(opensearch_client: OpenSearch, os_index: str) -> str:
    opensearch_client.indices.put_mapping(
        index=os_index,
        body={
            "properties": {
                "sku": {"type": "keyword"},
                "title": {"type": "text", "analyzer": "english"},
                "price": {"type": "float"},
            }
        },
        request_timeout=TIMEOUT,
    )
    actions: list[dict[str, object]] = []
    for product in PRODUCTS:
        actions += [{"index": {"_index": os_index, "_id": product["sku"]}}, product]
    response = opensearch_client.bulk(body=actions, refresh=True, request_timeout=TIMEOUT)
    assert response["errors"] is False
    return os_index


def _skus(response: dict[str, object]) -> list[str]:
    hits = response["hits"]["hits"]  # type: ignore[index]
    return [hit["_id"] for hit in hits]


def test_english_analyzer_stems(opensearch_client: OpenSearch, products: str) -> None:
    tokens = opensearch_client.indices.analyze(
        index=products,
        body={"field": "title", "text": "Running Shoes"},
        request_timeout=TIMEOUT,
    )["tokens"]
    assert [token["token"] for token in tokens] == ["run", "shoe"]


def test_match_finds_stemmed_forms(opensearch_client: OpenSearch, products: str) -> None:
    response = opensearch_client.search(
        index=products,
        body={"query": {"match": {"title": "running shoe"}}},
        request_timeout=TIMEOUT,
    )
    skus = _skus(response)
    assert skus[0] == "shoe-1"
    assert set(skus) == {"shoe-1", "shoe-2", "sock-1"}
    assert "mug-1" not in skus


def test_from_size_pages_are_disjoint(opensearch_client: OpenSearch, products: str) -> None:
    def page(start: int) -> list[str]:
        body = {"query": {"match_all": {}}, "sort": [{"sku": "asc"}], "from": start, "size": 2}
        response = opensearch_client.search(index=products, body=body, request_timeout=TIMEOUT)
        assert response["hits"]["total"]["value"] == len(PRODUCTS)
        return _skus(response)

    assert page(0) + page(2) == sorted(str(product["sku"]) for product in PRODUCTS)


def test_painless_script_score(opensearch_client: OpenSearch, products: str) -> None:
    body = {
        "query": {
            "script_score": {
                "query": {"match": {"title": "shoe"}},
                "script": {"source": "doc['price'].value"},
            }
        }
    }
    response = opensearch_client.search(index=products, body=body, request_timeout=TIMEOUT)
    hits = response["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["shoe-2", "shoe-1"]
    assert hits[0]["_score"] == pytest.approx(109.0)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    yield client
    await client.aclose()


async def test_redis_set_get_with_ttl(redis_client: aioredis.Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}"
    async with redis_client.pipeline(transaction=False) as pipe:
        pipe.set(f"{prefix}:a", b"0.75", ex=60)
        pipe.set(f"{prefix}:b", b"0.08", ex=60)
        await pipe.execute()
    values = await redis_client.mget([f"{prefix}:a", f"{prefix}:missing", f"{prefix}:b"])
    assert values == [b"0.75", None, b"0.08"]
    assert 0 < await redis_client.ttl(f"{prefix}:a") <= 60
    await redis_client.delete(f"{prefix}:a", f"{prefix}:b")


async def test_redis_outage_and_recovery(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.set("test:outage", b"1")
        with redis_server.stopped(), pytest.raises(RedisConnectionError):
            await client.get("test:outage")
        # Same port after the restart; data is gone because nothing is persisted.
        assert await client.get("test:outage") is None
    finally:
        await client.aclose()


@pytest.mark.slow
def test_opensearch_outage_and_recovery(opensearch_server: OpenSearchServer) -> None:
    client = OpenSearch(hosts=[opensearch_server.url], timeout=TIMEOUT, max_retries=0)
    index = f"test-outage-{uuid.uuid4().hex[:8]}"
    client.indices.create(
        index=index, body={"settings": {"number_of_replicas": 0}}, request_timeout=TIMEOUT
    )
    client.index(index=index, id="1", body={"title": "kept"}, refresh=True, request_timeout=TIMEOUT)
    port = opensearch_server.port
    try:
        with opensearch_server.stopped(), pytest.raises(OpenSearchConnectionError):
            client.info(request_timeout=5)
        assert opensearch_server.port == port
        # The node keeps its data directory, so the document survives the restart.
        client.cluster.health(index=index, wait_for_status="green", request_timeout=TIMEOUT)
        assert client.get(index=index, id="1", request_timeout=TIMEOUT)["_source"] == {
            "title": "kept"
        }
    finally:
        client.indices.delete(index=index, ignore_unavailable=True, request_timeout=TIMEOUT)
        client.close()
