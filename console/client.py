"""The console's only way to the sidecar: a small typed client over its HTTP API.

Every failure (connection refused, timeout, 4xx/5xx, a body of the wrong shape) leaves as a
`ConsoleError` carrying a sentence the page can show as is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from console import settings
from console.errors import ConsoleError, ErrorKind, from_response, from_transport
from console.models import (
    Readiness,
    RerankRow,
    ScoreResult,
    SearchResult,
    Side,
    parse_readiness,
    parse_rerank,
    parse_score,
    parse_search,
)

CONNECT_TIMEOUT_S = 3.0
# Read timeouts per call: scoring a pair on a cold model, or 50 documents, can take a while.
SCORE_TIMEOUT_S = 120.0
RERANK_TIMEOUT_S = 180.0
SEARCH_TIMEOUT_S = 60.0
SMALL_TIMEOUT_S = 5.0

T = TypeVar("T")


class SidecarClient:
    """Blocking client for the sidecar (Streamlit scripts are synchronous)."""

    def __init__(
        self,
        base_url: str = settings.DEFAULT_URL,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(SEARCH_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        )

    @classmethod
    def from_env(cls) -> SidecarClient:
        """Build from `SIDECAR_URL` and the optional `SIDECAR_API_KEY` (console.settings)."""
        found = settings.load()
        return cls(found.url, found.api_key)

    def close(self) -> None:
        self._http.close()

    def _send(
        self, method: str, path: str, read_timeout: float, body: Any = None
    ) -> httpx.Response:
        timeout = httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT_S)
        try:
            response = self._http.request(method, path, json=body, timeout=timeout)
        except httpx.TransportError as exc:
            raise from_transport(exc, self.base_url) from exc
        if response.status_code >= 400:
            raise from_response(response)
        return response

    def _json(self, method: str, path: str, read_timeout: float, body: Any = None) -> Any:
        response = self._send(method, path, read_timeout, body)
        try:
            return response.json()
        except ValueError as exc:
            raise _bad_shape(path) from exc

    def readiness(self) -> Readiness:
        """`GET /readyz`: ready with the model id, or not ready with the failing parts."""
        try:
            response = self._http.get("/readyz", timeout=SMALL_TIMEOUT_S)
        except httpx.TransportError as exc:
            raise from_transport(exc, self.base_url) from exc
        if response.status_code not in (200, 503):
            raise from_response(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        return parse_readiness(response.status_code == 200, body)

    def score(self, query: Side, document: Side, instruction: str | None) -> ScoreResult:
        """`POST /api/score`: one pair, its score, band and the fragments that drove it."""
        body: dict[str, Any] = {"query": query.to_json(), "document": document.to_json()}
        if instruction:
            body["instruction"] = instruction
        data = self._json("POST", "/api/score", SCORE_TIMEOUT_S, body)
        return _parsed("/api/score", parse_score, data)

    def rerank(
        self, query: str, documents: Sequence[str], instruction: str | None
    ) -> list[RerankRow]:
        """`POST /api/rerank`: every document scored, best first."""
        body: dict[str, Any] = {"query": query, "documents": list(documents)}
        if instruction:
            body["instruction"] = instruction
        data = self._json("POST", "/api/rerank", RERANK_TIMEOUT_S, body)
        return _parsed("/api/rerank", parse_rerank, data)

    def indices(self) -> list[str]:
        """Names of the OpenSearch indices, hidden (dot) indices left out, sorted."""
        data = self._json("GET", "/_cat/indices?format=json", SMALL_TIMEOUT_S)
        if not isinstance(data, list):
            raise _bad_shape("/_cat/indices")
        names = {str(row.get("index", "")) for row in data if isinstance(row, dict)}
        return sorted(name for name in names if name and not name.startswith("."))

    def search(
        self, index: str, text: str, size: int, rerank: bool, instruction: str | None
    ) -> SearchResult:
        """`POST /{index}/_search` with a storefront multi_match and explain on."""
        options: dict[str, Any] = {"explain": True, "enabled": rerank}
        if instruction:
            options["instruction"] = instruction
        body = {
            "query": {"multi_match": {"query": text, "fields": ["title", "selling_points"]}},
            "size": size,
            "ext": {"rerank": options},
        }
        data = self._json("POST", f"/{quote(index, safe='')}/_search", SEARCH_TIMEOUT_S, body)
        return _parsed("_search", parse_search, data)

    def catalog_image(self, name: str) -> bytes | None:
        """A sample-catalog product image, or None when it can't be had (the page shows a
        placeholder rather than an error for a missing picture)."""
        try:
            response = self._send("GET", f"/api/catalog-images/{quote(name)}", SMALL_TIMEOUT_S)
        except ConsoleError:
            return None
        return response.content or None


def _bad_shape(path: str) -> ConsoleError:
    return ConsoleError(ErrorKind.UNEXPECTED, f"The sidecar's answer to {path} was not understood.")


def _parsed(path: str, parse: Callable[[dict[str, Any]], T], data: Any) -> T:
    if not isinstance(data, dict):
        raise _bad_shape(path)
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_shape(path) from exc
