"""One client cannot hurt another (issue 14, items 4 and 6), against a real OpenSearch and
Redis with the real MiniLM model:

- image-only searches (which MiniLM cannot score) never open the circuit breaker;
- an `_msearch` of 100 searches with window 1000 is refused, naming the limit, while other
  shoppers' searches keep being reranked;
- deeply nested queries get OpenSearch's own answer, never a 500;
- a deadline too short for the whole window reranks the top of it (`partial`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opensearchpy import OpenSearch, helpers

from connectors.score_cache import RedisScoreCache
from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query, Scorer
from sidecar.app import create_app
from sidecar.server_thread import ServerThread
from sidecar.settings import IndexConfig, Settings
from tests.integration.conftest import CountingScorer
from tests.service_procs import RedisServer
from tests.unit.image_bytes import encoded

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INDEX = "isolation-products"
NOUNS = ["mug", "kettle", "teapot", "jacket", "boots", "socks", "lamp", "backpack"]
ADJECTIVES = ["ceramic", "steel", "red", "waterproof", "wool", "vintage", "large", "compact"]
PRODUCTS = [f"{a} {n}" for a in ADJECTIVES for n in NOUNS]  # 64 products
NDJSON = {"Content-Type": "application/x-ndjson"}


def _search_body(text: str, size: int = 5, **rerank: Any) -> dict[str, Any]:
    query = {"match": {"title": text}}
    return {"query": query, "size": size, "ext": {"rerank": {"explain": True, **rerank}}}


@pytest.fixture(scope="module")
def products(opensearch_client: OpenSearch) -> Iterator[str]:
    opensearch_client.indices.create(
        index=INDEX, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}}
    )
    actions = [
        {
            "_index": INDEX,
            "_id": f"p{i}",
            "_source": {"title": title, "selling_points": [f"item {i}", "free shipping"]},
        }
        for i, title in enumerate(PRODUCTS)
    ]
    helpers.bulk(opensearch_client, actions, refresh=True)
    yield INDEX
    opensearch_client.indices.delete(index=INDEX, ignore_unavailable=True)


@pytest.fixture
def redis_cache(_redis_session_server: RedisServer) -> RedisScoreCache:
    # One per test: each sidecar below runs on its own event loop, and a client serves one.
    return RedisScoreCache(_redis_session_server.url, ttl_s=600, timeout_s=0.25)


def _serve(
    serve_sidecar: Any, opensearch_url: str, scorer: Scorer, cache: Any, **overrides: Any
) -> ServerThread:
    settings = Settings(
        opensearch_url=opensearch_url,
        default_index=IndexConfig(window=overrides.pop("window", 20)),
        **overrides,
    )
    settings.result_cache.enabled = False  # every search below runs in full
    return serve_sidecar(create_app(settings, scorer=scorer, cache=cache))  # type: ignore[no-any-return]


def _minilm() -> Scorer:
    return load_scorer("minilm", EngineOptions(device="cpu"))


def test_image_only_searches_never_open_the_breaker(
    products: str, opensearch_url: str, redis_cache: RedisScoreCache, serve_sidecar: Any
) -> None:
    server = _serve(
        serve_sidecar, opensearch_url, _minilm(), redis_cache, breaker_failures=2,
        model_deadline_ms=20_000,
    )  # fmt: skip
    image = base64.b64encode(encoded("PNG", (32, 32), "blue")).decode()
    image_only = {"query": {"match_all": {}}, "ext": {"rerank": {"query_image": image}}}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for _ in range(5):
            answer = client.post(f"/{products}/_search", json=image_only)
            assert answer.status_code == 200  # OpenSearch's order: the model cannot judge it
            assert answer.headers["X-Rerank-Status"] in ("skipped", "degraded")
        others = [client.post(f"/{products}/_search", json=_search_body(q)) for q in NOUNS[:3]]
        health = client.get("/metrics").text
    assert [o.headers["X-Rerank-Status"] for o in others] == ["ok"] * 3
    assert all(o.json()["rerank"]["status"] == "ok" for o in others)
    assert "lychee_breaker_open 0.0" in health


def test_a_100_search_msearch_with_window_1000_is_refused_while_others_rerank(
    products: str, opensearch_url: str, redis_cache: RedisScoreCache, serve_sidecar: Any
) -> None:
    server = _serve(serve_sidecar, opensearch_url, _minilm(), redis_cache, model_deadline_ms=3000)
    lines = []
    for i in range(100):
        lines += [{}, _search_body(f"{NOUNS[i % 8]} {i}", size=10, window=1000)]
    hostile = "".join(json.dumps(line) + "\n" for line in lines)
    statuses: list[str] = []
    stop = threading.Event()

    def shopper() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            i = 0
            while not stop.is_set() or len(statuses) < 6:
                body = _search_body(f"{ADJECTIVES[i % 8]} {NOUNS[(i * 3) % 8]}")
                answer = client.post(f"/{products}/_search", json=body)
                statuses.append(answer.json()["rerank"]["status"])
                i += 1

    worker = threading.Thread(target=shopper, daemon=True)
    worker.start()
    with httpx.Client(base_url=server.url, timeout=120) as client:
        answers = [
            client.post(f"/{products}/_msearch", content=hostile, headers=NDJSON) for _ in range(3)
        ]
        concurrency = client.post(
            f"/{products}/_msearch?max_concurrent_searches=1000",
            content="".join(json.dumps(x) + "\n" for x in [{}, _search_body("mug")]),
            headers=NDJSON,
        )
    stop.set()
    worker.join(timeout=120)
    for answer in answers:
        assert answer.status_code == 400
        reason = answer.json()["error"]["reason"]
        assert "max_msearch_window_pairs" in reason and "10000" in reason
    assert concurrency.status_code == 200  # a larger maximum is lowered, not refused
    assert concurrency.json()["responses"][0]["status"] == 200
    assert statuses and all(s in ("ok", "partial") for s in statuses), statuses


def _nested_bool(levels: int) -> str:
    """A search body of `levels` nested `bool.must`, as text (too deep for json.dumps)."""
    inner = '{"match": {"title": "mug"}}'
    return '{"size": 3, "query": ' + '{"bool": {"must": ' * levels + inner + "}}" * levels + "}"


def test_deep_json_gets_opensearchs_answer_never_a_500(
    products: str, opensearch_url: str, redis_cache: RedisScoreCache, serve_sidecar: Any
) -> None:
    server = _serve(serve_sidecar, opensearch_url, _minilm(), redis_cache, model_deadline_ms=20_000)
    # 253 nested bools in an _msearch item, and 250 (503 JSON levels) in a _search: both
    # parse in OpenSearch (this node drops the connection from ~400 bools on).
    deep_item, deep_search = _nested_bool(253), _nested_bool(250)
    normal = json.dumps(_search_body("mug", size=3))
    msearch = "\n".join(["{}", deep_item, "{}", normal]) + "\n"
    as_json = {"content-type": "application/json"}
    with httpx.Client(timeout=120) as client:
        url, own = f"{opensearch_url}/{products}", f"{server.url}/{products}"
        direct_item = client.post(f"{url}/_search", content=deep_item, headers=as_json)
        direct_search = client.post(f"{url}/_search", content=deep_search, headers=as_json)
        multi = client.post(f"{own}/_msearch", content=msearch, headers=NDJSON)
        single = client.post(f"{own}/_search", content=deep_search, headers=as_json)
        too_deep = client.post(f"{own}/_search", content="[" * 1100 + "]" * 1100, headers=as_json)
    assert multi.status_code == 200
    deep_answer, reranked = multi.json()["responses"]
    assert deep_answer["status"] == direct_item.status_code != 500
    if direct_item.is_success:
        assert _ids(deep_answer) == _ids(direct_item.json())
    assert reranked["status"] == 200 and reranked["rerank"]["status"] == "ok"
    assert single.status_code == direct_search.status_code != 500
    if direct_search.is_success:
        assert _ids(single.json()) == _ids(direct_search.json())
    assert too_deep.status_code == 400
    assert "deeper than 1024 levels" in too_deep.json()["error"]["reason"]


def _ids(response: dict[str, Any]) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


class SlowPerPair(CountingScorer):
    """A slow CPU: the first `free` pairs score at model speed, every later one costs
    `per_pair_s` more. One call for the whole window then misses the deadline entirely."""

    def __init__(self, inner: Scorer, free: int, per_pair_s: float) -> None:
        super().__init__(inner)
        self.free = free
        self.per_pair_s = per_pair_s

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        paid = max(0, self.pairs + len(documents) - self.free) - max(0, self.pairs - self.free)
        self.calls += 1
        self.pairs += len(documents)
        await asyncio.sleep(paid * self.per_pair_s)
        return await self.inner.score(query, documents, instruction)


def test_a_deadline_too_short_for_the_window_reranks_its_top(
    products: str, opensearch_url: str, serve_sidecar: Any
) -> None:
    slow = SlowPerPair(_minilm(), free=8, per_pair_s=0.5)
    server = _serve(
        serve_sidecar, opensearch_url, slow, None, window=40, model_deadline_ms=2500,
        model_chunk_docs=8,
    )  # fmt: skip
    body = _search_body("ceramic mug teapot", size=20)
    with httpx.Client(timeout=60) as client:
        answer = client.post(f"{server.url}/{products}/_search", json=body)
        direct = client.post(
            f"{opensearch_url}/{products}/_search", json={"query": body["query"], "size": 40}
        )
    assert answer.status_code == 200
    rerank = answer.json()["rerank"]
    assert rerank["status"] == "partial" and answer.headers["X-Rerank-Status"] == "partial"
    depth = rerank["depth"]
    assert 0 < depth < 40 and rerank["reason"] == "timeout"
    hits = answer.json()["hits"]["hits"]
    top = [h for h in hits if not h["_rerank"].get("beyond_window")]
    assert 0 < len(top) <= depth  # (rules may drop weak matches among the reranked)
    assert all(h["_rerank"]["model_score"] is not None for h in top)
    scores = [h["_score"] for h in top]
    assert scores == sorted(scores, reverse=True)  # the top is reranked by the model
    window_order = _ids(direct.json())
    assert set(_ids({"hits": {"hits": top}})) <= set(window_order[:depth])
    below = _ids({"hits": {"hits": hits[len(top) :]}})
    assert below == window_order[depth : depth + len(below)]  # OpenSearch's order below
