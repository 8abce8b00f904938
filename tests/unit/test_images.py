"""Image decoding, resizing within pixel bounds, and the content-hash cache."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor

from lychee_engine.errors import UnsupportedInput
from lychee_engine.images import ImagePreprocessor, content_key, to_rgb

MIN_PIXELS, MAX_PIXELS = 4 * 28 * 28, 1280 * 28 * 28


@pytest.fixture(scope="module")
def processor(tiny_checkpoint: Path) -> Any:
    return AutoImageProcessor.from_pretrained(tiny_checkpoint, backend="pil")


@pytest.fixture
def pre(processor: Any) -> ImagePreprocessor:
    return ImagePreprocessor(processor, MIN_PIXELS, MAX_PIXELS, cache_bytes=64 * 1024 * 1024)


def test_decodes_bytes_path_and_pil_to_rgb(make_png: Callable[..., bytes], tmp_path: Path) -> None:
    data = make_png((20, 10))
    path = tmp_path / "x.png"
    path.write_bytes(data)
    gray = Image.new("L", (5, 5))
    for source in (data, path, str(path), gray):
        image = to_rgb(source)
        assert image.mode == "RGB"
    assert to_rgb(data).size == (20, 10)


@pytest.mark.parametrize("bad", [b"not an image", b""])
def test_undecodable_bytes_are_unsupported_input(bad: bytes) -> None:
    with pytest.raises(UnsupportedInput, match="cannot decode image"):
        to_rgb(bad)


def test_missing_path_is_unsupported_input(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedInput, match="cannot read image"):
        content_key(tmp_path / "absent.png")


def test_448_square_is_256_tokens(pre: ImagePreprocessor, make_png: Callable[..., bytes]) -> None:
    out = pre(make_png((448, 448)))
    assert out.grid_thw.tolist() == [[1, 32, 32]]
    assert out.num_tokens == 256
    assert tuple(out.pixel_values.shape) == (1024, 1176)
    assert out.grid_thw.dtype == torch.long


def test_resized_within_pixel_bounds(pre: ImagePreprocessor) -> None:
    big = pre.resize(Image.new("RGB", (4000, 3000)))
    assert big.width * big.height <= MAX_PIXELS
    assert big.width % 28 == 0 and big.height % 28 == 0
    small = pre.resize(Image.new("RGB", (10, 12)))
    assert small.width * small.height >= MIN_PIXELS


def test_extreme_aspect_ratio_is_unsupported(pre: ImagePreprocessor) -> None:
    with pytest.raises(UnsupportedInput, match="cannot resize"):
        pre(Image.new("RGB", (5000, 10)))


def test_same_bytes_hit_the_cache(
    pre: ImagePreprocessor, make_png: Callable[..., bytes], tmp_path: Path
) -> None:
    data = make_png((56, 84))
    first = pre(data)
    assert pre(bytes(data)) is first
    path = tmp_path / "same.png"
    path.write_bytes(data)
    assert pre(path) is first  # keyed by content, not by where it came from
    assert (pre.hits, pre.misses) == (2, 1)
    assert pre(make_png((84, 56))) is not first
    assert pre.misses == 2


def test_cache_is_bounded(processor: Any, make_png: Callable[..., bytes]) -> None:
    a, b = make_png((56, 56)), make_png((84, 84))
    one = ImagePreprocessor(processor, MIN_PIXELS, MAX_PIXELS)(b)
    room = one.pixel_values.element_size() * one.pixel_values.nelement() + 1024
    pre = ImagePreprocessor(processor, MIN_PIXELS, MAX_PIXELS, cache_bytes=room)  # one image
    pre(a)
    pre(b)
    pre(a)
    assert (pre.hits, pre.misses) == (0, 3)
    tiny = ImagePreprocessor(processor, MIN_PIXELS, MAX_PIXELS, cache_bytes=100)
    tiny(a)
    tiny(a)  # larger than the whole budget: never kept, never an error
    assert (tiny.hits, tiny.misses) == (0, 2)


def test_pil_content_key_follows_pixels() -> None:
    red, blue = Image.new("RGB", (4, 4), "red"), Image.new("RGB", (4, 4), "blue")
    assert content_key(red) == content_key(Image.new("RGB", (4, 4), "red"))
    assert content_key(red) != content_key(blue)
    buffer = io.BytesIO()
    red.save(buffer, "PNG")
    assert content_key(buffer.getvalue()) != content_key(red)


def test_bounds_validated(processor: Any) -> None:
    with pytest.raises(ValueError, match="min_pixels"):
        ImagePreprocessor(processor, 100, 10)
