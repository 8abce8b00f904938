"""The HTTP layer with a fake scorer, a fake OpenSearch search and a mock proxy transport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from connectors.errors import UpstreamError
from connectors.score_cache import LruScoreCache
from lychee_engine.errors import Overloaded
from lychee_engine.types import Document, Query
from sidecar.app import create_app
from sidecar.settings import LimitSettings, Settings


class WordScorer:
    """Score = share of query words found in the document (deterministic, instant)."""

    model_id = "word-overlap"
    revision = "1"
    supports_images = False

    def __init__(self) -> None:
        self.calls: list[list[str | None]] = []
        self.overloaded = False

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        if self.overloaded:
            raise Overloaded("queue full")
        self.calls.append([d.text for d in documents])
        words = set((query.text or "").lower().split())
        return [
            len(words & set((d.text or "").lower().replace(",", " ").split())) / max(len(words), 1)
            for d in documents
        ]

    async def close(self) -> None:
        return None


class StaticSearch:
    def __init__(self) -> None:
        self.error: UpstreamError | None = None

    async def search(
        self,
        index: str | None,
        body: dict[str, Any],
        params: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        hits = [
            {"_index": index, "_id": str(i), "_score": 3.0 - i, "_source": {"title": t}}
            for i, t in enumerate(["blue lamp", "red mug", "red mug large"])
        ]
        return {"took": 1, "timed_out": False, "hits": {"total": {"value": 3}, "hits": hits}}

    async def close(self) -> None:
        return None


class OneChunk(httpx.AsyncByteStream):
    """A not-yet-read response body, so the proxy really streams it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data


class Upstream:
    """A mock OpenSearch behind the proxy: records requests, answers with canned bodies."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        body = request.read()
        self.requests.append(request)
        payload = {"path": request.url.raw_path.decode(), "len": len(body)}
        data = json.dumps(payload).encode()
        return httpx.Response(
            201 if request.method == "PUT" else 200,
            headers={
                "X-Opensearch-Thing": "yes",
                "Connection": "keep-alive",
                "Content-Type": "application/json",
                "Content-Length": str(len(data)),
            },
            stream=OneChunk(data),
        )


@pytest.fixture
def scorer() -> WordScorer:
    return WordScorer()


@pytest.fixture
def search() -> StaticSearch:
    return StaticSearch()


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


def _client(
    scorer: WordScorer, search: StaticSearch, upstream: Upstream, **settings: Any
) -> TestClient:
    settings.setdefault("limits", LimitSettings(max_documents=5, max_query_chars=50))
    app = create_app(
        Settings(**settings),
        scorer=scorer,
        cache=LruScoreCache(100),
        search=search,
        upstream_transport=httpx.MockTransport(upstream.handle),
    )
    return TestClient(app)


@pytest.fixture
def client(scorer: WordScorer, search: StaticSearch, upstream: Upstream) -> Iterator[TestClient]:
    with _client(scorer, search, upstream) as test_client:
        yield test_client


def test_rerank_best_first_with_bands(client: TestClient) -> None:
    response = client.post(
        "/api/rerank",
        json={"query": "red mug", "documents": ["blue lamp", "red mug", {"text": "a red car"}]},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "word-overlap"
    assert [(r["index"], r["score"], r["band"]) for r in body["results"]] == [
        (1, 1.0, "strong"),
        (2, 0.5, "weak"),
        (0, 0.0, "weak"),
    ]
    assert body["results"][1]["document"] == {"text": "a red car"}


def test_rerank_top_n_and_rounding(client: TestClient) -> None:
    response = client.post(
        "/api/rerank", json={"query": "a b c", "documents": ["a", "a b", "c d"], "top_n": 2}
    )
    assert [(r["index"], r["score"]) for r in response.json()["results"]] == [
        (1, 0.667),
        (0, 0.333),
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"query": "x", "documents": ["d"] * 6}, "documents"),
        ({"query": "x", "documents": []}, "documents"),
        ({"query": "x" * 51, "documents": ["d"]}, "query"),
        ({"query": "x", "documents": ["d"], "top_n": 0}, "top_n"),
        ({"query": "x", "documents": ["d"], "surprise": 1}, "surprise"),
        ({"documents": ["d"]}, "query"),
    ],
)
def test_rerank_validation_names_the_field(
    client: TestClient, payload: dict[str, Any], field: str
) -> None:
    response = client.post("/api/rerank", json=payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert field in error["reason"]


def test_images_on_a_text_model_are_refused(client: TestClient) -> None:
    response = client.post(
        "/api/rerank", json={"query": "x", "documents": [{"text": "d", "image": "aGk="}]}
    )
    assert response.status_code == 400
    assert "documents.0.image" in response.json()["error"]["reason"]


def test_overloaded_model_is_429(client: TestClient, scorer: WordScorer) -> None:
    scorer.overloaded = True
    response = client.post("/api/rerank", json={"query": "x", "documents": ["d"]})
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "overloaded"


def test_cohere_compatible_rerank(client: TestClient) -> None:
    response = client.post(
        "/v1/rerank",
        json={
            "model": "rerank-english-v3.0",
            "query": "red mug",
            "documents": ["blue lamp", {"text": "red mug"}, ""],
            "top_n": 2,
            "return_documents": True,
            "rank_fields": ["text"],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "word-overlap"
    assert body["id"]
    assert body["results"][0] == {
        "index": 1,
        "relevance_score": 1.0,
        "document": {"text": "red mug"},
    }
    assert len(body["results"]) == 2
    plain = client.post("/v1/rerank", json={"query": "red", "documents": ["red", "x"]}).json()
    assert "document" not in plain["results"][0]


def test_score_explains_fragments_in_one_batched_call(
    client: TestClient, scorer: WordScorer
) -> None:
    document = "Red mug | Dishwasher safe. Holds 350 ml | Blue glaze"
    response = client.post("/api/score", json={"query": "red blue mug", "document": document})
    assert response.status_code == 200
    body = response.json()
    assert body["score"] == 1.0
    assert body["band"] == "strong"
    fragments = body["fragments"]
    assert [f["text"] for f in fragments] == [
        "Red mug",
        "Dishwasher safe.",
        "Holds 350 ml",
        "Blue glaze",
    ]
    assert all(document[f["start"] : f["end"]] == f["text"] for f in fragments)
    assert [f["impact"] for f in fragments] == [0.667, 0.0, 0.0, 0.333]
    assert len(scorer.calls) == 1
    assert scorer.calls[0][0] == document
    assert scorer.calls[0][1] == "Dishwasher safe. Holds 350 ml | Blue glaze"
    assert scorer.calls[0][4] == "Red mug | Dishwasher safe. Holds 350 ml"


def test_api_key_guards_our_routes_only(
    scorer: WordScorer, search: StaticSearch, upstream: Upstream
) -> None:
    with _client(scorer, search, upstream, api_key="s3cret") as client:
        payload = {"query": "x", "documents": ["x"]}
        denied = client.post("/api/rerank", json=payload)
        assert denied.status_code == 401
        assert denied.json() == {
            "error": {
                "type": "unauthorized",
                "reason": "a valid API key is required (X-API-Key header)",
            }
        }
        assert (
            client.post("/api/rerank", json=payload, headers={"X-API-Key": "nope"}).status_code
            == 401
        )
        assert (
            client.post("/api/rerank", json=payload, headers={"X-API-Key": "s3cret"}).status_code
            == 200
        )
        bearer = {"Authorization": "Bearer s3cret"}
        assert client.post("/v1/rerank", json=payload, headers=bearer).status_code == 200
        assert client.get("/products/_count").status_code == 200  # proxy: no key needed
        assert (
            client.post("/products/_search", json={"query": {"match": {"t": "x"}}}).status_code
            == 200
        )


def test_health_and_readiness(client: TestClient, upstream: Upstream) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"model": "ok (word-overlap)", "opensearch": "ok"}
    # A scorer that does not describe itself: images as it says, every script.
    assert ready.json()["capabilities"] == {
        "images": False,
        "query_images": False,
        "scripts": "all",
        "languages": "multilingual",
        "instruction": True,
    }
    upstream.down = True
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["opensearch"] == "unreachable"


def test_search_route_reranks_and_reports_status(client: TestClient) -> None:
    response = client.post(
        "/products/_search",
        json={"query": {"match": {"title": "red mug"}}, "ext": {"rerank": {"explain": True}}},
    )
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "ok"
    body = response.json()
    assert [h["_id"] for h in body["hits"]["hits"]] == ["1", "2"]  # "blue lamp" below 0.4
    assert body["hits"]["total"] == {"value": 2}  # and out of the result list
    assert body["rerank"]["model"] == "word-overlap"


def test_search_errors_speak_opensearch(client: TestClient, search: StaticSearch) -> None:
    bad = client.post(
        "/products/_search", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    error = bad.json()
    assert error["status"] == 400
    assert error["error"]["type"] == "invalid_request"
    assert error["error"]["root_cause"][0]["reason"].startswith("the request body is not valid")
    missing = {"error": {"type": "index_not_found_exception", "reason": "no such index"}}
    search.error = UpstreamError(404, {**missing, "status": 404})
    response = client.post("/nope/_search", json={"query": {"match": {"t": "x"}}})
    assert response.status_code == 404
    assert response.json() == {**missing, "status": 404}


def test_a_window_over_the_limit_is_refused_in_opensearch_shape(client: TestClient) -> None:
    body = {"query": {"match": {"title": "mug"}}, "ext": {"rerank": {"window": 10_000}}}
    response = client.post("/products/_search", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["status"] == 400
    assert "limits.max_window" in error["error"]["root_cause"][0]["reason"]


def test_proxy_passes_everything_through(client: TestClient, upstream: Upstream) -> None:
    response = client.put(
        "/products/_doc/a%2Fb?refresh=true",
        content=json.dumps({"title": "x"}).encode(),
        headers={"Authorization": "Basic dXNlcjpwYXNz", "Proxy-Authorization": "secret"},
    )
    assert response.status_code == 201
    assert response.json() == {"path": "/products/_doc/a%2Fb?refresh=true", "len": 14}
    assert response.headers["X-Opensearch-Thing"] == "yes"
    sent = upstream.requests[-1]
    assert sent.method == "PUT"
    assert sent.headers["Authorization"] == "Basic dXNlcjpwYXNz"
    assert "Proxy-Authorization" not in sent.headers
    head = client.head("/products")
    assert head.status_code == 200
    assert upstream.requests[-1].method == "HEAD"


def test_proxy_reports_opensearch_down_in_its_shape(client: TestClient, upstream: Upstream) -> None:
    upstream.down = True
    response = client.get("/_cluster/health")
    assert response.status_code == 502
    body = response.json()
    assert body["status"] == 502
    assert body["error"]["root_cause"][0]["type"] == "upstream_unavailable"


def test_metrics_count_routes_and_stages(client: TestClient) -> None:
    client.post("/products/_search", json={"query": {"match": {"title": "red mug"}}})
    client.post("/products/_search", json={"query": {"match": {"title": "red mug"}}})
    text = client.get("/metrics").text
    assert 'lychee_requests_total{method="POST",route="/{index}/_search",status="200"} 2.0' in text
    assert 'lychee_stage_seconds_count{stage="retrieve"} 2.0' in text
    assert "lychee_cache_hits_total 3.0" in text
    assert 'lychee_rerank_total{reason="",status="ok"} 2.0' in text
    assert "lychee_breaker_open 0.0" in text
    assert "lychee_cache_errors 0.0" in text


def test_openapi_shows_the_limits(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    text = json.dumps(schema)
    assert "/api/rerank" in schema["paths"] and "/v1/rerank" in schema["paths"]
    assert '"maxItems": 5' in text
    assert '"maxLength": 50' in text


async def _send_bare(
    scorer: WordScorer, search: StaticSearch, upstream: Upstream, request: httpx.Request
) -> httpx.Response:
    """Send `request` to the app as is: only its own headers, none of an httpx client's."""
    app = _client(scorer, search, upstream).app
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        response = await httpx.ASGITransport(app=app).handle_async_request(request)
        await response.aread()
    return response


async def test_proxy_forwards_a_non_ascii_header_byte_exact(
    scorer: WordScorer, search: StaticSearch, upstream: Upstream
) -> None:
    note = "café".encode()  # obs-text in a header value: allowed, not ASCII
    request = httpx.Request("GET", "http://sidecar/_cat/indices", headers=[(b"X-Note", note)])
    response = await _send_bare(scorer, search, upstream, request)
    assert response.status_code == 200
    assert (b"x-note", note) in upstream.requests[-1].headers.raw  # ASGI lower-cases names


async def test_proxy_adds_no_headers_of_its_own(
    scorer: WordScorer, search: StaticSearch, upstream: Upstream
) -> None:
    # A bare request: only Host, none of an httpx client's default headers.
    request = httpx.Request("GET", "http://sidecar/_cat/indices")
    response = await _send_bare(scorer, search, upstream, request)
    assert response.status_code == 200
    sent = upstream.requests[-1]
    assert "Accept-Encoding" not in sent.headers
    assert "User-Agent" not in sent.headers
