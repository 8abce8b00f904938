"""Every path the sidecar does not rerank goes to OpenSearch unchanged, streamed both ways.

Status, headers (minus hop-by-hop ones, RFC 9110 §7.6.1) and body pass through as they
are, including the client's own auth headers: the sidecar adds no credentials and checks
none here. What may pass is the `passthrough` policy's call (sidecar/passthrough.py): 403
in OpenSearch's shape otherwise.

One client must not hold what all clients share (the upstream pool, sidecar/
upstream_transport.py):
- a body up to `proxy.buffered_body_bytes` is read whole, within `proxy.body_timeout_s`,
  before a connection is taken (408 when the client is slower);
- a larger body streams, past the first buffered part, while at most
  `proxy.max_streamed_uploads` such uploads run at once; a stalled one is cut by the
  server's body idle timeout (sidecar/http_server.py);
- bodies over `proxy.max_content_length` are refused with 413 (sidecar/limits.py).

When OpenSearch cannot be reached the client gets 502 (504 on a timeout, 503 when no
connection frees up in time) in OpenSearch's error shape. A client that goes away is not
an upstream error: nothing is logged, the status recorded is 499.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match

from sidecar.api.deps import ServicesDep
from sidecar.api.errors import error_response, is_own_route
from sidecar.passthrough import is_allowed
from sidecar.services import Services
from sidecar.settings import ProxySettings

log = logging.getLogger(__name__)
# RFC 9110 §7.6.1 connection-specific headers (plus any named in Connection and every
# Proxy-* header), Host (the upstream's own is used) and Expect (this server answered it).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
REQUEST_ONLY = frozenset({"expect"})
BODY_HEADERS = frozenset({b"content-length", b"content-encoding"})
CLIENT_CLOSED = 499  # nginx's "client closed request": recorded, never sent
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
router = APIRouter()
PROXY_PATH = "/{path:path}"


@router.api_route(PROXY_PATH, methods=METHODS, include_in_schema=False)
async def proxy(request: Request, services: ServicesDep) -> Response:
    """Forward the request to OpenSearch and stream its answer back."""
    if is_own_route(request.url.path):  # ours: a wrong method or an unknown API, not OpenSearch's
        known = any(r.matches(request.scope)[0] is Match.PARTIAL for r in request.app.routes)
        raise HTTPException(405 if known else 404)
    raw_path = _raw_path(request)
    if not is_allowed(services.settings.passthrough, request.method, raw_path):
        reason = f"the sidecar's passthrough policy does not allow {request.method} {raw_path}"
        return error_response(request.url.path, 403, "security_exception", reason)
    return await forward(request, services)


async def forward(request: Request, services: Services, body: bytes | None = None) -> Response:
    """Send the request to OpenSearch and stream the answer back. `body`: the request body
    already read (and inflated) by the caller, sent instead of the client's stream."""
    settings = services.settings.proxy
    # As bytes, exactly as the client sent them: httpx would refuse a str header value
    # that is not ASCII (RFC 9110 allows obs-text), turning it into a 500.
    headers = _without_hop_by_hop(request.headers.raw, REQUEST_ONLY)
    upload: asyncio.Semaphore | None = None
    failure: list[BaseException] = []
    if body is not None:
        headers = [(k, v) for k, v in headers if k.lower() not in BODY_HEADERS]
        content: bytes | AsyncIterator[bytes] | None = body
    else:
        try:
            content = await _take_body(request, settings)
        except TimeoutError:
            return _timed_out(request.url.path, settings)
        except ClientDisconnect:
            return Response(status_code=CLIENT_CLOSED)
        if not isinstance(content, bytes | None):
            upload = _upload_slots(request, settings)
            try:
                await asyncio.wait_for(upload.acquire(), settings.pool_timeout_s)
            except TimeoutError:
                busy = _busy(request.url.path, "too many uploads are streaming to OpenSearch")
                busy.headers["Connection"] = "close"  # the rest of the body is never read
                return busy
            content = _watched(content, failure)
    client = services.upstream
    target = _target(request)
    # httpx.Request, not client.build_request: the client's default headers (its own
    # Accept-Encoding, User-Agent) must not be added to what the caller sent.
    upstream_request = httpx.Request(
        request.method,
        str(client.base_url).rstrip("/") + target,
        headers=headers,
        content=content,
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.HTTPError as exc:
        return _send_failed(request, exc, failure)
    finally:
        if upload is not None:
            upload.release()
    remember_product_headers(services.product_headers, upstream.headers)
    if services.write_warmer is not None and upstream.status_code < 300:  # embed the writes
        auth = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
        written = content if isinstance(content, bytes) else None
        services.write_warmer.written(request.method, target, written, auth)
    response = StreamingResponse(
        _stream(upstream),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    response.raw_headers = _without_hop_by_hop(upstream.headers.raw)
    return response


PRODUCT_HEADERS = ("x-elastic-product",)


def remember_product_headers(known: dict[str, str], headers: httpx.Headers) -> None:
    for name in PRODUCT_HEADERS:
        value = headers.get(name)
        if value is not None and known.get(name) != value:
            known[name] = value


def _raw_path(request: Request) -> str:
    # The raw path keeps the client's percent-encoding (index names, ids with slashes).
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return raw.decode("latin-1")


def _target(request: Request) -> str:
    query = request.scope.get("query_string", b"")
    target = _raw_path(request)
    return f"{target}?{query.decode('latin-1')}" if query else target


def _without_hop_by_hop(
    raw: list[tuple[bytes, bytes]], drop: frozenset[str] = frozenset()
) -> list[tuple[bytes, bytes]]:
    """`raw` less the hop-by-hop headers, those named in Connection, and `drop`."""
    named = {
        token.strip().lower()
        for name, value in raw
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    kept = []
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key in HOP_BY_HOP or key in named or key in drop or key.startswith("proxy-"):
            continue
        kept.append((name, value))
    return kept


def _has_body(request: Request) -> bool:
    headers = request.headers
    if "transfer-encoding" in headers:
        return True
    return headers.get("content-length", "0") != "0"


async def _take_body(
    request: Request, settings: ProxySettings
) -> bytes | AsyncIterator[bytes] | None:
    """The whole body when it ends within `buffered_body_bytes`, else an iterator over what
    was read so far and the rest. TimeoutError when the buffered part is too slow."""
    if not _has_body(request):
        return None
    chunks: list[bytes] = []
    size = 0
    stream = request.stream()
    async with asyncio.timeout(settings.body_timeout_s):
        async for chunk in stream:
            chunks.append(chunk)
            size += len(chunk)
            if size > settings.buffered_body_bytes:
                return _rest(chunks, stream)
    return b"".join(chunks)


async def _rest(head: list[bytes], stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    async for chunk in stream:
        yield chunk


async def _watched(
    body: AsyncIterator[bytes], failure: list[BaseException]
) -> AsyncIterator[bytes]:
    """`body`, noting why it stopped early: the transport only sees a failed send."""
    try:
        async for chunk in body:
            yield chunk
    except Exception as exc:  # ClientDisconnect, BodyTooLarge: the client's doing
        failure.append(exc)
        raise


def _upload_slots(request: Request, settings: ProxySettings) -> asyncio.Semaphore:
    state = request.app.state
    slots: asyncio.Semaphore | None = getattr(state, "proxy_upload_slots", None)
    if slots is None:
        slots = state.proxy_upload_slots = asyncio.Semaphore(settings.max_streamed_uploads)
    return slots


def _send_failed(request: Request, exc: httpx.HTTPError, failure: list[BaseException]) -> Response:
    path = request.url.path
    if failure:
        if isinstance(failure[0], ClientDisconnect):
            return Response(status_code=CLIENT_CLOSED)
        raise failure[0]  # BodyTooLarge: the app's handler answers 413
    if isinstance(exc, httpx.PoolTimeout):
        return _busy(path, "no connection to OpenSearch came free in time")
    if isinstance(exc, httpx.TimeoutException):
        return error_response(path, 504, "timeout_exception", "OpenSearch timed out")
    log.warning("OpenSearch unreachable for %s %s: %r", request.method, path, exc)
    return error_response(path, 502, "upstream_unavailable", "OpenSearch is unreachable")


def _busy(path: str, reason: str) -> Response:
    response = error_response(path, 503, "rejected_execution_exception", reason)
    response.headers["Retry-After"] = "1"
    return response


def _timed_out(path: str, settings: ProxySettings) -> Response:
    reason = f"the request body did not arrive within {settings.body_timeout_s:g} s"
    response = error_response(path, 408, "request_timeout", reason)
    response.headers["Connection"] = "close"  # the rest of the body is never read
    return response


async def _stream(upstream: httpx.Response) -> AsyncIterator[bytes]:
    # Raw bytes: a gzip-encoded answer stays gzip, matching its Content-Encoding.
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:  # headers are sent already: all we can do is stop
        log.warning("OpenSearch stream broke: %r", exc)
