"""Where document embeddings live: an in-process LRU bounded in bytes, Redis behind it.

Implements lychee_engine's `EmbeddingStore`. A request's keys are looked up in memory
first; the rest go to Redis in one MGET, and what Redis had is kept in memory for the next
request. New embeddings go to memory and to Redis in one pipelined SET with a TTL, so every
replica (and `python -m sidecar warm`) shares them. Redis down or slow: misses and dropped
writes (the model embeds again), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from connectors.redis_fail_open import FailOpen
from connectors.score_cache import redis_client


@dataclass(slots=True)
class EmbeddingStoreStats:
    """Counters since start, per key; `bytes` is what the in-process tier holds now."""

    memory_hits: int = 0
    redis_hits: int = 0
    misses: int = 0
    errors: int = 0
    bytes: int = 0


class MemoryEmbeddingStore:
    """The in-process tier alone (no Redis configured): LRU bounded by total value bytes."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self._lru: LRUCache[str, bytes] = LRUCache(max_bytes, getsizeof=len)
        self._stats = EmbeddingStoreStats()

    @property
    def stats(self) -> EmbeddingStoreStats:
        self._stats.bytes = int(self._lru.currsize)
        return self._stats

    def lookup(self, keys: list[str]) -> list[bytes | None]:
        get = self._lru.get
        values = [get(key) for key in keys]
        self._stats.memory_hits += sum(v is not None for v in values)
        return values

    def keep(self, items: dict[str, bytes]) -> None:
        for key, value in items.items():
            if len(value) <= self._lru.maxsize:  # a value over the whole budget is not kept
                self._lru[key] = value

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        values = self.lookup(keys)
        self._stats.misses += sum(v is None for v in values)
        return values

    async def set_many(self, items: dict[str, bytes]) -> None:
        self.keep(items)

    async def close(self) -> None:
        self._lru.clear()


class RedisEmbeddingStore:
    """The in-process tier in front of Redis: one MGET for a request's memory misses,
    one pipelined SET for its new embeddings; fails open."""

    def __init__(
        self,
        url: str,
        max_bytes: int,
        ttl_s: int = 30 * 24 * 3600,
        timeout_s: float = 0.05,
        *,
        cluster: bool = False,
        retry_after_s: float = 1.0,
    ) -> None:
        self._memory = MemoryEmbeddingStore(max_bytes)
        self._ttl_s = ttl_s
        self._redis = redis_client(url, cluster=cluster, timeout_s=timeout_s, max_connections=64)
        self._guard = FailOpen("embedding cache", 2 * timeout_s, retry_after_s)

    @property
    def stats(self) -> EmbeddingStoreStats:
        stats = self._memory.stats
        stats.errors = self._guard.errors
        return stats

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        values = self._memory.lookup(keys)
        wanted = [i for i, value in enumerate(values) if value is None]
        if wanted and not self._guard.skipping:
            asked = [keys[i] for i in wanted]
            found: list[Any] = await self._guard.call(
                "MGET", self._redis.mget(asked), [None] * len(asked)
            )
            fetched = {}
            for i, raw in zip(wanted, found, strict=True):
                if raw is not None:
                    values[i] = fetched[keys[i]] = bytes(raw)
            self._memory.keep(fetched)
            self._memory.stats.redis_hits += len(fetched)
        self._memory.stats.misses += sum(v is None for v in values)
        return values

    async def set_many(self, items: dict[str, bytes]) -> None:
        if not items:
            return
        self._memory.keep(items)
        if self._guard.skipping:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, value, ex=self._ttl_s)
        await self._guard.call("SET", pipe.execute(), None)

    async def close(self) -> None:
        await self._memory.close()
        await self._redis.aclose()
