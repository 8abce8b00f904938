"""The proxy's aiohttp-backed httpx transport: exact headers, and errors the proxy can sort
into 502 (cannot connect) and 504 (timed out)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from sidecar.upstream_transport import aiohttp_transport


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _server(handler: object) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    """Answers every request with its own header block as the body."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(head) + head)
        await writer.drain()
        writer.close()

    async for url in _server(handle):
        yield url


@pytest.fixture
async def silent_url() -> AsyncIterator[str]:
    """Accepts the connection and never answers."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    async for url in _server(handle):
        yield url


async def test_sends_only_the_callers_headers(echo_url: str) -> None:
    async with httpx.AsyncClient(transport=aiohttp_transport()) as client:
        request = httpx.Request("GET", f"{echo_url}/_count", headers=[(b"X-Opaque-Id", b"t1")])
        response = await client.send(request)
    sent = response.content.decode().lower()
    assert "x-opaque-id: t1" in sent
    for added in ("accept-encoding", "user-agent", "accept:", "content-type"):
        assert added not in sent


async def test_a_utf8_header_value_reaches_the_wire_unchanged(echo_url: str) -> None:
    note = "café".encode()
    async with httpx.AsyncClient(transport=aiohttp_transport()) as client:
        request = httpx.Request("GET", f"{echo_url}/_count", headers=[(b"X-Note", note)])
        response = await client.send(request)
    assert b"X-Note: " + note + b"\r\n" in response.content


async def test_refused_connection_is_a_connect_error_not_a_timeout() -> None:
    async with httpx.AsyncClient(transport=aiohttp_transport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{_closed_port()}/")


async def test_silent_upstream_is_a_timeout(silent_url: str) -> None:
    async with httpx.AsyncClient(
        transport=aiohttp_transport(), timeout=httpx.Timeout(0.3, connect=1.0)
    ) as client:
        with pytest.raises(httpx.TimeoutException):
            await client.get(f"{silent_url}/")


@pytest.fixture
async def counting_url() -> AsyncIterator[tuple[str, list[int]]]:
    """Answers `GET /<status>` with that status (`GET /big`: 200 and 1 MB) on a keep-alive
    connection; records, per request, the number of the connection it came on."""
    seen: list[int] = []
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number = connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(number)
                target = head.split(b" ")[1].strip(b"/")
                status, body = (200, b"x" * 1_000_000) if target == b"big" else (int(target), b"{}")
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (status, len(body)))
                writer.write(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async for url in _server(handle):
        yield url, seen


async def test_a_connection_is_pooled_only_after_a_clean_answer(
    counting_url: tuple[str, list[int]],
) -> None:
    url, seen = counting_url
    async with httpx.AsyncClient(transport=aiohttp_transport(pool_size=1)) as client:
        for status in (200, 404, 409, 200, 400, 200, 503, 200, 429, 200):
            assert (await client.get(f"{url}/{status}")).status_code == status
    # 200/404/409 keep the connection; 400, 503 and 429 each end theirs.
    assert seen == [1, 1, 1, 1, 1, 2, 2, 3, 3, 4]


async def test_an_answer_not_read_to_its_end_closes_its_connection(
    counting_url: tuple[str, list[int]],
) -> None:
    url, seen = counting_url
    async with httpx.AsyncClient(transport=aiohttp_transport(pool_size=1)) as client:
        request = client.build_request("GET", f"{url}/big")
        response = await client.send(request, stream=True)
        await response.aclose()  # a client gone mid-answer: the rest of the 1 MB is unread
        await client.get(f"{url}/200")
        await client.get(f"{url}/200")
    assert seen == [1, 2, 2]


async def test_a_full_pool_is_a_pool_timeout(counting_url: tuple[str, list[int]]) -> None:
    url, _ = counting_url
    async with httpx.AsyncClient(
        transport=aiohttp_transport(pool_size=1), timeout=httpx.Timeout(5.0, pool=0.2)
    ) as client:
        held = await client.send(client.build_request("GET", f"{url}/200"), stream=True)
        with pytest.raises(httpx.PoolTimeout):
            await client.get(f"{url}/200")
        await held.aclose()
        assert (await client.get(f"{url}/200")).status_code == 200
