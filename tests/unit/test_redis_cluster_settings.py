"""`cache.redis_cluster` builds a Redis Cluster client (without connecting), which fails
open like the plain one when no node answers."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from connectors.score_cache import RedisScoreCache
from sidecar.services import _build_cache
from sidecar.settings import CacheSettings, Settings

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def test_redis_cluster_setting_builds_a_cluster_client() -> None:
    settings = Settings(cache=CacheSettings(redis_url=UNREACHABLE, redis_cluster=True))
    cache = _build_cache(settings)
    assert isinstance(cache, RedisScoreCache)
    client = cache._client
    assert isinstance(client, RedisCluster)
    assert [(node.host, node.port) for node in client.startup_nodes] == [("127.0.0.1", 1)]
    assert client.retry.get_retries() == 0
    assert cache.stats.errors == 0  # built, not connected: port 1 would have failed
    await cache.close()


async def test_plain_redis_stays_the_default() -> None:
    cache = _build_cache(Settings(cache=CacheSettings(redis_url=UNREACHABLE)))
    assert isinstance(cache, RedisScoreCache)
    assert type(cache._client) is Redis
    await cache.close()


def test_redis_cluster_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LYCHEE_CONFIG", raising=False)
    monkeypatch.setenv("LYCHEE_CACHE__REDIS_URL", UNREACHABLE)
    monkeypatch.setenv("LYCHEE_CACHE__REDIS_CLUSTER", "true")
    assert Settings().cache.redis_cluster is True
    assert CacheSettings().redis_cluster is False


async def test_unreachable_cluster_fails_open() -> None:
    # No node to learn the slot map from raises RedisClusterException, not a RedisError.
    cache = RedisScoreCache(UNREACHABLE, timeout_s=0.05, retry_after_s=60, cluster=True)
    assert await cache.get_many(["a{q}", "b{q}"]) == [None, None]
    await cache.set_many({"a{q}": 0.5})  # inside the skip window: dropped
    assert (cache.stats.misses, cache.stats.errors) == (2, 1)
    await cache.close()
