"""Every path the sidecar does not rerank goes to OpenSearch unchanged, streamed both ways.

Status, headers (minus hop-by-hop ones) and body pass through as they are, including the
client's own auth headers: the sidecar adds no credentials and checks none here. When
OpenSearch cannot be reached the client gets 502 (504 on a timeout) in OpenSearch's error
shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match

from sidecar.api.deps import ServicesDep
from sidecar.api.errors import error_response, is_own_route

log = logging.getLogger(__name__)
# RFC 9110 §7.6.1 connection-specific headers, plus Host (the upstream's own is used).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
router = APIRouter()
PROXY_PATH = "/{path:path}"


@router.api_route(PROXY_PATH, methods=METHODS, include_in_schema=False)
async def proxy(request: Request, services: ServicesDep) -> Response:
    """Forward the request to OpenSearch and stream its answer back."""
    if is_own_route(request.url.path):  # ours: a wrong method or an unknown API, not OpenSearch's
        known = any(r.matches(request.scope)[0] is Match.PARTIAL for r in request.app.routes)
        raise HTTPException(405 if known else 404)
    client = services.upstream
    # httpx.Request, not client.build_request: the client's default headers (its own
    # Accept-Encoding, User-Agent) must not be added to what the caller sent.
    upstream_request = httpx.Request(
        request.method,
        str(client.base_url).rstrip("/") + _target(request),
        headers=_forward_headers(request.headers.raw),
        content=_body(request),
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.TimeoutException:
        return error_response(request.url.path, 504, "timeout_exception", "OpenSearch timed out")
    except httpx.HTTPError as exc:
        log.warning("OpenSearch unreachable for %s %s: %r", request.method, request.url.path, exc)
        return error_response(
            request.url.path, 502, "upstream_unavailable", "OpenSearch is unreachable"
        )
    remember_product_headers(services.product_headers, upstream.headers)
    response = StreamingResponse(
        _stream(upstream),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    response.raw_headers = [
        (name, value)
        for name, value in upstream.headers.raw
        if name.decode("latin-1").lower() not in HOP_BY_HOP
    ]
    return response


PRODUCT_HEADERS = ("x-elastic-product",)


def remember_product_headers(known: dict[str, str], headers: httpx.Headers) -> None:
    for name in PRODUCT_HEADERS:
        value = headers.get(name)
        if value is not None and known.get(name) != value:
            known[name] = value


def _target(request: Request) -> str:
    # The raw path keeps the client's percent-encoding (index names, ids with slashes).
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = path.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


def _forward_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in raw if k.decode("latin-1").lower() not in HOP_BY_HOP]


def _body(request: Request) -> AsyncIterator[bytes] | None:
    headers = request.headers
    if "content-length" not in headers and "transfer-encoding" not in headers:
        return None
    if headers.get("content-length") == "0":
        return None
    return request.stream()


async def _stream(upstream: httpx.Response) -> AsyncIterator[bytes]:
    # Raw bytes: a gzip-encoded answer stays gzip, matching its Content-Encoding.
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:  # headers are sent already: all we can do is stop
        log.warning("OpenSearch stream broke: %r", exc)
