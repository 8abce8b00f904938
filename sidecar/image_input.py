"""Images given by API callers: base64 (optionally a `data:` URI) or an http(s) URL.

URLs go through the SSRF-guarded fetcher (connectors/safe_fetch) like catalog images;
base64 is decoded here with the same byte cap. Either way the pixel cap is checked from
the image's header (connectors/image_decode), so an over-cap image is refused with the
caller's field named instead of reaching the engine.
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

from connectors.errors import ImageTooLarge, NotAnImage
from connectors.image_decode import check_pixel_cap, require_image_magic


class ImageFetcher(Protocol):
    async def fetch(self, ref: str) -> bytes: ...


class ImageResolver:
    """Turns a caller's image reference into bytes, or raises `ImageFetchError`."""

    def __init__(self, fetcher: ImageFetcher, max_bytes: int, max_pixels: int) -> None:
        self._fetcher = fetcher
        self._max_bytes = max_bytes
        self._max_pixels = max_pixels

    async def resolve(self, value: str) -> bytes:
        """The image's bytes, within the byte and pixel caps (`ImageTooLarge` past them)."""
        value = value.strip()
        if is_url(value):
            data = await self._fetcher.fetch(value)
        else:
            data = decode_base64_image(value, self._max_bytes)
        check_pixel_cap(data, self._max_pixels)
        return data


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
