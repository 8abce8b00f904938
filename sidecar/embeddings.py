"""The document-embedding cache as the service wires it: store from settings, scorer
wrapped when its backend is a bi-encoder, counters exported to Prometheus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from connectors.embedding_store import (
    EmbeddingStoreStats,
    MemoryEmbeddingStore,
    RedisEmbeddingStore,
)
from lychee_engine.embedding_cache import EmbeddingCachingScorer, with_embedding_cache
from lychee_engine.types import Scorer
from lychee_engine.warming import warm_target
from sidecar.metrics import Metrics
from sidecar.settings import Settings
from sidecar.window_scoring import HitHydrator
from sidecar.write_warming import WriteWarmer


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


def write_warmer(
    settings: Settings,
    upstream: httpx.AsyncClient,
    hydrator_for: Callable[[str], HitHydrator],
    scorer: Scorer,
    metrics: Metrics,
) -> WriteWarmer | None:
    """Warming of documents written through the proxy, when the scorer keeps something per
    document (a bi-encoder's cached embedding; Lychee's preprocessed image and vision-tower
    output, in this process)."""
    target = warm_target(scorer)
    if target is None or not settings.embedding_cache.warm_on_write:
        return None

    async def fetch(index: str, ids: list[str], auth: dict[str, str]) -> list[dict[str, Any]]:
        answer = await upstream.post(
            f"/{quote(index, safe='')}/_mget", json={"ids": ids}, headers=auth
        )
        answer.raise_for_status()
        docs = answer.json().get("docs") or []
        return [doc for doc in docs if isinstance(doc, dict) and doc.get("found")]

    async def warm(index: str, hits: list[dict[str, Any]]) -> int:
        hydrated = await hydrator_for(index).hydrate(hits)
        docs = [h.document for h in hydrated if h.scorable]
        return await target.warm(docs) if docs else 0

    warmer = WriteWarmer(fetch, warm, settings.embedding_cache.warm_on_write_max_pending)
    metrics.watch_value(
        "lychee_embedding_warmed_on_write",
        "Documents written through the proxy and warmed in the background (embedded; "
        "Lychee: image preprocessed and vision-encoded)",
        lambda: warmer.warmed,
    )
    metrics.watch_value(
        "lychee_embedding_warm_on_write_dropped",
        "Written documents not warmed because the queue was full",
        lambda: warmer.dropped,
    )
    return warmer
