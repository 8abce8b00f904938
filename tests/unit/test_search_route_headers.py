"""The reranked search route speaks like the engine behind it: Elasticsearch's product header,
and `filter_path` applied to the response the sidecar builds itself."""

from __future__ import annotations

import json

import httpx
from fastapi.testclient import TestClient

from connectors.score_cache import LruScoreCache
from sidecar.app import create_app
from sidecar.settings import Settings
from tests.unit.test_api import OneChunk, StaticSearch, WordScorer

SEARCH = {"query": {"match": {"title": "red mug"}}}


def _elasticsearch(request: httpx.Request) -> httpx.Response:
    body = json.dumps({"version": {"number": "8.15.0"}, "tagline": "You Know, for Search"})
    headers = {"X-Elastic-Product": "Elasticsearch", "Content-Type": "application/json"}
    return httpx.Response(200, headers=headers, stream=OneChunk(body.encode()))


def _client(handler: httpx.MockTransport) -> TestClient:
    app = create_app(
        Settings(),
        scorer=WordScorer(),
        cache=LruScoreCache(100),
        search=StaticSearch(),
        upstream_transport=handler,
    )
    return TestClient(app)


def test_reranked_search_carries_the_elastic_product_header_once_upstream_sent_it() -> None:
    with _client(httpx.MockTransport(_elasticsearch)) as client:
        assert client.get("/").headers["x-elastic-product"] == "Elasticsearch"  # pass-through
        response = client.post("/products/_search", json=SEARCH)
    assert response.status_code == 200
    assert response.headers["x-rerank-status"] == "ok"
    assert response.headers["x-elastic-product"] == "Elasticsearch"


def test_readiness_probe_learns_the_product_header_before_any_pass_through() -> None:
    with _client(httpx.MockTransport(_elasticsearch)) as client:
        assert client.get("/readyz").status_code == 200
        response = client.post("/products/_search", json=SEARCH)
    assert response.headers["x-elastic-product"] == "Elasticsearch"


def test_opensearch_upstream_adds_no_product_header() -> None:
    def opensearch(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"version": {"distribution": "opensearch"}}).encode()
        return httpx.Response(200, stream=OneChunk(body))

    with _client(httpx.MockTransport(opensearch)) as client:
        client.get("/")
        response = client.post("/products/_search", json=SEARCH)
    assert "x-elastic-product" not in response.headers


def test_filter_path_applies_to_the_reranked_response() -> None:
    with _client(httpx.MockTransport(_elasticsearch)) as client:
        response = client.post(
            "/products/_search",
            params={"filter_path": "hits.hits._id,hits.total"},
            json=SEARCH,
        )
    assert response.status_code == 200
    body = response.json()  # "blue lamp" (0.0) falls under the default min score
    # ... and leaves the result list, so the total counts 2 (sidecar/paging.py).
    assert body == {"hits": {"total": {"value": 2}, "hits": [{"_id": "1"}, {"_id": "2"}]}}


def test_bad_filter_path_is_a_400_naming_it() -> None:
    with _client(httpx.MockTransport(_elasticsearch)) as client:
        response = client.post(
            "/products/_search", params={"filter_path": "hits..hits"}, json=SEARCH
        )
    assert response.status_code == 400
    assert "filter_path" in response.json()["error"]["reason"]


def test_msearch_applies_filter_path_to_the_whole_answer_and_keeps_the_product_header() -> None:
    lines = [{"index": "products"}, SEARCH, {}, {"query": {"match": {"title": "lamp"}}}]
    ndjson = "".join(json.dumps(line) + "\n" for line in lines)
    with _client(httpx.MockTransport(_elasticsearch)) as client:
        client.get("/")
        response = client.post(
            "/products/_msearch",
            params={"filter_path": "responses.hits.hits._id,responses.status"},
            content=ndjson,
            headers={"Content-Type": "application/x-ndjson"},
        )
    assert response.status_code == 200
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    assert response.json() == {
        "responses": [
            {"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}, "status": 200},
            {"hits": {"hits": [{"_id": "0"}]}, "status": 200},
        ]
    }
