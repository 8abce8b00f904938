"""The score cache: one MGET per request, pipelined SETs with a jittered TTL.

Keys are built by `cache_key` (per request: `query_key_prefix` once, then
`document_cache_key` per hit); every key of one request shares the `{...}` hash tag built
from the query part, so on Redis Cluster the whole request lives in one hash slot and one
MGET serves it. Redis is an optimisation: down or slow means misses and dropped writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from connectors.hashing import sha256_hex
from connectors.redis_fail_open import FAILURES, FailOpen

logger = logging.getLogger(__name__)

KEY_PREFIX = "lychee:v1"
# Cluster topology discovery (CLUSTER SLOTS, then COMMAND, whose reply redis-py parses in
# ~90 ms of pure Python) takes longer than one request's deadline: bounded on its own, or
# every try would be cancelled midway and the cache would never come up.
_DISCOVERY_DEADLINE_S = 1.0


def cache_key(
    model_id: str,
    revision: str,
    prompt_version: str,
    instruction: str,
    query_text: str | None,
    query_image_hash: str | None,
    doc_hash: str,
) -> str:
    """The cache key of one (model, prompt, query, document) score.

    Shape: `lychee:v1:{<query digest>}:<document digest>`. Any component changing gives a
    different key; the braces make every key of one query share a Redis Cluster slot.
    """
    prefix = query_key_prefix(
        model_id, revision, prompt_version, instruction, query_text, query_image_hash
    )
    return document_cache_key(prefix, doc_hash)


def query_key_prefix(
    model_id: str,
    revision: str,
    prompt_version: str,
    instruction: str,
    query_text: str | None,
    query_image_hash: str | None,
) -> str:
    """The query part of `cache_key`, shared by every document of one request: compute it
    once per request and finish each key with `document_cache_key`."""
    query = [model_id, revision, prompt_version, instruction, query_text, query_image_hash]
    query_digest = sha256_hex(json.dumps(query, ensure_ascii=False).encode())[:32]
    return f"{KEY_PREFIX}:{{{query_digest}}}:"


def document_cache_key(prefix: str, doc_hash: str) -> str:
    """`cache_key` from a `query_key_prefix` and the document's hash."""
    return prefix + sha256_hex(doc_hash.encode())[:32]


@dataclass(slots=True)
class CacheStats:
    """Counters since start: per-key hits and misses, failed cache operations."""

    hits: int = 0
    misses: int = 0
    errors: int = 0

    def count(self, values: list[float | None]) -> list[float | None]:
        found = sum(v is not None for v in values)
        self.hits += found
        self.misses += len(values) - found
        return values


class ScoreCache(Protocol):
    """Where scores are kept between requests."""

    stats: CacheStats

    async def get_many(self, keys: list[str]) -> list[float | None]:
        """One value (or None for a miss) per key, in order. Never raises."""
        ...

    async def set_many(self, scores: dict[str, float]) -> None:
        """Store scores; failures drop the writes silently (counted in stats.errors)."""
        ...

    async def close(self) -> None: ...


class LruScoreCache:
    """In-process cache for single-instance deployments (no Redis URL configured).

    Least recently used entries go first past `maxsize`; entries older than `ttl_s` read as
    misses. An OrderedDict of (score, expiry) rather than cachetools' TTLCache: a warm
    request reads the whole window, and TTLCache's per-key bookkeeping cost ~1.7 us a key
    (~85 us a request) where this costs a fraction of that. Keys have one length, so every
    entry costs the same ~280 bytes (key string, value tuple, dict slot; measured with
    tracemalloc): `max_bytes` bounds the entry count to `max_bytes // ENTRY_BYTES`.
    """

    ENTRY_BYTES = 280

    def __init__(
        self,
        maxsize: int = 100_000,
        ttl_s: float = 7 * 24 * 3600,
        max_bytes: int | None = None,
    ) -> None:
        self.stats = CacheStats()
        by_bytes = maxsize if max_bytes is None else max(1, max_bytes // self.ENTRY_BYTES)
        self._maxsize = min(maxsize, by_bytes)
        self._ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def get_many(self, keys: list[str]) -> list[float | None]:
        now = time.monotonic()
        entries = self._entries
        values: list[float | None] = []
        for key in keys:
            entry = entries.get(key)
            if entry is None:
                values.append(None)
            elif entry[1] <= now:
                del entries[key]  # expired
                values.append(None)
            else:
                entries.move_to_end(key)
                values.append(entry[0])
        return self.stats.count(values)

    async def set_many(self, scores: dict[str, float]) -> None:
        expires = time.monotonic() + self._ttl_s
        entries = self._entries
        for key, score in scores.items():
            entries[key] = (score, expires)
            entries.move_to_end(key)
        while len(entries) > self._maxsize:
            entries.popitem(last=False)

    async def close(self) -> None:
        self._entries.clear()


def _parse(raw: bytes | str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def redis_client(
    url: str, *, cluster: bool, timeout_s: float, max_connections: int
) -> Redis | RedisCluster:
    """A client that neither waits long nor retries: a retry would double the latency we
    just paid. `max_connections` bounds the pool (per node on a cluster)."""
    options: dict[str, Any] = dict(
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        max_connections=max_connections,
    )
    if cluster:
        # The keys of one call share a hash slot, so MGET and the SET pipeline each go to
        # the one node owning it: still one round trip per call.
        return RedisCluster.from_url(url, **options)
    return Redis.from_url(url, **options)


class RedisScoreCache:
    """Redis-backed cache that fails open.

    Each call is bounded by small socket timeouts and a hard deadline (2 x `timeout_s`).
    After a failure Redis is skipped for `retry_after_s`, so a dead Redis costs nothing
    per request; afterwards the next call reconnects on its own. Failures are counted in
    `stats.errors` and logged at most once per 30 s.

    `cluster=True` talks to a Redis Cluster through the URL's node; the keys of one call
    must then share a hash slot (those of one request do, see `query_key_prefix`).
    """

    def __init__(
        self,
        url: str,
        ttl_s: int = 7 * 24 * 3600,
        ttl_jitter: float = 0.1,
        timeout_s: float = 0.05,
        *,
        retry_after_s: float = 1.0,
        max_connections: int = 64,
        cluster: bool = False,
    ) -> None:
        if ttl_s < 1 or not 0 <= ttl_jitter < 1 or timeout_s <= 0:
            raise ValueError("need ttl_s >= 1, 0 <= ttl_jitter < 1 and timeout_s > 0")
        self.stats = CacheStats()
        self._ttl_s = ttl_s
        self._jitter = ttl_jitter
        self._deadline = 2 * timeout_s
        self._guard = FailOpen("score cache", self._deadline, retry_after_s)
        self._client = redis_client(
            url, cluster=cluster, timeout_s=timeout_s, max_connections=max_connections
        )

    async def get_many(self, keys: list[str]) -> list[float | None]:
        if not keys:
            return []
        if self._guard.skipping:
            return self.stats.count([None] * len(keys))
        try:
            await self._discover()
            async with asyncio.timeout(self._deadline):
                raw = await self._client.mget(keys)
        except FAILURES as exc:
            self._failed("MGET", exc)
            return self.stats.count([None] * len(keys))
        return self.stats.count([_parse(value) for value in raw])

    async def set_many(self, scores: dict[str, float]) -> None:
        if not scores or self._guard.skipping:
            return
        pipe = self._client.pipeline(transaction=False)
        for key, score in scores.items():
            pipe.set(key, repr(float(score)), ex=self._ttl())
        try:
            await self._discover()
            async with asyncio.timeout(self._deadline):
                await pipe.execute()
        except FAILURES as exc:
            self._failed("SET", exc)

    async def close(self) -> None:
        await self._client.aclose()

    async def _discover(self) -> None:
        """Learn the cluster's slot map if not known (first call, or after a failure made
        the client forget it); a no-op otherwise and for a plain Redis."""
        if isinstance(self._client, RedisCluster):
            async with asyncio.timeout(_DISCOVERY_DEADLINE_S):
                await self._client.initialize()

    def _ttl(self) -> int:
        spread = self._ttl_s * self._jitter
        return max(1, round(self._ttl_s + random.uniform(-spread, spread)))

    def _failed(self, operation: str, exc: BaseException) -> None:
        self.stats.errors += 1
        self._guard.failed(operation, exc)
