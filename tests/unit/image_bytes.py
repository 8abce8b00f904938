"""Tiny encoded images (real, truncated, bomb-shaped) for connector tests."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def encoded(fmt: str = "PNG", size: tuple[int, int] = (8, 6), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims `width` x `height` (a decompression bomb shape)."""
    data = bytearray(encoded("PNG", (1, 1)))
    # IHDR data starts at byte 16: width, height (big-endian), then 5 more bytes, then CRC.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def truncated_png() -> bytes:
    # Noise compresses badly, so half the file is missing real pixel data.
    noisy = Image.effect_noise((64, 64), 64).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    full = buffer.getvalue()
    return full[: len(full) // 2]
