"""The document-embedding cache as the service wires it: store from settings, scorer
wrapped when its backend is a bi-encoder, counters exported to Prometheus."""

from __future__ import annotations

from typing import Protocol

from connectors.embedding_store import (
    EmbeddingStoreStats,
    MemoryEmbeddingStore,
    RedisEmbeddingStore,
)
from lychee_engine.embedding_cache import EmbeddingCachingScorer, with_embedding_cache
from lychee_engine.types import Scorer
from sidecar.metrics import Metrics
from sidecar.settings import Settings


class StatsStore(Protocol):
    @property
    def stats(self) -> EmbeddingStoreStats: ...

    async def get_many(self, keys: list[str]) -> list[bytes | None]: ...

    async def set_many(self, items: dict[str, bytes]) -> None: ...

    async def close(self) -> None: ...


def embedding_store(settings: Settings) -> StatsStore:
    """Redis behind the in-process tier when a Redis URL is configured, else memory only."""
    config, cache = settings.embedding_cache, settings.cache
    if cache.redis_url:
        return RedisEmbeddingStore(
            cache.redis_url,
            config.max_bytes,
            config.ttl_s,
            cache.timeout_s,
            cluster=cache.redis_cluster,
        )
    return MemoryEmbeddingStore(config.max_bytes)


def cache_embeddings(
    settings: Settings, scorer: Scorer, metrics: Metrics | None = None
) -> tuple[EmbeddingCachingScorer | None, StatsStore | None]:
    """The scorer with cached document embeddings and its store (the caller closes the
    store), or (None, None) when disabled or the backend is not a bi-encoder."""
    if not settings.embedding_cache.enabled:
        return None, None
    store = embedding_store(settings)
    cached = with_embedding_cache(scorer, store, settings.embedding_cache.codec)
    if cached is None:
        return None, None
    if metrics is not None:
        _export(metrics, cached, store)
    return cached, store


def _export(metrics: Metrics, scorer: EmbeddingCachingScorer, store: StatsStore) -> None:
    counts = scorer.embedding_stats
    metrics.watch_value(
        "lychee_embedding_cache_hits",
        "Documents whose embedding came from the embedding cache",
        lambda: counts.hits,
    )
    metrics.watch_value(
        "lychee_embedding_cache_misses",
        "Documents the model had to embed",
        lambda: counts.misses,
    )
    metrics.watch_value(
        "lychee_embedding_cache_bytes",
        "Bytes of embeddings held in this process",
        lambda: store.stats.bytes,
    )
    metrics.watch_value(
        "lychee_embedding_cache_redis_hits",
        "Embeddings found in Redis (not in this process)",
        lambda: store.stats.redis_hits,
    )
    metrics.watch_value(
        "lychee_embedding_cache_errors",
        "Failed embedding-cache Redis operations",
        lambda: store.stats.errors,
    )
