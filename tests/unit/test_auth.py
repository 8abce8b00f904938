"""Auth: the optional API key on our own APIs, and the client's own OpenSearch credentials
passed through to OpenSearch unchanged (checked against a recording fake OpenSearch)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest

from connectors.score_cache import LruScoreCache
from console.client import SidecarClient
from console.errors import ConsoleError
from lychee_engine.types import Document, Query
from sidecar.app import create_app
from sidecar.embedded_server import free_port, serve_in_thread
from sidecar.settings import Settings

KEY = "k3y-for-tests"
CLIENT_AUTH = "Basic YWxpY2U6c2VjcmV0"  # the storefront's own OpenSearch credentials


class EchoScorer:
    model_id = "echo"
    revision = "1"
    supports_images = False

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        return [0.5 for _ in documents]

    async def close(self) -> None:
        return None


class _FakeOpenSearch(http.server.BaseHTTPRequestHandler):
    """Records every request's path and headers; `/secured` answers 401 like a real node."""

    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}  # HTTP names: any case
        type(self).seen.append((self.command, self.path, headers))
        if self.path.startswith("/secured"):
            body = b'{"error":{"type":"security_exception","reason":"missing auth"},"status":401}'
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="security"')
        elif "_search" in self.path:
            hit = {"_index": "p", "_id": "1", "_score": 1.0, "_source": {"title": "mug"}}
            body = json.dumps(
                {"took": 1, "timed_out": False, "hits": {"total": {"value": 1}, "hits": [hit]}}
            ).encode()
            self.send_response(200)
        else:
            body = b'[{"index": "products"}]'
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def opensearch() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _FakeOpenSearch)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def sidecar(opensearch: str) -> Iterator[str]:
    settings = Settings(opensearch_url=opensearch, api_key=KEY)
    app = create_app(settings, scorer=EchoScorer(), cache=LruScoreCache(10))  # type: ignore[arg-type]
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    _FakeOpenSearch.seen.clear()


RERANK = {"query": "mug", "documents": ["a mug"]}


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/rerank", RERANK),
        ("/v1/rerank", RERANK),
        ("/api/score", {"query": "mug", "document": "a mug"}),
    ],
)
def test_our_apis_need_the_key(sidecar: str, path: str, payload: dict[str, Any]) -> None:
    url = sidecar + path
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": f"Bearer {KEY}x"}):
        denied = httpx.post(url, json=payload, headers=headers)
        assert denied.status_code == 401, headers
        assert denied.json()["error"]["type"] == "unauthorized"
        assert KEY not in denied.text
    for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        assert httpx.post(url, json=payload, headers=headers).status_code == 200
    assert _FakeOpenSearch.seen == []  # the key check never touches OpenSearch


def test_warm_needs_the_key_and_names_what_it_cannot_warm(sidecar: str) -> None:
    url, payload = f"{sidecar}/api/warm", {"index": "products"}
    denied = httpx.post(url, json=payload)
    assert denied.status_code == 401 and denied.json()["error"]["type"] == "unauthorized"
    refused = httpx.post(url, json=payload, headers={"X-API-Key": KEY})
    assert refused.status_code == 409
    assert refused.json()["error"]["reason"].startswith("nothing to warm: ")
    assert _FakeOpenSearch.seen == []  # refused before walking anything


def test_probes_stay_open(sidecar: str) -> None:
    assert httpx.get(f"{sidecar}/healthz").status_code == 200
    assert httpx.get(f"{sidecar}/readyz").status_code == 200


def test_the_console_sends_the_key(sidecar: str) -> None:
    with_key = SidecarClient(sidecar, api_key=KEY)
    without = SidecarClient(sidecar)
    try:
        rows = with_key.rerank("mug", ["a mug", "a lamp"], None)
        assert len(rows) == 2
        assert with_key.indices() == ["products"]
        with pytest.raises(ConsoleError):
            without.rerank("mug", ["a mug"], None)
    finally:
        with_key.close()
        without.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_cat/indices?format=json"), ("PUT", "/products/_doc/1"), ("GET", "/")],
)
def test_proxy_passes_the_clients_auth_unchanged(sidecar: str, method: str, path: str) -> None:
    headers = {"Authorization": CLIENT_AUTH, "X-Opaque-Id": "trace-7"}
    response = httpx.request(method, sidecar + path, headers=headers, content=b'{"a": 1}')
    assert response.status_code == 200
    (seen,) = _FakeOpenSearch.seen
    assert seen[:2] == (method, path)
    assert seen[2]["authorization"] == CLIENT_AUTH
    assert seen[2]["x-opaque-id"] == "trace-7"


def test_proxy_adds_no_credentials_of_its_own(sidecar: str) -> None:
    response = httpx.get(f"{sidecar}/secured/_doc/1")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="security"'
    assert response.json()["error"]["type"] == "security_exception"
    (seen,) = _FakeOpenSearch.seen
    assert "authorization" not in seen[2]
    assert "x-api-key" not in seen[2]


def test_search_route_passes_the_clients_auth(sidecar: str) -> None:
    body = {"query": {"match": {"title": "mug"}}}
    response = httpx.post(
        f"{sidecar}/products/_search", json=body, headers={"Authorization": CLIENT_AUTH}
    )
    assert response.status_code == 200
    searches = [s for s in _FakeOpenSearch.seen if "_search" in s[1]]
    assert searches and all(s[2].get("authorization") == CLIENT_AUTH for s in searches)
