"""Image embeddings for a set of pairs: each distinct image through the vision tower once.

Distinct images (by content key) are looked up in the shared `VisionEmbeddingCache`; the
misses go through the tower together, in chunks of at most `vision_batch_patches` patch
rows, batched (`vision_batch.encode_images`, sdpa) or through the stock tower.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from lychee_engine.fast.options import FastOptions
from lychee_engine.fast.vision_batch import encode_images
from lychee_engine.fast.vision_cache import VisionEmbeddingCache, VisionKey
from lychee_engine.images import ProcessedImage


class VisionEncoder:
    """Maps (VisionKey, ProcessedImage) pairs to merged embeddings on the model's device."""

    def __init__(
        self, visual: Any, device: torch.device, options: FastOptions, *, stock: bool = False
    ) -> None:
        self._visual = visual
        self._device = device
        # `stock`: the model's own tower (FastPaths.stock_vision decides; on flash-attn it is
        # the unverified varlen path); else the batched sdpa tower, whatever the kernel.
        self._batched = not stock
        self._chunk_patches = options.vision_batch_patches
        self.cache = (
            VisionEmbeddingCache(
                device, options.vision_cache_device_bytes, options.vision_cache_host_bytes
            )
            if options.vision_cache
            else None
        )
        self.tower_calls = 0  # vision-tower forwards (tests: a fully cached request runs none)
        self.images_encoded = 0
        self.patches_encoded = 0

    def embeddings(
        self, images: Iterable[tuple[VisionKey, ProcessedImage]]
    ) -> dict[VisionKey, torch.Tensor]:
        """One (tokens, hidden) tensor per distinct key."""
        found: dict[VisionKey, torch.Tensor] = {}
        missing: dict[VisionKey, ProcessedImage] = {}
        for key, image in images:
            if key in found or key in missing:
                continue
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is None:
                missing[key] = image
            else:
                found[key] = cached
        for chunk in self._chunks(list(missing.items())):
            found.update(self._encode(chunk))
        return found

    def warm(self, images: Iterable[tuple[VisionKey, ProcessedImage]]) -> set[VisionKey]:
        """Encode and cache the distinct images the cache lacks (none without a cache:
        nothing would be kept); returns their keys. Leaves the hit/miss counters to queries."""
        if self.cache is None:
            return set()
        missing: dict[VisionKey, ProcessedImage] = {}
        for key, image in images:
            if key not in missing and not self.cache.contains(key):
                missing[key] = image
        for chunk in self._chunks(list(missing.items())):
            self._encode(chunk)
        return set(missing)

    def _chunks(
        self, items: list[tuple[VisionKey, ProcessedImage]]
    ) -> list[list[tuple[VisionKey, ProcessedImage]]]:
        chunks: list[list[tuple[VisionKey, ProcessedImage]]] = []
        patches = 0
        for item in items:
            rows = item[1].pixel_values.shape[0]
            if chunks and patches + rows <= self._chunk_patches:
                chunks[-1].append(item)
                patches += rows
            else:
                chunks.append([item])
                patches = rows
        return chunks

    def _encode(
        self, chunk: list[tuple[VisionKey, ProcessedImage]]
    ) -> dict[VisionKey, torch.Tensor]:
        pixels = torch.cat([image.pixel_values for _, image in chunk]).to(self._device)
        grid = torch.cat([image.grid_thw for _, image in chunk])
        if self._batched:
            merged = encode_images(self._visual, pixels, grid)
        else:
            pixels = pixels.type(self._visual.dtype)
            merged = self._visual(pixels, grid_thw=grid.to(self._device)).pooler_output
        self.tower_calls += 1
        self.images_encoded += len(chunk)
        self.patches_encoded += int(pixels.shape[0])
        out = {}
        parts = merged.split([image.num_tokens for _, image in chunk])
        for (key, _), part in zip(chunk, parts, strict=True):
            # a copy, so a cached entry does not pin the whole chunk's storage
            out[key] = part.clone()
            if self.cache is not None:
                self.cache.put(key, out[key])
        return out
