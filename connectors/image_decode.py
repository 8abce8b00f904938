"""Image sniffing and decoding limited to JPEG, PNG and WEBP, with a per-call pixel cap."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from connectors.errors import ImageDecodeError, ImageTooLarge, NotAnImage

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
# Enough bytes to tell the three formats apart (WEBP needs 12).
MAGIC_BYTES_NEEDED = 12


def sniff_format(head: bytes) -> str | None:
    """The Pillow format name from the first bytes, or None for anything but JPEG/PNG/WEBP."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def require_image_magic(data: bytes) -> str:
    """The format of `data`, or NotAnImage."""
    fmt = sniff_format(data[:MAGIC_BYTES_NEEDED])
    if fmt is None:
        raise NotAnImage("content is not a JPEG, PNG or WEBP image")
    return fmt


def check_pixel_cap(data: bytes, max_pixels: int) -> tuple[int, int]:
    """The (width, height) of `data` read from its header, or ImageTooLarge over `max_pixels`.

    Only the header is parsed, so checking a decompression bomb costs nothing. A header
    Pillow cannot read raises ImageDecodeError; a body that is corrupt past the header is
    not noticed here (decode_image does).
    """
    fmt = require_image_magic(data)
    with _pillow_errors(fmt), Image.open(io.BytesIO(data), formats=[fmt]) as image:
        return _within_cap(image, max_pixels)


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode `data` into an RGB image, refusing more than `max_pixels` pixels.

    The cap is checked from the header before any pixel data is decoded, so a
    decompression bomb costs nothing. Pillow's own global guard (Image.MAX_IMAGE_PIXELS)
    stays in force and is not modified. Truncated or corrupt data raises ImageDecodeError.
    """
    fmt = require_image_magic(data)
    with _pillow_errors(fmt), Image.open(io.BytesIO(data), formats=[fmt]) as image:
        _within_cap(image, max_pixels)
        image.load()
        return image.convert("RGB")


def _within_cap(image: Image.Image, max_pixels: int) -> tuple[int, int]:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} exceeds the {max_pixels}-pixel cap")
    return width, height


@contextmanager
def _pillow_errors(fmt: str) -> Iterator[None]:
    try:
        yield
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("image exceeds Pillow's decompression-bomb limit") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow signals truncated and corrupt files with these.
        raise ImageDecodeError(f"cannot decode {fmt} image") from exc
