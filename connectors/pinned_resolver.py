"""An aiohttp resolver that only answers with addresses the SSRF guard has approved.

The fetcher checks a host with `net_guard.resolve_checked` and pins the result here just
before each request; aiohttp then connects to exactly those addresses while the URL (and
so the Host header and TLS SNI) keeps the original name. A second DNS answer, e.g. from
a rebinding server, is never consulted.
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from cachetools import TTLCache

from connectors.errors import FetchRefused
from connectors.net_guard import IPAddress


class PinnedResolver(AbstractResolver):
    """Maps host names to pre-checked addresses; refuses names it was not given."""

    def __init__(self, max_hosts: int = 4096, ttl_s: float = 60.0) -> None:
        # Entries only need to live from pin() to connect; the TTL just bounds memory.
        self._pins: TTLCache[str, list[IPAddress]] = TTLCache(maxsize=max_hosts, ttl=ttl_s)

    def pin(self, host: str, addresses: list[IPAddress]) -> None:
        """Record the checked addresses for `host` (exactly as it appears in the URL)."""
        self._pins[host] = list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._pins.get(host)
        if not addresses:
            raise FetchRefused(f"host {host!r} was not checked before connecting")
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in addresses
        ]

    async def close(self) -> None:
        self._pins.clear()
