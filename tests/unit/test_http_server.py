"""The product's HTTP server limits (sidecar/http_server.py) on a real socket: what they cut,
and what they must leave alone (bodies after a small head, pipelining, a slow app)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from sidecar.server_thread import ServerThread
from sidecar.settings import ServerSettings

LIMITS = ServerSettings(max_header_bytes=2048, header_timeout_s=1.0, body_idle_timeout_s=1.0)


class _Settings:
    server = LIMITS


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    app = FastAPI()
    app.state.settings = _Settings()

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        if request.query_params.get("slow"):
            await asyncio.sleep(2.0)  # longer than the body idle timeout, before reading
        body = await request.body()
        return Response(str(len(body)))

    @app.get("/ping")
    async def ping() -> Response:
        return Response("pong")

    running = ServerThread(app).start()
    yield running
    running.stop()


def _exchange(server: ServerThread, data: bytes, answers: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while received.count(b"HTTP/1.1 ") < answers or not _complete(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def _complete(received: bytes) -> bool:
    head, _, body = received.rpartition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _post(size: int, query: str = "") -> bytes:
    head = f"POST /echo{query} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
    return head.encode() + b"b" * size


def test_a_body_sent_with_a_small_head_is_not_counted_as_head(server: ServerThread) -> None:
    answer = _exchange(server, _post(100_000))
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"100000")


def test_a_head_over_the_cap_is_431(server: ServerThread) -> None:
    head = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
    assert _exchange(server, head).startswith(b"HTTP/1.1 431")
    under = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1800 + b"\r\n\r\n"
    assert _exchange(server, under).startswith(b"HTTP/1.1 200")


def test_pipelined_requests_each_get_their_own_head_budget(server: ServerThread) -> None:
    one = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 1500 + b"\r\n\r\n"
    answer = _exchange(server, one * 3, answers=3)
    assert answer.count(b"HTTP/1.1 200") == 3


def test_a_slow_app_is_not_a_slow_client(server: ServerThread) -> None:
    # The app waits 2 s before reading a 1 MB body: reading pauses, and the 1 s body idle
    # timeout must not blame the client for the silence.
    answer = _exchange(server, _post(1_000_000, "?slow=1"))
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"1000000")


def test_one_address_holds_at_most_its_connections() -> None:
    app = FastAPI()

    class Capped:
        server = ServerSettings(max_connections_per_client=2)

    app.state.settings = Capped()

    @app.get("/ping")
    async def ping() -> Response:
        return Response("pong")

    running = ServerThread(app).start()
    try:
        held = [socket.create_connection(("127.0.0.1", running.port), timeout=10) for _ in range(2)]
        third = _exchange(running, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert third.startswith(b"HTTP/1.1 503")
        for sock in held:
            sock.close()
        time.sleep(0.2)  # the server sees both close
        assert _exchange(running, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
            b"HTTP/1.1 200"
        )
    finally:
        running.stop()


def test_a_request_line_over_the_cap_is_414(server: ServerThread) -> None:
    long_url = b"GET /ping?q=" + b"u" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _exchange(server, long_url).startswith(b"HTTP/1.1 414")
