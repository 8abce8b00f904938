"""A byte-bounded LRU of vision-tower outputs, shared by all requests.

The vision tower's output for an image depends on its pixels alone (and on the weights and
the resize bounds), so it is keyed by image-content hash + model revision + pixel settings.
Entries live on the model's device up to one byte budget; the least recently used spill to
host memory up to a second budget, and are dropped from there. A hit in host memory moves
the entry back to the device.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch


@dataclass(frozen=True, slots=True)
class VisionKey:
    content: str  # hash of the image's bytes (images.content_key)
    revision: str  # weights + config revision of the model
    min_pixels: int
    max_pixels: int


@dataclass(frozen=True, slots=True)
class VisionCacheStats:
    """A snapshot of the cache's counters, for metrics."""

    hits: int
    misses: int
    device_items: int
    device_bytes: int
    host_items: int
    host_bytes: int
    spills: int  # entries moved from the device to host memory
    evictions: int  # entries dropped altogether


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


class _Tier:
    """One LRU level: an ordered map with a byte count."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.entries: OrderedDict[VisionKey, torch.Tensor] = OrderedDict()
        self.bytes = 0

    def put(self, key: VisionKey, value: torch.Tensor) -> None:
        self.entries[key] = value
        self.bytes += _nbytes(value)

    def pop(self, key: VisionKey) -> torch.Tensor | None:
        value = self.entries.pop(key, None)
        if value is not None:
            self.bytes -= _nbytes(value)
        return value

    def pop_oldest(self) -> tuple[VisionKey, torch.Tensor]:
        key, value = self.entries.popitem(last=False)
        self.bytes -= _nbytes(value)
        return key, value


class VisionEmbeddingCache:
    """LRU of (image tokens, hidden) embeddings on `device`, spilling to host memory."""

    def __init__(self, device: torch.device, device_bytes: int, host_bytes: int) -> None:
        self._device = device
        self._hot = _Tier(device_bytes)
        self._cold = _Tier(host_bytes)
        self._lock = threading.Lock()
        self._hits = self._misses = self._spills = self._evictions = 0

    def get(self, key: VisionKey) -> torch.Tensor | None:
        """The cached embedding on the device (promoted from host memory if needed)."""
        with self._lock:
            value = self._hot.entries.get(key)
            if value is not None:
                self._hot.entries.move_to_end(key)
                self._hits += 1
                return value
            value = self._cold.pop(key)
            if value is None:
                self._misses += 1
                return None
            self._hits += 1
            value = value.to(self._device, non_blocking=True)
            self._store(key, value)
            return value

    def contains(self, key: VisionKey) -> bool:
        """Whether an embedding is kept (either tier); counts nothing, moves nothing."""
        with self._lock:
            return key in self._hot.entries or key in self._cold.entries

    def put(self, key: VisionKey, value: torch.Tensor) -> None:
        """Insert (or refresh) an embedding; oversize entries are simply not kept."""
        with self._lock:
            self._hot.pop(key)
            self._cold.pop(key)
            self._store(key, value.detach())

    def clear(self) -> None:
        with self._lock:
            self._hot = _Tier(self._hot.budget)
            self._cold = _Tier(self._cold.budget)

    def stats(self) -> VisionCacheStats:
        with self._lock:
            return VisionCacheStats(
                hits=self._hits,
                misses=self._misses,
                device_items=len(self._hot.entries),
                device_bytes=self._hot.bytes,
                host_items=len(self._cold.entries),
                host_bytes=self._cold.bytes,
                spills=self._spills,
                evictions=self._evictions,
            )

    def _store(self, key: VisionKey, value: torch.Tensor) -> None:
        size = _nbytes(value)
        if size <= self._hot.budget:
            self._hot.put(key, value)
        else:
            self._spill(key, value)
        while self._hot.bytes > self._hot.budget:
            self._spill(*self._hot.pop_oldest())

    def _spill(self, key: VisionKey, value: torch.Tensor) -> None:
        if _nbytes(value) > self._cold.budget:
            self._evictions += 1
            return
        # A host copy keeps the device free for activations; pinned, so that promoting it
        # back is a fast DMA. `.to` copies only off-CPU.
        host = value.to("cpu").pin_memory() if value.is_cuda else value
        self._cold.put(key, host)
        self._spills += 1
        while self._cold.bytes > self._cold.budget:
            self._cold.pop_oldest()
            self._evictions += 1
