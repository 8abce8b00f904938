"""The product's HTTP server: uvicorn on httptools, with the limits a public server needs.

uvicorn's httptools protocol has no cap on header bytes (httptools buffers a header of any
size) and no header or body read timeout: four clients sending 100 MB heads grew RSS by
0.45 GB, and slowloris connections were never closed. `GuardedHttpToolsProtocol` adds:

- caps on the request head, OpenSearch's own by default: the header lines (431) and the
  request line (414), and on the raw bytes of a head that never completes (431); each
  answer closes the connection;
- a header timeout: the whole head must arrive within `header_timeout_s` of its first byte
  (of the connection, for a new one), else 408 and close;
- a body idle timeout: while a request body is due and the app is waiting for it, the
  client may stay silent at most `body_idle_timeout_s`, else 408 and close.

uvicorn itself enforces the keep-alive idle timeout and the connection cap
(`limit_concurrency`: 503 past it); `max_connections_per_client` caps one client address
(503 and close). Both the product (`python -m sidecar`) and the test
servers (sidecar/server_thread.py) are built by `server_config`.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sidecar.settings import ServerSettings


def server_config(
    app: Any, limits: ServerSettings, host: str, port: int, **options: Any
) -> uvicorn.Config:
    """The uvicorn config of the sidecar, with every server limit from `limits`."""
    # One class per server: its connection counts are that server's alone.
    attributes = {"limits": limits, "open_by_client": {}}
    protocol = type("SidecarHttpProtocol", (GuardedHttpToolsProtocol,), attributes)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        proxy_headers=False,
        timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]  # a float works
        limit_concurrency=limits.max_connections,
        **options,
    )


_ERRORS = {
    408: ("request_timeout", b"Request Timeout"),
    414: ("too_long_http_line_exception", b"URI Too Long"),
    431: ("too_long_http_header_exception", b"Request Header Fields Too Large"),
    503: ("too_many_connections", b"Service Unavailable"),
}


def _error(status: int, reason: str) -> bytes:
    """A complete close-delimited answer in OpenSearch's error shape."""
    error_type, phrase = _ERRORS[status]
    cause = {"type": error_type, "reason": reason}
    body = orjson.dumps({"error": {"root_cause": [cause], **cause}, "status": status})
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n" % (status, phrase)
    return head + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body


# Line endings and separators, which OpenSearch does not count, on top of both caps.
HEAD_SLACK_BYTES = 2048


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over a cap."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size cap and head/body read timeouts."""

    limits: ClassVar[ServerSettings] = ServerSettings()
    open_by_client: ClassVar[dict[str, int]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True  # the next bytes belong to a request line or headers
        self._head_bytes = 0  # raw bytes of the head so far
        self._header_bytes = 0  # header lines so far, as OpenSearch counts them
        self._head_refusal: _HeadTooLarge | None = None
        self._reading_body = False  # headers are in, the message is not complete yet
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._address: str | None = None  # counted in open_by_client

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timeout)
        cap = self.limits.max_connections_per_client
        if cap and self.client is not None:
            self._address = self.client[0]
            count = self.open_by_client.get(self._address, 0) + 1
            self.open_by_client[self._address] = count
            if count > cap:
                self._refuse(503, f"over {cap} open connections from this address")

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        if self._address is not None:
            left = self.open_by_client.pop(self._address, 1) - 1
            if left > 0:
                self.open_by_client[self._address] = left
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_body:
            self._arm_body_timer()
        # Feed the head at most up to the cap: whatever follows the head in the same read is
        # body (or the next request) and is fed unmetered once the head is complete.
        while data and self._reading_head and not self.transport.is_closing():
            room = self._raw_head_cap() - self._head_bytes
            if room <= 0:
                self._refuse(431, f"the request head is over {self._raw_head_cap()} bytes")
                return
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(
                    self.limits.header_timeout_s, self._head_timeout
                )
            part, data = data[:room], data[room:]
            self._head_bytes += len(part)
            super().data_received(part)
        if data and not self.transport.is_closing():
            super().data_received(data)

    def _raw_head_cap(self) -> int:
        limits = self.limits
        return limits.max_request_line_bytes + limits.max_header_bytes + HEAD_SLACK_BYTES

    # Parser callbacks. Raising stops the parser; uvicorn then answers 400 through
    # send_400_response, which answers the refusal instead.

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line_bytes:
            cap = self.limits.max_request_line_bytes
            raise self._refusing(414, f"the request line is over {cap} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 2  # "name: value"
        if self._header_bytes > self.limits.max_header_bytes:
            cap = self.limits.max_header_bytes
            raise self._refusing(431, f"the request headers are over {cap} bytes")
        super().on_header(name, value)

    def _refusing(self, status: int, reason: str) -> _HeadTooLarge:
        self._head_refusal = _HeadTooLarge(status, reason)
        return self._head_refusal

    def send_400_response(self, msg: str) -> None:
        refusal, self._head_refusal = self._head_refusal, None
        if refusal is None:
            super().send_400_response(msg)
        else:
            self._refuse(refusal.status, refusal.reason)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._header_bytes = 0
        self._cancel_head_timer()
        self._reading_body = True
        self._arm_body_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._cancel_body_timer()
        self._reading_head = True
        super().on_message_complete()

    # Timers

    def _head_timeout(self) -> None:
        self._head_timer = None
        if not self._reading_head or self.transport.is_closing():
            return
        if self._head_bytes == 0:  # an idle connection that never sent a byte: just close
            self.transport.close()
        else:
            self._refuse(408, f"the request head took over {self.limits.header_timeout_s:g} s")

    def _body_timeout(self) -> None:
        self._body_timer = None
        if not self._reading_body or self.transport.is_closing():
            return
        if self.flow.read_paused:  # the app has not taken what it has: not the client's delay
            self._arm_body_timer()
            return
        self._refuse(408, f"the request body stalled over {self.limits.body_idle_timeout_s:g} s")

    def _arm_body_timer(self) -> None:
        self._cancel_body_timer()
        self._body_timer = self.loop.call_later(self.limits.body_idle_timeout_s, self._body_timeout)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _refuse(self, status: int, reason: str) -> None:
        """Answer `status` when no response is under way, then close the connection.

        The request's app task (if any) sees a disconnect: its receive() returns
        `http.disconnect` and whatever it sends afterwards is dropped."""
        self._cancel_head_timer()
        self._cancel_body_timer()
        cycle = self.cycle
        answer = cycle is None or cycle.response_complete or not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        if answer:
            self.transport.write(_error(status, reason))
        self.transport.close()
