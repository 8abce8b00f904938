"""The pass-through proxy's connections to OpenSearch: httpx's API over aiohttp's sockets.

Measured on this project's dev box, one keep-alive GET to OpenSearch costs ~2.7 ms through
httpx's own async transport and ~0.7 ms through aiohttp, and every pass-through request
pays it. httpx stays the interface (tests swap in `httpx.MockTransport`).

The pool is shared by every client, so one client's bad exchange must never reach the next
one. A connection goes back to the pool only after a clean exchange: the whole answer read,
and a status that says OpenSearch parsed the request (2xx/3xx, or 404/409, the routine
answers about documents). Anything else closes it: an error status (a node that refused an
oversized request may ignore the rest of that connection without closing it), an answer
not read to its end (client gone, stream broken), a timeout, a failed request body.
Waiting for a free connection is bounded (`pool_timeout`: httpx.PoolTimeout).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httpx
from aiohttp.client_proto import ResponseHandler

# aiohttp would add these when the caller did not send them; the proxy forwards exactly the
# caller's headers (an added Accept-Encoding would get a gzip answer the caller can't read).
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
# aiohttp sets these from the body it sends; the caller's Content-Length is kept.
_BODY_FRAMING = frozenset({b"transfer-encoding", b"host"})
REUSABLE_ERRORS = frozenset({404, 409})
MAX_RESPONSE_HEADER_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 30.0


def aiohttp_transport(pool_size: int = 64, keepalive_s: float = 30.0) -> UpstreamTransport:
    """A transport whose aiohttp session is made on first use, inside the running loop."""
    return UpstreamTransport(pool_size, keepalive_s)


def reusable(status: int) -> bool:
    """Whether a fully read answer with this status leaves the connection clean."""
    return status < 400 or status in REUSABLE_ERRORS


class UpstreamTransport(httpx.AsyncBaseTransport):
    def __init__(self, pool_size: int, keepalive_s: float) -> None:
        self._pool_size = pool_size
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    def _get_session(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None or self._slots is None:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, keepalive_timeout=self._keepalive_s
            )
            # aiohttp pools a connection the moment an answer's body ends, before the caller
            # sees it: the error statuses must mark the connection as they are parsed.
            connector._factory = functools.partial(  # type: ignore[assignment]
                _ClosingOnErrors, loop=asyncio.get_running_loop()
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                skip_auto_headers=_NO_AUTO_HEADERS,
                auto_decompress=False,
                max_line_size=MAX_RESPONSE_HEADER_BYTES,
                max_field_size=MAX_RESPONSE_HEADER_BYTES,
            )
            self._slots = asyncio.Semaphore(self._pool_size)
        return self._session, self._slots

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session, slots = self._get_session()
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        pool_timeout = timeouts.get("pool") or DEFAULT_TIMEOUT_S
        try:
            if slots.locked():  # wait_for costs a task: only when there is a wait
                await asyncio.wait_for(slots.acquire(), pool_timeout)
            else:
                await slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"no free OpenSearch connection within {pool_timeout:g} s", request=request
            ) from None
        try:
            response = await self._send(session, request, timeouts)
        except BaseException:
            slots.release()
            raise
        return httpx.Response(
            response.status,
            headers=[(k, v) for k, v in response.raw_headers],
            stream=_AnswerStream(response, request, slots.release),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def _send(
        self,
        session: aiohttp.ClientSession,
        request: httpx.Request,
        timeouts: dict[str, float | None],
    ) -> aiohttp.ClientResponse:
        # aiohttp encodes header strings as UTF-8: decoding them so keeps a UTF-8 value's
        # bytes exact (bytes that are not UTF-8 cannot pass through it unchanged).
        headers = [
            (k.decode("latin-1"), v.decode("utf-8", "replace"))
            for k, v in request.headers.raw
            if k.lower() not in _BODY_FRAMING
        ]
        connect = timeouts.get("connect") or DEFAULT_TIMEOUT_S
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect, sock_connect=connect, sock_read=timeouts.get("read")
        )
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        try:
            return await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=_request_body(request) if has_body else None,
                allow_redirects=False,
                timeout=timeout,
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(
                str(exc) or type(exc).__name__, request=request
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _ClosingOnErrors(ResponseHandler):
    """aiohttp's connection protocol, closing the connection after a non-reusable status."""

    def feed_data(self, data: Any, size: int = 0) -> None:
        message = data[0]
        if not reusable(message.code):
            self.force_close()
        super().feed_data(data, size)


async def _request_body(request: httpx.Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream:  # type: ignore[union-attr]
        if chunk:
            yield chunk


class _AnswerStream(httpx.AsyncByteStream):
    """OpenSearch's answer as it arrives (raw: a gzip answer stays gzip). Closing it
    returns the connection to the pool only after a clean exchange, else closes it."""

    def __init__(
        self, response: aiohttp.ClientResponse, request: httpx.Request, release: Callable[[], None]
    ) -> None:
        self._response = response
        self._request = request
        self._release_slot: Callable[[], None] | None = release
        self._failed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            self._failed = True
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=self._request) from exc
        except aiohttp.ClientError as exc:
            self._failed = True
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=self._request) from exc

    async def aclose(self) -> None:
        self._finish()

    def _finish(self) -> None:
        release, self._release_slot = self._release_slot, None
        if release is None:
            return
        response = self._response
        clean = not self._failed and response.content.is_eof() and reusable(response.status)
        if clean:
            response.release()
        else:
            response.close()  # the socket is closed, never pooled again
        release()

    def __del__(self) -> None:
        # A caller that dropped the answer without closing it must not shrink the pool.
        self._finish()
