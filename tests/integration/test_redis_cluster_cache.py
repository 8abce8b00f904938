"""RedisScoreCache(cluster=True) against a real single-node Redis Cluster: one slot per
request, one MGET, TTLs, failing open while the node is down and resuming after."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from connectors.score_cache import RedisScoreCache, document_cache_key, query_key_prefix
from tests.service_procs import RedisServer, free_cluster_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def _cluster_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    log_dir = tmp_path_factory.mktemp("redis-cluster")
    server = RedisServer(free_cluster_port(), log_dir, cluster=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cluster_server(_cluster_module_server: RedisServer) -> Iterator[RedisServer]:
    yield _cluster_module_server
    # A fault test that failed midway must not leave later tests without the node.
    if not _cluster_module_server.running:
        _cluster_module_server.start()


@pytest.fixture
async def raw(cluster_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain connection to the node: it owns every slot, so it answers for every key."""
    client = Redis.from_url(cluster_server.url)
    yield client
    await client.aclose()


def _request_keys(count: int) -> list[str]:
    """The keys of one request, built as the window scorer builds them."""
    query = f"query-{uuid.uuid4()}"  # unique per run: no leftovers from earlier runs
    prefix = query_key_prefix("m", "r", "p1", "instr", query, None)
    return [document_cache_key(prefix, f"doc-{n}") for n in range(count)]


async def _mget_calls(raw: Redis) -> int:
    stats = await raw.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


async def test_one_request_is_one_slot_one_mget_with_ttls(
    cluster_server: RedisServer, raw: Redis
) -> None:
    cache = RedisScoreCache(
        cluster_server.url, ttl_s=1000, ttl_jitter=0.1, timeout_s=0.5, cluster=True
    )
    keys = _request_keys(50)
    assert await cache.get_many(keys) == [None] * 50
    scores = {key: n / 50 for n, key in enumerate(keys)}
    await cache.set_many(scores)

    before = await _mget_calls(raw)
    assert await cache.get_many(keys) == list(scores.values())
    assert await _mget_calls(raw) - before == 1
    assert (cache.stats.hits, cache.stats.misses, cache.stats.errors) == (50, 50, 0)

    slots = {await raw.execute_command("CLUSTER KEYSLOT", key) for key in keys}
    assert len(slots) == 1
    ttls = [await raw.ttl(key) for key in keys]
    assert all(895 <= ttl <= 1100 for ttl in ttls)
    assert len(set(ttls)) > 1  # jittered
    await cache.close()


async def test_stopped_node_means_misses_and_restart_resumes(
    cluster_server: RedisServer,
) -> None:
    cache = RedisScoreCache(
        cluster_server.url, ttl_s=60, timeout_s=0.2, retry_after_s=0.3, cluster=True
    )
    keys = _request_keys(50)
    await cache.set_many({keys[0]: 0.25})
    assert (await cache.get_many(keys[:1])) == [0.25]

    with cluster_server.stopped():
        started = time.monotonic()
        assert await cache.get_many(keys) == [None] * 50  # MGET fails on the known node
        await cache.set_many({keys[1]: 0.75})  # skipped, no exception
        assert time.monotonic() - started < 1.0
        assert cache.stats.errors == 1

        await asyncio.sleep(0.35)  # past retry_after_s: the next call rediscovers the cluster
        started = time.monotonic()
        assert await cache.get_many(keys) == [None] * 50  # no reachable node: not a RedisError
        assert time.monotonic() - started < 1.0
        assert cache.stats.errors == 2

    await asyncio.sleep(0.35)
    scores = {key: 0.5 for key in keys}
    await cache.set_many(scores)  # the restarted node lost its data (no persistence)
    assert await cache.get_many(keys) == [0.5] * 50
    assert cache.stats.errors == 2
    await cache.close()
