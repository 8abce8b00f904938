"""Lychee's in-process image caches as Prometheus gauges: what queries found there, what
warming (`POST /api/warm`, writes through the proxy) put there ahead of them."""

from __future__ import annotations

from collections.abc import Callable

from lychee_engine.warming import ImageCacheCounters, image_cache_counters
from sidecar.metrics import Metrics

_GAUGES: dict[str, tuple[str, Callable[[ImageCacheCounters], int | None]]] = {
    "lychee_image_preprocess_hits": (
        "Document and query images a query found preprocessed",
        lambda c: c.preprocess_hits,
    ),
    "lychee_image_preprocess_misses": (
        "Images a query had to preprocess (resize, patchify)",
        lambda c: c.preprocess_misses,
    ),
    "lychee_image_preprocess_warmed": (
        "Images preprocessed by warming, ahead of any query",
        lambda c: c.preprocess_warmed,
    ),
    "lychee_image_preprocess_bytes": (
        "Bytes of preprocessed images held in this process",
        lambda c: c.preprocess_bytes,
    ),
    "lychee_vision_cache_hits": (
        "Images whose vision-tower output a query found cached",
        lambda c: c.vision_hits,
    ),
    "lychee_vision_cache_misses": (
        "Images a query had to run through the vision tower",
        lambda c: c.vision_misses,
    ),
    "lychee_vision_tower_calls": (
        "Vision-tower forward passes (queries and warming)",
        lambda c: c.vision_tower_calls,
    ),
    "lychee_vision_images_encoded": (
        "Images encoded by the vision tower (queries and warming)",
        lambda c: c.vision_images_encoded,
    ),
}


def watch_image_caches(metrics: Metrics, scorer: object) -> None:
    """Export the counters of a Lychee scorer's image caches (nothing for other scorers;
    the vision gauges only with the fast path's vision cache)."""
    counters = image_cache_counters(scorer)
    if counters is None:
        return
    for name, (documentation, read) in _GAUGES.items():
        if read(counters) is None:
            continue

        def value(read: Callable[[ImageCacheCounters], int | None] = read) -> float:
            now = image_cache_counters(scorer)
            found = read(now) if now is not None else None
            return float(found or 0)

        metrics.watch_value(name, documentation, value)
