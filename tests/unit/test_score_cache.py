"""Cache keys, the in-process LRU, and the Redis cache failing open without a server."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest

from connectors.score_cache import CacheStats, LruScoreCache, RedisScoreCache, cache_key

BASE = dict(
    model_id="lychee-rerank-mm",
    revision="abc123",
    prompt_version="p1",
    instruction="Given a web search query, retrieve relevant passages that answer the query.",
    query_text="running shoes",
    query_image_hash=None,
    doc_hash="d" * 64,
)


def _key(**changes: object) -> str:
    return cache_key(**{**BASE, **changes})  # type: ignore[arg-type]


def _slot_tag(key: str) -> str:
    match = re.search(r"\{([^}]+)\}", key)
    assert match is not None
    return match.group(1)


def test_keys_of_one_request_share_a_hash_slot_tag() -> None:
    keys = [_key(doc_hash=f"doc-{n}") for n in range(20)]
    assert len(set(keys)) == 20
    assert len({_slot_tag(key) for key in keys}) == 1
    assert all(key.startswith("lychee:v1:{") for key in keys)


@pytest.mark.parametrize(
    "change",
    [
        {"model_id": "other-model"},
        {"revision": "def456"},
        {"prompt_version": "p2"},
        {"instruction": "Find products."},
        {"query_text": "running shoe"},
        {"query_text": None, "query_image_hash": "i" * 64},
        {"query_image_hash": "i" * 64},
        {"doc_hash": "e" * 64},
    ],
)
def test_any_component_changes_the_key(change: dict[str, object]) -> None:
    assert _key(**change) != _key()
    if "doc_hash" not in change:
        assert _slot_tag(_key(**change)) != _slot_tag(_key())


def test_components_do_not_run_into_each_other() -> None:
    assert _key(instruction="a|b", query_text="c") != _key(instruction="a", query_text="b|c")
    assert _key(query_text="") != _key(query_text=None, query_image_hash="")
    assert _key() == _key()


async def test_lru_round_trip_and_stats() -> None:
    cache = LruScoreCache(maxsize=10, ttl_s=60)
    await cache.set_many({"a": 0.25, "b": 1.0})
    assert await cache.get_many(["a", "x", "b"]) == [0.25, None, 1.0]
    assert cache.stats == CacheStats(hits=2, misses=1, errors=0)
    assert await cache.get_many([]) == []


async def test_lru_evicts_and_expires() -> None:
    cache = LruScoreCache(maxsize=2, ttl_s=0.05)
    await cache.set_many({"a": 0.1, "b": 0.2, "c": 0.3})
    assert (await cache.get_many(["a", "b", "c"]))[0] is None
    await asyncio.sleep(0.08)
    assert await cache.get_many(["b", "c"]) == [None, None]


async def test_redis_down_means_misses_and_no_exception() -> None:
    cache = RedisScoreCache("redis://127.0.0.1:1/0", ttl_s=60, timeout_s=0.05, retry_after_s=60)
    assert await cache.get_many(["k1", "k2"]) == [None, None]
    await cache.set_many({"k1": 0.5})
    assert cache.stats.errors == 1  # after a failure Redis is skipped, not retried per call
    assert cache.stats.misses == 2
    assert await cache.get_many(["k1"]) == [None]
    assert cache.stats.errors == 1
    await cache.close()


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in writers:
        writer.close()
    server.close()


async def test_slow_redis_times_out_within_budget(silent_server: int) -> None:
    cache = RedisScoreCache(f"redis://127.0.0.1:{silent_server}/0", ttl_s=60, timeout_s=0.05)
    started = time.monotonic()
    assert await cache.get_many(["k"]) == [None]
    assert time.monotonic() - started < 0.3
    assert cache.stats.errors == 1
    await cache.close()


def test_redis_cache_validates_its_arguments() -> None:
    with pytest.raises(ValueError):
        RedisScoreCache("redis://127.0.0.1:1/0", ttl_s=0)
    with pytest.raises(ValueError):
        RedisScoreCache("redis://127.0.0.1:1/0", ttl_jitter=1.5)


async def test_the_in_process_cache_is_bounded_in_bytes() -> None:
    from connectors.score_cache import LruScoreCache

    cache = LruScoreCache(maxsize=1_000_000, max_bytes=LruScoreCache.ENTRY_BYTES * 10)
    await cache.set_many({f"k{i}": 0.5 for i in range(25)})
    assert await cache.get_many(["k0", "k14", "k15", "k24"]) == [None, None, 0.5, 0.5]
