"""Images given by API callers: base64 (optionally a `data:` URI) or an http(s) URL.

URLs go through the SSRF-guarded fetcher (connectors/safe_fetch) like catalog images;
base64 is decoded here with the same byte cap.
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

from connectors.errors import ImageTooLarge, NotAnImage
from connectors.image_decode import require_image_magic


class ImageFetcher(Protocol):
    async def fetch(self, ref: str) -> bytes: ...


class ImageResolver:
    """Turns a caller's image reference into bytes, or raises `ImageFetchError`."""

    def __init__(self, fetcher: ImageFetcher, max_bytes: int) -> None:
        self._fetcher = fetcher
        self._max_bytes = max_bytes

    async def resolve(self, value: str) -> bytes:
        value = value.strip()
        if is_url(value):
            return await self._fetcher.fetch(value)
        return decode_base64_image(value, self._max_bytes)


def is_url(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://"))


def decode_base64_image(value: str, max_bytes: int) -> bytes:
    """Decode base64 image data; a `data:image/...;base64,` prefix is allowed."""
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        if ";base64" not in header:
            raise NotAnImage("a data: URI image must be base64-encoded")
    # base64 is 4/3 the size of its bytes: refuse before decoding a huge string.
    if len(value) * 3 // 4 > max_bytes + 3:
        raise ImageTooLarge(f"the image is larger than {max_bytes} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise NotAnImage("not a URL and not valid base64") from None
    if not data:
        raise NotAnImage("the image is empty")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"the image is larger than {max_bytes} bytes")
    require_image_magic(data)
    return data
