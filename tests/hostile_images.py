"""aiohttp handlers of a hostile image server, shared by the fetcher and request-level tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from tests.unit.image_bytes import encoded

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PNG = encoded("PNG")


async def slow_drip(request: web.Request) -> web.StreamResponse:
    """PNG magic, then one byte every 0.2 s: never idle long enough for a read timeout."""
    response = web.StreamResponse(headers={"Content-Type": "image/png"})
    await response.prepare(request)
    await response.write(PNG[:12])
    for _ in range(150):
        await asyncio.sleep(0.2)
        await response.write(b"\0")
    return response


async def huge(request: web.Request) -> web.StreamResponse:
    """Announces a terabyte, sends PNG magic, then stalls."""
    response = web.StreamResponse(headers={"Content-Type": "image/png"})
    response.content_length = 10**12
    await response.prepare(request)
    await response.write(PNG[:12])
    await asyncio.sleep(30)
    return response


def serve_bytes(body: bytes, content_type: str = "image/png") -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    return handler


def redirect(target: str) -> Handler:
    """302 to `target`, formatted with `n` (the route's {n} plus one) and the query."""

    async def handler(request: web.Request) -> web.Response:
        location = target.format(n=int(request.match_info.get("n", 0)) + 1, **request.query)
        return web.Response(status=302, headers={"Location": location})

    return handler
