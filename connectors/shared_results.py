"""Whole reranked answers in Redis, so every replica answers a repeat another one served.

The per-process result cache (sidecar/result_cache.py) stays in front; this is the tier
behind it, with the same keys (they already hold the index generation, so the same rule
decides staleness everywhere) and a TTL. Bodies are zlib-compressed (JSON answers shrink
~4-6x). Fails open: Redis down or slow reads as a miss and drops the write.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

from connectors.redis_fail_open import FailOpen
from connectors.score_cache import redis_client

KEY_PREFIX = b"lychee:result:v1:"
_LEVEL = 1  # fastest: the answer is on the request path


class RedisResultStore:
    """Compressed response bodies by result-cache key, with a TTL."""

    def __init__(
        self,
        url: str,
        ttl_s: float,
        timeout_s: float = 0.05,
        *,
        max_body_bytes: int = 8 * 1024 * 1024,
        cluster: bool = False,
        retry_after_s: float = 1.0,
    ) -> None:
        self._ttl_s = max(1, math.ceil(ttl_s))
        self._max_body = max_body_bytes
        self._redis = redis_client(url, cluster=cluster, timeout_s=timeout_s, max_connections=64)
        self._guard = FailOpen("shared result cache", 2 * timeout_s, retry_after_s)

    @property
    def errors(self) -> int:
        return self._guard.errors

    async def get(self, key: bytes) -> bytes | None:
        if self._guard.skipping:
            return None
        raw: Any = await self._guard.call("GET", self._redis.get(KEY_PREFIX + key), None)
        if not isinstance(raw, bytes):
            return None
        try:  # bounded: a corrupt or foreign value must not inflate without limit
            inflater = zlib.decompressobj()
            body = inflater.decompress(raw, self._max_body + 1)
        except zlib.error:
            return None
        if len(body) > self._max_body or not inflater.eof:
            return None
        return body

    async def put(self, key: bytes, body: bytes) -> None:
        if len(body) > self._max_body or self._guard.skipping:
            return
        packed = zlib.compress(body, _LEVEL)
        await self._guard.call(
            "SET", self._redis.set(KEY_PREFIX + key, packed, ex=self._ttl_s), None
        )

    async def close(self) -> None:
        await self._redis.aclose()
