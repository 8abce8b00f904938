"""SSRF-guarded image fetching over HTTP(S), plus local files under a configured root.

Every hop (the first URL and each redirect) is checked by `net_guard` and connected to
the checked address. Connect and read timeouts bound each socket operation; the total
deadline bounds the whole fetch, slow-drip servers included. Bodies are streamed under a
byte cap and must be JPEG, PNG or WEBP by both content type and magic bytes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from yarl import URL

from connectors.errors import (
    FetchFailed,
    FetchRefused,
    FetchTimeout,
    ImageFetchError,
    ImageTooLarge,
    NotAnImage,
)
from connectors.image_decode import MAGIC_BYTES_NEEDED, require_image_magic
from connectors.local_images import is_local_ref, read_local_image
from connectors.net_guard import HostPolicy, resolve_checked
from connectors.pinned_resolver import PinnedResolver

__all__ = [
    "FetchConfig",
    "FetchFailed",
    "FetchRefused",
    "FetchTimeout",
    "ImageFetchError",
    "ImageFetcher",
    "ImageTooLarge",
    "NotAnImage",
    "SafeImageFetcher",
]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """Image fetch limits and policy (the sidecar maps its settings onto this)."""

    allowed_schemes: tuple[str, ...] = ("https", "http")
    allowed_hosts: tuple[str, ...] = ()  # empty: any public host
    allow_private_hosts: tuple[str, ...] = ()  # exact names trusted even if private
    local_root: str | None = None  # local paths must resolve under it; None: refused
    connect_timeout_s: float = 1.0
    read_timeout_s: float = 2.0
    total_timeout_s: float = 3.0
    max_bytes: int = 8 * 1024 * 1024
    max_redirects: int = 3
    user_agent: str = "lychee-rerank-sidecar/0.1 (image fetcher)"

    def __post_init__(self) -> None:
        timeouts = (self.connect_timeout_s, self.read_timeout_s, self.total_timeout_s)
        if min(timeouts) <= 0 or self.max_bytes < 1 or self.max_redirects < 0:
            raise ValueError("fetch timeouts and max_bytes must be positive, max_redirects >= 0")

    @property
    def policy(self) -> HostPolicy:
        return HostPolicy(self.allowed_schemes, self.allowed_hosts, self.allow_private_hosts)


class ImageFetcher(Protocol):
    """Turns an image reference (URL or local path) into its encoded bytes."""

    async def fetch(self, ref: str) -> bytes:
        """Return JPEG/PNG/WEBP bytes or raise an ImageFetchError subclass."""
        ...


class SafeImageFetcher:
    """The production ImageFetcher: one pooled aiohttp session behind the SSRF guard."""

    def __init__(self, config: FetchConfig) -> None:
        self._config = config
        self._policy = config.policy
        self._resolver = PinnedResolver()
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, ref: str) -> bytes:
        """Fetch `ref` within the total deadline; raise ImageFetchError on any failure."""
        ref = ref.strip()
        if not ref:
            raise FetchRefused("empty image reference")
        try:
            async with asyncio.timeout(self._config.total_timeout_s):
                if is_local_ref(ref):
                    return await self._read_local(ref)
                return await self._fetch_url(URL("https:" + ref if ref.startswith("//") else ref))
        except TimeoutError as exc:
            raise FetchTimeout(f"no complete image within {self._config.total_timeout_s}s") from exc
        except ValueError as exc:  # yarl rejects malformed URLs with ValueError
            raise FetchRefused("malformed image URL") from exc

    async def close(self) -> None:
        """Close the HTTP session; the fetcher can be used again afterwards."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _read_local(self, ref: str) -> bytes:
        config = self._config
        data = await asyncio.to_thread(read_local_image, ref, config.local_root, config.max_bytes)
        require_image_magic(data)
        return data

    async def _fetch_url(self, url: URL) -> bytes:
        seen: set[str] = set()
        for _ in range(self._config.max_redirects + 1):
            seen.add(str(url))
            await self._check_and_pin(url)
            next_url = await self._request(url)
            if isinstance(next_url, bytes):
                return next_url
            if str(next_url) in seen:
                raise FetchRefused("redirect loop")
            url = next_url
        raise FetchRefused(f"more than {self._config.max_redirects} redirects")

    async def _check_and_pin(self, url: URL) -> None:
        host = self._policy.check_url(url)
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await resolve_checked(host, port, trusted=self._policy.is_trusted(host))
        self._resolver.pin(url.raw_host or host, addresses)

    async def _request(self, url: URL) -> bytes | URL:
        """One hop: the image bytes, or the URL a redirect points to."""
        try:
            async with self._get_session().get(url, allow_redirects=False) as response:
                if response.status in _REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchFailed(f"HTTP {response.status} without a Location")
                    return response.url.join(URL(location))
                if response.status != 200:
                    raise FetchFailed(f"HTTP {response.status}")
                return await self._read_body(response)
        except aiohttp.InvalidURL as exc:
            raise FetchRefused("malformed image URL") from exc
        except aiohttp.ServerTimeoutError as exc:
            raise FetchTimeout("connect or read timeout") from exc
        except aiohttp.ClientError as exc:
            raise FetchFailed(f"HTTP client error ({type(exc).__name__})") from exc

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        cap = self._config.max_bytes
        if not response.content_type.lower().startswith("image/"):
            raise NotAnImage(f"content type {response.content_type!r} is not image/*")
        if response.content_length is not None and response.content_length > cap:
            raise ImageTooLarge(f"Content-Length {response.content_length} exceeds {cap} bytes")
        body = bytearray()
        sniffed = False
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > cap:
                raise ImageTooLarge(f"body exceeds {cap} bytes")
            if not sniffed and len(body) >= MAGIC_BYTES_NEEDED:
                require_image_magic(bytes(body))  # fail before downloading the rest
                sniffed = True
        data = bytes(body)
        require_image_magic(data)
        return data

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            config = self._config
            connector = aiohttp.TCPConnector(
                resolver=self._resolver, use_dns_cache=False, limit=64, limit_per_host=16
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=config.connect_timeout_s,
                    sock_read=config.read_timeout_s,
                ),
                headers={
                    "User-Agent": config.user_agent,
                    "Accept": "image/webp,image/png,image/jpeg",
                    "Accept-Encoding": "identity",  # no gzip bombs; images are compressed anyway
                },
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,  # never route through an environment proxy around the guard
            )
        return self._session
