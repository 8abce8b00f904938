"""The pass-through proxy's connection to OpenSearch: httpx's API over aiohttp's sockets.

Measured on this project's dev box, one keep-alive GET to OpenSearch costs ~2.7 ms through
httpx's own async transport and ~0.7 ms through aiohttp, and every pass-through request
pays it. httpx stays the interface (tests swap in `httpx.MockTransport`).
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

# aiohttp would add these when the caller did not send them; the proxy forwards exactly the
# caller's headers (an added Accept-Encoding would get a gzip answer the caller can't read).
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def aiohttp_transport(pool_size: int = 64) -> httpx.AsyncBaseTransport:
    """A transport whose aiohttp session is made on first use, inside the running loop."""

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=30)
        return aiohttp.ClientSession(
            connector=connector, skip_auto_headers=_NO_AUTO_HEADERS, auto_decompress=False
        )

    return _Transport(client=session)


class _Transport(AiohttpTransport):
    """httpx-aiohttp 0.2 maps every aiohttp connection error, a refused connection included,
    to httpx.ConnectTimeout; the proxy answers 504 for timeouts and 502 for the rest."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            if isinstance(exc.__cause__, TimeoutError):  # aiohttp's timeouts are TimeoutErrors
                raise
            raise httpx.ConnectError(str(exc), request=request) from exc.__cause__
