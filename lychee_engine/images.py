"""Image decoding and Qwen2-VL preprocessing, cached by content hash.

A query image recurs in every pair of a request, and popular product images recur across
requests, so each distinct image is resized and patchified once and kept in an LRU.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from cachetools import LRUCache
from PIL import Image, UnidentifiedImageError
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from lychee_engine.errors import UnsupportedInput

ImageLike = bytes | str | Path | Image.Image
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """Model inputs of one image: patch rows, its (t, h, w) grid, and its LLM token count."""

    key: str  # content hash: equal keys are the same image
    pixel_values: torch.Tensor  # (patches, channels * temporal * patch * patch)
    grid_thw: torch.Tensor  # (1, 3) int64
    num_tokens: int

    @property
    def nbytes(self) -> int:
        """Memory this image holds (its tensors, plus the record itself)."""
        tensors = (self.pixel_values, self.grid_thw)
        return sum(t.element_size() * t.nelement() for t in tensors) + 256


def to_rgb(image: ImageLike) -> Image.Image:
    """Decode bytes, a local path or a PIL image into an RGB PIL image."""
    try:
        if isinstance(image, Image.Image):
            pil = image
        elif isinstance(image, bytes | bytearray):
            pil = Image.open(io.BytesIO(image))
        elif isinstance(image, str | Path):
            pil = Image.open(Path(image))
        else:
            raise UnsupportedInput(f"unsupported image type {type(image).__name__}")
        pil.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise UnsupportedInput(f"cannot decode image: {exc}") from exc
    return pil if pil.mode == "RGB" else pil.convert("RGB")


def content_key(image: ImageLike) -> str:
    """A hash of the image content (not its name), so equal bytes share one cache entry."""
    digest = hashlib.sha256()
    if isinstance(image, Image.Image):
        digest.update(f"pil:{image.mode}:{image.size}".encode())
        digest.update(image.tobytes())
    elif isinstance(image, str | Path):
        try:
            digest.update(Path(image).read_bytes())
        except OSError as exc:
            raise UnsupportedInput(f"cannot read image {image}: {exc}") from exc
    elif isinstance(image, bytes | bytearray):
        digest.update(image)
    else:
        raise UnsupportedInput(f"unsupported image type {type(image).__name__}")
    return digest.hexdigest()


class ImagePreprocessor:
    """Resizes within [min_pixels, max_pixels] and patchifies with a Qwen2-VL processor."""

    def __init__(
        self,
        processor: Any,
        min_pixels: int,
        max_pixels: int,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        """Preprocessed images are kept up to `cache_bytes` of tensors (LRU); one image at
        `max_pixels` is ~5 MB of float32 patch rows, so a count alone would bound nothing."""
        if not 0 < min_pixels <= max_pixels:
            raise ValueError(f"need 0 < min_pixels <= max_pixels, got {min_pixels}, {max_pixels}")
        self._processor = processor
        self._size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
        self._factor = int(processor.patch_size) * int(processor.merge_size)
        self._merge = int(processor.merge_size)
        self._cache: LRUCache[str, ProcessedImage] = LRUCache(
            maxsize=max(cache_bytes, 1), getsizeof=_nbytes
        )
        self._lock = threading.Lock()  # prepare() may run in several worker threads
        self.hits = 0
        self.misses = 0
        self.warmed = 0  # preprocessed by `warm`, ahead of any query (not counted as misses)

    def __call__(self, image: ImageLike) -> ProcessedImage:
        """Preprocess `image`, or return the cached result for the same content."""
        key = content_key(image)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self.hits += 1
                return cached
            self.misses += 1
        return self._process_and_keep(key, image)

    def warm(self, image: ImageLike) -> tuple[ProcessedImage, bool]:
        """The preprocessed image and whether it was computed now (the cache lacked it).
        Leaves `hits`/`misses` to queries: they tell what warming saved."""
        key = content_key(image)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached, False
        processed = self._process_and_keep(key, image)
        with self._lock:
            self.warmed += 1
        return processed, True

    @property
    def cached_bytes(self) -> int:
        return int(self._cache.currsize)

    def _process_and_keep(self, key: str, image: ImageLike) -> ProcessedImage:
        processed = self._process(key, to_rgb(image))
        if _nbytes(processed) <= self._cache.maxsize:  # larger: used once, never kept
            with self._lock:
                self._cache[key] = processed
        return processed

    def resize(self, image: Image.Image) -> Image.Image:
        """Resize to the processor's grid (multiples of patch*merge) within the pixel bounds."""
        width, height = image.size
        if min(width, height) < 1:
            raise UnsupportedInput(f"empty image {width}x{height}")
        try:
            new_h, new_w = smart_resize(
                height,
                width,
                factor=self._factor,
                min_pixels=self._size["shortest_edge"],
                max_pixels=self._size["longest_edge"],
            )
        except ValueError as exc:  # e.g. an aspect ratio over 200
            raise UnsupportedInput(f"cannot resize image {width}x{height}: {exc}") from exc
        if (new_w, new_h) == (width, height):
            return image
        return image.resize((new_w, new_h), Image.Resampling.BICUBIC)

    def _process(self, key: str, image: Image.Image) -> ProcessedImage:
        out = self._processor(images=[self.resize(image)], size=self._size, return_tensors="pt")
        grid = out["image_grid_thw"].to(torch.long)
        tokens = int(grid.prod().item()) // (self._merge**2)
        return ProcessedImage(key, out["pixel_values"], grid, tokens)


def _nbytes(image: ProcessedImage) -> int:
    return image.nbytes
