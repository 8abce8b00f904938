"""RedisScoreCache against a real Redis: round trip, TTLs, one MGET, surviving a restart."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis

from connectors.score_cache import RedisScoreCache, cache_key
from tests.service_procs import RedisServer

pytestmark = pytest.mark.integration


def _keys(count: int) -> list[str]:
    query = f"query-{uuid.uuid4()}"  # unique per test run: no leftovers from earlier runs
    return [cache_key("m", "r", "p1", "instr", query, None, f"doc-{n}") for n in range(count)]


async def _mget_calls(raw: Redis) -> int:
    stats = await raw.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


async def test_round_trip_with_jittered_ttl(redis_url: str) -> None:
    cache = RedisScoreCache(redis_url, ttl_s=1000, ttl_jitter=0.1, timeout_s=0.5)
    raw = Redis.from_url(redis_url)
    keys = _keys(20)
    assert await cache.get_many(keys) == [None] * 20
    scores = {key: n / 20 for n, key in enumerate(keys)}
    await cache.set_many(scores)
    assert await cache.get_many(keys) == list(scores.values())
    assert (cache.stats.hits, cache.stats.misses, cache.stats.errors) == (20, 20, 0)
    ttls = [await raw.ttl(key) for key in keys]
    assert all(895 <= ttl <= 1100 for ttl in ttls)
    assert len(set(ttls)) > 1  # jitter spreads expiry so one request's keys don't expire together
    await raw.aclose()
    await cache.close()


async def test_one_mget_per_request(redis_url: str) -> None:
    cache = RedisScoreCache(redis_url, ttl_s=60, timeout_s=0.5)
    raw = Redis.from_url(redis_url)
    keys = _keys(50)
    await cache.set_many({key: 0.5 for key in keys[::2]})
    before = await _mget_calls(raw)
    values = await cache.get_many(keys)
    assert await _mget_calls(raw) - before == 1
    assert values == [0.5 if n % 2 == 0 else None for n in range(50)]
    await raw.aclose()
    await cache.close()


async def test_redis_stop_means_misses_and_restart_resumes(redis_server: RedisServer) -> None:
    # The managed server, not `redis_url`: an external Redis can't be stopped.
    cache = RedisScoreCache(redis_server.url, ttl_s=60, timeout_s=0.2, retry_after_s=0.3)
    first, second = _keys(2)
    await cache.set_many({first: 0.25})
    assert await cache.get_many([first]) == [0.25]

    with redis_server.stopped():
        started = time.monotonic()
        assert await cache.get_many([first, second]) == [None, None]
        await cache.set_many({second: 0.75})  # dropped, no exception
        assert time.monotonic() - started < 1.0
        assert cache.stats.errors >= 1

    await asyncio.sleep(0.4)  # past retry_after_s: the next call reconnects by itself
    await cache.set_many({second: 0.75})
    assert await cache.get_many([second]) == [0.75]
    await cache.close()
