"""Reranked search responses kept for repeated requests, dropped when the index changes.

Head queries repeat; once a request's window is reranked, the identical request gets the
same bytes back without OpenSearch or the model. Staleness is bounded the way OpenSearch's
own is: a search sees the index as of its last refresh, and every entry is keyed by the
index's generation (refresh and write counters, index UUIDs), re-read at most every
`poll_s`. So a change becomes visible here at most `poll_s` after OpenSearch shows it, and
no entry outlives `ttl_s` regardless.

Only responses that were reranked normally (status ok, no explain) are stored; a degraded
response is retried next time. The caller's credentials are part of the key: with
document-level security two users may see different hits.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson
from cachetools import TTLCache

log = logging.getLogger(__name__)

GenerationFetch = Callable[[str], Awaitable[str]]


@dataclass(slots=True)
class _Generation:
    token: str | None
    read_at: float


class IndexGenerations:
    """The latest generation token per index expression, re-read at most every `poll_s`.

    Concurrent requests for a stale index share one stats call. A failed read yields None
    (the caller bypasses the cache) and is retried after `poll_s`, not on every request.
    """

    def __init__(
        self,
        fetch: GenerationFetch,
        poll_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_indices: int = 1024,
    ) -> None:
        self._fetch = fetch
        self._poll_s = poll_s
        self._clock = clock
        self._known: dict[str, _Generation] = {}
        self._inflight: dict[str, asyncio.Future[str | None]] = {}
        self._max_indices = max_indices

    async def current(self, index: str) -> str | None:
        known = self._known.get(index)
        if known is not None and self._clock() - known.read_at < self._poll_s:
            return known.token
        pending = self._inflight.get(index)
        if pending is None:
            pending = asyncio.ensure_future(self._read(index))
            self._inflight[index] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(index, None))
        # shield: one caller's cancellation must not cancel the read the others wait on
        return await asyncio.shield(pending)

    async def _read(self, index: str) -> str | None:
        read_at = self._clock()  # before the call: a refresh during it counts as newer
        try:
            token: str | None = await self._fetch(index)
        except Exception as exc:  # any failure: serve uncached until the next poll
            log.debug("index generation of %r unavailable: %r", index, exc)
            token = None
        if len(self._known) >= self._max_indices and index not in self._known:
            self._known.clear()  # many distinct index expressions: start over, stay bounded
        self._known[index] = _Generation(token, read_at)
        return token


class ResultCache:
    """Response bytes by request key; bounded by total bytes and by age."""

    def __init__(self, max_bytes: int, ttl_s: float) -> None:
        self._entries: TTLCache[bytes, bytes] = TTLCache(max_bytes, ttl_s, getsizeof=len)
        self._max_entry = max(1, max_bytes // 8)  # one huge response must not flush the rest

    def get(self, key: bytes) -> bytes | None:
        return self._entries.get(key)

    def put(self, key: bytes, body: bytes) -> None:
        if len(body) <= self._max_entry:
            self._entries[key] = body

    def __len__(self) -> int:
        return len(self._entries)


def request_key(
    *,
    index: str,
    generation: str,
    raw_body: bytes,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    context: str,
) -> bytes:
    """Everything that decides the response: the request as sent, who sent it, the index
    generation, and `context` (model identity and rules version)."""
    # A JSON array ends unambiguously, so no part can run into the next: with plain
    # separators a param value holding "\0authorization:..." (%00 in a query string) gave
    # the key of a request that sent that Authorization header.
    head = [
        index,
        generation,
        context,
        sorted(params.items()),
        sorted((k.lower(), v) for k, v in headers.items()),
    ]
    digest = hashlib.blake2b(orjson.dumps(head), digest_size=20)
    digest.update(raw_body)
    return digest.digest()


# Like OpenSearch's own request cache: date math on `now` and unseeded random scores give a
# different answer with the same index. `"now` must open a JSON string and be followed by
# date math or its end, so a query for "snow boots" or "now trending" still caches.
_VOLATILE = re.compile(rb'"now(?:[-+/][^"]*)?"|"random_score"')


def is_volatile(raw_body: bytes, params: Mapping[str, str]) -> bool:
    """True when the same request may answer differently on the same index (or the caller
    asked for no caching with `request_cache=false`)."""
    if params.get("request_cache", "").lower() == "false":
        return True
    return _VOLATILE.search(raw_body) is not None


class SharedResults(Protocol):
    """The tier behind the per-process cache that replicas share (Redis). Never raises."""

    async def get(self, key: bytes) -> bytes | None: ...

    async def put(self, key: bytes, body: bytes) -> None: ...


class ResultLookup:
    """The result cache as the search route uses it: key, get, put; counts outcomes
    (`hit` in this process, `shared_hit` from another replica's entry, `miss`, `bypass`)."""

    def __init__(
        self,
        generations: IndexGenerations,
        cache: ResultCache,
        context: Callable[[], str],
        count: Callable[[str], None],
    ) -> None:
        self._generations = generations
        self._cache = cache
        self._context = context
        self._count = count
        self._shared: SharedResults | None = None  # set by `share`

    async def key_for(
        self, index: str, raw_body: bytes, params: Mapping[str, str], auth: Mapping[str, str]
    ) -> bytes | None:
        """The request's key, or None (bypass) when its answer may change while the index
        does not, or when the index generation is unknown."""
        if is_volatile(raw_body, params):
            self._count("bypass")
            return None
        generation = await self._generations.current(index)
        if generation is None:
            self._count("bypass")
            return None
        return request_key(
            index=index,
            generation=generation,
            raw_body=raw_body,
            params=params,
            headers=auth,
            context=self._context(),
        )

    def share(self, shared: SharedResults) -> None:
        """Put a tier shared by replicas behind this process's cache."""
        self._shared = shared

    async def get(self, key: bytes) -> bytes | None:
        found = self._cache.get(key)
        if found is not None:
            self._count("hit")
            return found
        if self._shared is not None:
            found = await self._shared.get(key)
            if found is not None:
                self._cache.put(key, found)  # the next repeat stays in this process
                self._count("shared_hit")
                return found
        self._count("miss")
        return None

    async def put(self, key: bytes, body: bytes) -> None:
        self._cache.put(key, body)
        if self._shared is not None:
            await self._shared.put(key, body)
