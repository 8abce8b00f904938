"""The SSRF guard's address table, host policy and resolution."""

from __future__ import annotations

import ipaddress

import pytest
from yarl import URL

from connectors.errors import FetchFailed, FetchRefused
from connectors.net_guard import HostPolicy, is_public_address, parse_ip, resolve_checked

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "::",
    "::1",
    "fe80::1",
    "fe80::1%1",
    "fc00::1",  # unique local
    "fd12:3456::1",
    "fec0::1",  # site-local (deprecated)
    "ff02::1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "::8.8.8.8",  # IPv4-compatible: refused outright
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1",  # local-use NAT64
    "2001::1",  # Teredo
    "2001:db8::1",  # documentation
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700::1",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",  # mapped public IPv4
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is True


def test_parse_ip_accepts_brackets_and_rejects_names() -> None:
    assert parse_ip("[::1]") == ipaddress.ip_address("::1")
    assert parse_ip("example.com") is None


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://x/", "data:image/png,xx"]
)
def test_scheme_allow_list(url: str) -> None:
    with pytest.raises(FetchRefused, match="scheme"):
        HostPolicy().check_url(URL(url))


def test_host_allow_list_exact_and_wildcard() -> None:
    policy = HostPolicy(allowed_hosts=("cdn.example.com", "*.img.example.org"))
    assert policy.check_url(URL("https://CDN.example.com./a.png")) == "cdn.example.com"
    assert policy.check_url(URL("https://a.b.img.example.org/x")) == "a.b.img.example.org"
    for url in ("https://img.example.org/x", "https://evil.com/x", "https://cdn.example.com.evil/"):
        with pytest.raises(FetchRefused, match="allow-list"):
            policy.check_url(URL(url))


def test_private_host_trust_is_exact_and_never_implied() -> None:
    assert HostPolicy().is_trusted("localhost") is False
    policy = HostPolicy(allowed_hosts=("cdn.example.com",), allow_private_hosts=("Internal.CDN",))
    assert policy.is_trusted("internal.cdn") is True
    assert policy.is_trusted("x.internal.cdn") is False
    assert policy.check_url(URL("http://internal.cdn/a.png")) == "internal.cdn"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "::ffff:127.0.0.1", "169.254.169.254", "localhost", "2130706433"]
)
async def test_resolve_refuses_loopback_literals_and_names(host: str) -> None:
    with pytest.raises(FetchRefused, match="non-public"):
        await resolve_checked(host, 80)


async def test_resolve_trusted_host_may_be_private() -> None:
    assert await resolve_checked("127.0.0.1", 80, trusted=True) == [
        ipaddress.ip_address("127.0.0.1")
    ]


async def test_resolve_public_literal_needs_no_dns() -> None:
    assert await resolve_checked("8.8.8.8", 443) == [ipaddress.ip_address("8.8.8.8")]


async def test_unresolvable_name_fails() -> None:
    with pytest.raises(FetchFailed, match="resolve"):
        await resolve_checked("no-such-host.invalid", 80)
