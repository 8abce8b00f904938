"""A pure ASGI middleware that guards request bodies before any route sees them.

- Body size: a declared Content-Length over the cap is refused at once (413, nothing is
  read); a body without one (chunked) is counted as it streams and refused when the count
  passes the cap, so a lying or absent Content-Length cannot get more than the cap in.
  Two caps: `max_body_bytes` for what the sidecar reads itself (our APIs, `_search`,
  `_msearch`), `max_passthrough_bytes` for what it only streams to OpenSearch (bytes as
  sent: a gzip body counts compressed).
- Our JSON APIs (`/api/*`, `/v1/*`): the body must be UTF-8 JSON. A malformed body is a
  400 naming the problem, instead of a validation error about a missing field.

Errors use the caller's shape: ours on `/api` and `/v1`, OpenSearch's everywhere else
(`sidecar.api.errors.error_response`). Pure ASGI, so streamed proxy bodies stay streamed.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sidecar.api.errors import error_response
from sidecar.errors import InvalidRequest, PayloadTooLarge

JSON_PREFIXES = ("/api/", "/v1/")
# Routes that read and parse the whole body themselves (sidecar/api/search.py, msearch.py).
READ_ENDPOINTS = ("/_search", "/_msearch")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyTooLarge(PayloadTooLarge):
    """Raised from `receive` when a streamed body passes the cap."""


class BodyLimitMiddleware:
    """Caps request bodies at `max_body_bytes` and checks JSON bodies of our own APIs."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, max_passthrough_bytes: int | None = None
    ) -> None:
        if max_body_bytes < 1 or (max_passthrough_bytes is not None and max_passthrough_bytes < 1):
            raise ValueError("body limits must be >= 1")
        self._app = app
        self._read_limit = max_body_bytes
        self._passthrough_limit = max_passthrough_bytes or max_body_bytes

    def _limit_for(self, path: str) -> int:
        if path.startswith(JSON_PREFIXES) or path.endswith(READ_ENDPOINTS):
            return self._read_limit
        return self._passthrough_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self._limit_for(path)
        try:
            declared = _content_length(scope)
        except InvalidRequest as exc:
            await _refuse(scope, receive, send, exc)
            return
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, _too_large(limit))
            return
        counted = _counting(receive, limit)
        if scope["method"] in BODY_METHODS and path.startswith(JSON_PREFIXES):
            try:
                body = await _read_all(counted)
                _check_json(body)
            except (InvalidRequest, PayloadTooLarge) as exc:
                await _refuse(scope, receive, send, exc)
                return
            counted = _replay(body, receive)
        await self._guarded(scope, counted, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except BodyTooLarge as exc:
            # The app's own handlers normally answer it; this covers apps without them.
            if started:
                raise
            await error_response(scope["path"], exc.status_code, exc.error_type, exc.reason)(
                scope, receive, send
            )


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counting_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return counting_receive


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"the request body is larger than {limit} bytes")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit():
                raise InvalidRequest(f"Content-Length {text[:40]!r} is not a byte count")
            return int(text)
    return None


async def _read_all(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _check_json(body: bytes) -> None:
    if not body.strip():
        return  # the route's validation names the missing fields
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"the request body is not valid UTF-8 (byte {exc.start}); send UTF-8 JSON"
        ) from None
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as the server's would

    return replay


async def _refuse(
    scope: Scope, receive: Receive, send: Send, exc: InvalidRequest | PayloadTooLarge
) -> None:
    response = error_response(scope["path"], exc.status_code, exc.error_type, exc.reason)
    if exc.status_code == 413:
        response.headers["Connection"] = "close"  # the rest of the body is never read
    await response(scope, receive, send)
