"""Decoding is limited to JPEG/PNG/WEBP, capped in pixels, and fails cleanly."""

from __future__ import annotations

import pytest
from PIL import Image

from connectors.errors import ImageDecodeError, ImageTooLarge, NotAnImage
from connectors.image_decode import decode_image, sniff_format
from tests.unit.image_bytes import encoded, png_claiming_size, truncated_png


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_allowed_formats_decode_to_rgb(fmt: str) -> None:
    image = decode_image(encoded(fmt, (8, 6)), max_pixels=100)
    assert (image.mode, image.size) == ("RGB", (8, 6))
    assert sniff_format(encoded(fmt)) == fmt


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_refused(fmt: str) -> None:
    with pytest.raises(NotAnImage):
        decode_image(encoded(fmt), max_pixels=10_000)


def test_pixel_cap_is_per_call_and_leaves_pillow_global_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLarge, match="8x6 exceeds the 47-pixel cap"):
        decode_image(encoded("PNG", (8, 6)), max_pixels=47)
    assert decode_image(encoded("PNG", (8, 6)), max_pixels=48).size == (8, 6)
    assert before == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize("side", [5_000, 100_000])
def test_decompression_bomb_is_refused_before_decoding(side: int) -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(png_claiming_size(side, side), max_pixels=1_000_000)


def test_truncated_png_is_an_error() -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(truncated_png(), max_pixels=1_000_000)
