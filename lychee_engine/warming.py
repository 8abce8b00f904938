"""Which scorers can be warmed, and what their per-document caches count.

Warming computes ahead of the first query what a scorer keeps per document whatever the
query: a bi-encoder's embedding (`EmbeddingCachingScorer.warm`, shared through its store) and
Lychee's preprocessed image and vision-tower output (`MicroBatcher.warm`, kept in the
memory of the process that serves). A scorer keeping nothing per document cannot be warmed.
"""

from __future__ import annotations

from dataclasses import dataclass

from lychee_engine.batcher import MicroBatcher
from lychee_engine.images import ImagePreprocessor
from lychee_engine.remote import RemoteScorer
from lychee_engine.types import Warmable


def warm_target(scorer: object) -> Warmable | None:
    """`scorer` itself when warming it fills a cache, else None (`not_warmable` says why).
    A batcher always has `warm`; it fills something only over a `WarmableBackend`."""
    if isinstance(scorer, MicroBatcher):
        return scorer if scorer.can_warm else None
    return scorer if isinstance(scorer, Warmable) else None


def not_warmable(scorer: object) -> str:
    """Why `warm_target(scorer)` is None, for the operator who asked."""
    model = getattr(scorer, "model_id", type(scorer).__name__)
    if isinstance(scorer, RemoteScorer):
        return f"{model} scores on another server: warm the sidecar that runs the model"
    if isinstance(scorer, MicroBatcher):
        return (
            f"{model} keeps nothing per document in this process (a bi-encoder's "
            "embeddings are kept only with the embedding cache enabled)"
        )
    return f"{model} ({type(scorer).__name__}) keeps nothing per document to warm"


@dataclass(frozen=True, slots=True)
class ImageCacheCounters:
    """Lychee's per-document caches, for metrics: what queries found, what warming did."""

    preprocess_hits: int
    preprocess_misses: int
    preprocess_warmed: int
    preprocess_bytes: int
    vision_hits: int | None  # None: the fast path's vision cache is off (or absent)
    vision_misses: int | None
    vision_tower_calls: int | None
    vision_images_encoded: int | None


def image_cache_counters(scorer: object) -> ImageCacheCounters | None:
    """The counters of a Lychee scorer's image caches; None for any other scorer."""
    backend = scorer.backend if isinstance(scorer, MicroBatcher) else None
    images = getattr(backend, "image_cache", None)
    if not isinstance(images, ImagePreprocessor):
        return None
    vision = getattr(backend, "vision", None)
    stats = vision.cache.stats() if vision is not None and vision.cache is not None else None
    return ImageCacheCounters(
        preprocess_hits=images.hits,
        preprocess_misses=images.misses,
        preprocess_warmed=images.warmed,
        preprocess_bytes=images.cached_bytes,
        vision_hits=stats.hits if stats is not None else None,
        vision_misses=stats.misses if stats is not None else None,
        vision_tower_calls=vision.tower_calls if vision is not None else None,
        vision_images_encoded=vision.images_encoded if vision is not None else None,
    )
