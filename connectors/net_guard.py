"""SSRF guard: which URLs may be fetched, and which addresses they may resolve to.

A URL passes when its scheme is allowed, its host is on the allow-list (an empty list
allows any host) and EVERY address the host resolves to is a public unicast address.
IPv6 forms that embed an IPv4 address (mapped, 6to4, NAT64) are judged by that IPv4
address; IPv4-compatible (::/96) and Teredo addresses are refused outright.

`allow_private_hosts` is the one escape hatch: exact host names an operator trusts (an
internal CDN, a test server). Their addresses are not checked. It is never implied.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from yarl import URL

from connectors.errors import FetchFailed, FetchRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_IPV4_COMPAT = ipaddress.IPv6Network("::/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def parse_ip(text: str) -> IPAddress | None:
    """The address if `text` is a literal IPv4/IPv6 address (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses (nothing private, local or special)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id or ip in _IPV4_COMPAT or ip in _TEREDO or ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    special = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )
    return ip.is_global and not special


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Scheme and host rules for outgoing image requests.

    `allowed_hosts` entries are exact names or `*.example.com` (any subdomain); empty
    means any public host. `allow_private_hosts` are exact names whose addresses are
    trusted even when private or loopback.
    """

    allowed_schemes: tuple[str, ...] = ("https", "http")
    allowed_hosts: tuple[str, ...] = ()
    allow_private_hosts: tuple[str, ...] = ()

    def check_url(self, url: URL) -> str:
        """Return the URL's normalised host, or raise FetchRefused."""
        scheme = (url.scheme or "").lower()
        if scheme not in {s.lower() for s in self.allowed_schemes}:
            raise FetchRefused(f"scheme {scheme or '(none)'!r} is not allowed")
        host = normalise_host(url.raw_host or "")
        if not host:
            raise FetchRefused("URL has no host")
        if self.is_trusted(host):
            return host
        if self.allowed_hosts and not any(_host_matches(host, p) for p in self.allowed_hosts):
            raise FetchRefused(f"host {host!r} is not on the allow-list")
        return host

    def is_trusted(self, host: str) -> bool:
        """True when an operator listed this exact host in `allow_private_hosts`."""
        return host in {normalise_host(h) for h in self.allow_private_hosts}


def normalise_host(host: str) -> str:
    """Lower-case, without brackets or the trailing dot of a fully qualified name."""
    return host.strip("[]").rstrip(".").lower()


async def resolve_checked(host: str, port: int, *, trusted: bool = False) -> list[IPAddress]:
    """Resolve `host` (off the event loop) and return its addresses if all are public.

    Raises FetchRefused when any address is not public (unless `trusted`), FetchFailed
    when the name does not resolve. Callers must connect to these addresses, not resolve
    the name again, or a rebinding DNS server could answer differently the second time.
    """
    literal = parse_ip(host)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await _getaddrinfo(host, port)
    if not trusted and not all(is_public_address(ip) for ip in addresses):
        raise FetchRefused(f"host {host!r} resolves to a non-public address")
    return addresses


async def _getaddrinfo(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"cannot resolve host {host!r}") from exc
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchFailed(f"host {host!r} has no IPv4/IPv6 address")
    return addresses
