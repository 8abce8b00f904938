"""Request limits: body size, malformed bodies, and the per-field caps, each a clear 4xx."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from connectors.score_cache import LruScoreCache
from lychee_engine.types import Document, Query
from sidecar.app import create_app
from sidecar.limits import BodyLimitMiddleware
from sidecar.settings import ImageFetchSettings, LimitSettings, ProxySettings, Settings
from tests.unit.image_bytes import encoded, png_claiming_size

LIMITS = LimitSettings(
    max_body_bytes=4096,
    max_documents=4,
    max_text_chars=100,
    max_query_chars=30,
    max_window=40,
)


class LengthScorer:
    """Instant scores; records what it was asked."""

    model_id = "length"
    revision = "1"
    supports_images = True

    def __init__(self) -> None:
        self.calls = 0

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        self.calls += 1
        return [min(len(d.text or "") / 100, 1.0) for d in documents]

    async def close(self) -> None:
        return None


class _Unread(httpx.AsyncByteStream):
    """A response body the proxy has not read yet, so it really streams it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data


class OneHitSearch:
    async def search(
        self, index: str, body: dict[str, Any], params: dict[str, Any], headers: Any = None
    ) -> dict:
        hit = {"_index": index, "_id": "1", "_score": 1.0, "_source": {"title": "red mug"}}
        return {"took": 1, "timed_out": False, "hits": {"total": {"value": 1}, "hits": [hit]}}

    async def close(self) -> None:
        return None


@pytest.fixture
def upstream_requests() -> list[httpx.Request]:
    return []


@pytest.fixture
def scorer() -> LengthScorer:
    return LengthScorer()


@pytest.fixture
def client(scorer: LengthScorer, upstream_requests: list[httpx.Request]) -> Iterator[TestClient]:
    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        upstream_requests.append(request)
        return httpx.Response(200, stream=_Unread(b'{"acknowledged": true}'))

    settings = Settings(
        limits=LIMITS,
        images=ImageFetchSettings(max_bytes=2048),
        proxy=ProxySettings(max_content_length=4096),
    )
    app = create_app(
        settings,
        scorer=scorer,  # type: ignore[arg-type]
        cache=LruScoreCache(100),
        search=OneHitSearch(),
        upstream_transport=httpx.MockTransport(handle),
    )
    assert any(m.cls is BodyLimitMiddleware for m in app.user_middleware)
    with TestClient(app) as test_client:
        yield test_client


def _own_error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type
    assert set(error) == {"type", "reason"}
    return str(error["reason"])


def _opensearch_error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert body["error"]["type"] == error_type
    assert body["error"]["root_cause"][0]["type"] == error_type
    return str(body["error"]["reason"])


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# Every route the API guards once capped itself: the middleware alone must cover them all.
@pytest.mark.parametrize("path", ["/api/rerank", "/v1/rerank", "/api/score"])
def test_declared_oversize_body_is_413_before_the_route(
    client: TestClient, scorer: LengthScorer, path: str
) -> None:
    payload = {"query": "mug", "documents": ["x" * 90] * 4, "pad": "y" * 5000}
    reason = _own_error(client.post(path, json=payload), 413, "payload_too_large")
    assert "4096 bytes" in reason
    assert scorer.calls == 0


def test_streamed_oversize_body_is_counted(client: TestClient) -> None:
    body = json.dumps({"query": "mug", "documents": ["z" * 5000]}).encode()
    response = client.post(
        "/v1/rerank", content=_chunks(body), headers={"Content-Type": "application/json"}
    )
    _own_error(response, 413, "payload_too_large")


def test_passthrough_bodies_have_a_cap_of_their_own() -> None:
    app = create_app(
        Settings(limits=LIMITS, proxy=ProxySettings(max_content_length=20_000)),
        scorer=LengthScorer(),  # type: ignore[arg-type]
        cache=LruScoreCache(100),
        search=OneHitSearch(),
        upstream_transport=httpx.MockTransport(
            lambda r: httpx.Response(200, stream=_Unread(b"{}"))
        ),
    )
    with TestClient(app) as client:
        body = b"x" * 10_000  # over the 4096 bytes of our own APIs, under the pass-through's
        assert client.put("/products/_doc/1", content=body).status_code == 200
        _own_error(client.post("/api/rerank", content=body), 413, "payload_too_large")
        _opensearch_error(client.post("/products/_search", content=body), 413, "payload_too_large")
        over = client.put("/products/_doc/1", content=body * 3)
        _opensearch_error(over, 413, "payload_too_large")


def test_proxy_bodies_are_capped_in_opensearch_shape(
    client: TestClient, upstream_requests: list[httpx.Request]
) -> None:
    big = b'{"title": "' + b"x" * 5000 + b'"}'
    declared = client.put("/products/_doc/1", content=big)
    _opensearch_error(declared, 413, "payload_too_large")
    streamed = client.put("/products/_doc/1", content=_chunks(big))
    _opensearch_error(streamed, 413, "payload_too_large")
    search = client.post("/products/_search", content=big)
    _opensearch_error(search, 413, "payload_too_large")
    assert upstream_requests == []
    small = client.put("/products/_doc/1", content=b'{"title": "ok"}')
    assert small.status_code == 200
    assert upstream_requests[-1].content == b'{"title": "ok"}'


def test_bodies_within_the_cap_pass_unchanged(client: TestClient) -> None:
    response = client.post(
        "/api/rerank",
        content=_chunks(json.dumps({"query": "mug", "documents": ["a", "bb"]}).encode(), 7),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert [r["index"] for r in response.json()["results"]] == [1, 0]


@pytest.mark.parametrize("path", ["/api/rerank", "/v1/rerank", "/api/score"])
def test_malformed_json_is_400_with_the_position(client: TestClient, path: str) -> None:
    response = client.post(path, content=b'{"query": "mug",', headers=_JSON)
    reason = _own_error(response, 400, "invalid_request")
    assert reason.startswith("the request body is not valid JSON")
    assert "line 1" in reason


def test_non_utf8_body_is_400(client: TestClient) -> None:
    body = b'{"query": "caf\xe9", "documents": ["x"]}'
    reason = _own_error(
        client.post("/api/rerank", content=body, headers=_JSON), 400, "invalid_request"
    )
    assert "not valid UTF-8 (byte 14)" in reason


def test_bad_content_length_is_400(client: TestClient) -> None:
    response = client.post("/api/rerank", content=b"{}", headers={"Content-Length": "12abc"})
    assert "not a byte count" in _own_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"query": "mug", "documents": "not a list"}, "documents"),
        ({"query": 42, "documents": ["x"]}, "query"),
        ({"query": "mug", "documents": ["x"], "top_n": "two"}, "top_n"),
        ({"query": "mug", "documents": [{"text": 1}]}, "documents.0"),
        ({"query": "mug", "documents": ["x"] * 5}, "documents"),
        ({"query": "mug", "documents": ["x" * 101]}, "documents.0"),
        ({"query": "q" * 31, "documents": ["x"]}, "query"),
        ({"query": "mug", "documents": ["x"], "instruction": "i" * 31}, "instruction"),
        ([1, 2], "body"),
    ],
)
def test_wrong_types_and_field_limits_are_422(client: TestClient, payload: Any, field: str) -> None:
    reason = _own_error(client.post("/api/rerank", json=payload), 422, "validation_error")
    assert field in reason


def test_oversize_image_names_the_field(client: TestClient) -> None:
    image = base64.b64encode(encoded("PNG", (1, 1)) + b"\0" * 2100).decode()
    payload = {"query": "mug", "documents": ["x", {"text": "y", "image": image}]}
    response = client.post("/api/rerank", json=payload)
    assert response.status_code in (400, 413, 422)
    reason = response.json()["error"]["reason"]
    assert "documents.1.image" in reason and "larger than 2048 bytes" in reason


@pytest.mark.parametrize("path", ["/api/rerank", "/v1/rerank"])
def test_an_image_over_the_pixel_cap_names_the_field(
    client: TestClient, scorer: LengthScorer, path: str
) -> None:
    # A few hundred bytes whose header claims 49 Mpx: over the 40 Mpx default cap.
    image = base64.b64encode(png_claiming_size(7000, 7000)).decode()
    payload = {"query": "mug", "documents": ["x", {"text": "y", "image": image}]}
    response = client.post(path, json=payload)
    reason = _own_error(response, 400, "invalid_request")
    assert "documents.1.image" in reason and "40000000-pixel cap" in reason
    assert scorer.calls == 0


def test_wrong_magic_bytes_name_the_field(client: TestClient) -> None:
    image = base64.b64encode(b"GIF87a-but-not-really" * 4).decode()
    payload = {"query": {"text": "mug", "image": image}, "documents": ["x"]}
    response = client.post("/api/rerank", json=payload)
    assert response.status_code in (400, 422)
    assert "query.image" in response.json()["error"]["reason"]


def test_search_query_and_window_limits_speak_opensearch(client: TestClient) -> None:
    long_query = {"query": {"match": {"title": "m" * 31}}}
    reason = _opensearch_error(
        client.post("/products/_search", json=long_query), 400, "invalid_request"
    )
    assert "longer than 30 characters" in reason
    bad_window = {"query": {"match": {"title": "mug"}}, "ext": {"rerank": {"window": 0}}}
    _opensearch_error(client.post("/products/_search", json=bad_window), 400, "invalid_request")
    not_json = client.post("/products/_search", content=b"{oops", headers=_JSON)
    _opensearch_error(not_json, 400, "invalid_request")


_JSON = {"Content-Type": "application/json"}


async def _run(app: BodyLimitMiddleware, path: str, chunks: list[bytes]) -> list[Message]:
    """Drive the middleware with a body sent in `chunks` and no Content-Length."""
    scope: Scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app (no exception handlers) that reads its whole body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_the_count_spans_chunks_even_without_exception_handlers() -> None:
    app = BodyLimitMiddleware(_echo, max_body_bytes=10)
    ok = await _run(app, "/idx/_doc/1", [b"12345", b"67890"])
    assert ok[0]["status"] == 200 and ok[1]["body"] == b"1234567890"
    over = await _run(app, "/idx/_doc/1", [b"12345", b"67890", b"1"])
    assert over[0]["status"] == 413
    assert json.loads(over[1]["body"])["error"]["root_cause"][0]["type"] == "payload_too_large"
    own = await _run(app, "/api/rerank", [b'{"a":', b' "bcdefgh"}'])
    assert own[0]["status"] == 413
    assert json.loads(own[1]["body"]) == {
        "error": {"type": "payload_too_large", "reason": "the request body is larger than 10 bytes"}
    }


async def test_websocket_and_lifespan_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def noop() -> Message:
        return {}

    async def drop(message: Message) -> None:
        return None

    await BodyLimitMiddleware(app, 10)({"type": "lifespan"}, noop, drop)
    assert seen == ["lifespan"]
    with pytest.raises(ValueError, match=">= 1"):
        BodyLimitMiddleware(app, 0)


def test_our_paths_never_fall_through_to_opensearch(
    client: TestClient, upstream_requests: list[httpx.Request]
) -> None:
    wrong_method = client.put("/api/rerank", json={"query": "mug", "documents": ["x"]})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "method_not_allowed"
    assert client.get("/v1/nothing-here").status_code == 404
    assert client.post("/healthz", content=b"{}").status_code == 405
    assert upstream_requests == []
