"""The whole-response result cache's parts: index generations (fake clock, fake reads), the
byte-bounded cache, and request keys. The search route's use of it: test_result_cache_route.py."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from cachetools import TTLCache

from connectors.errors import UpstreamError
from sidecar import result_cache
from sidecar.result_cache import IndexGenerations, ResultCache, is_volatile, request_key

DOWN = UpstreamError(503, {"error": {"type": "upstream_unavailable"}, "status": 503})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Fetch:
    """A generation read that counts calls; with `gate` set it waits for the gate."""

    def __init__(self) -> None:
        self.calls, self.token = 0, "g1"
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, index: str) -> str:
        self.calls += 1
        await (self.gate.wait() if self.gate else asyncio.sleep(0.01))
        if self.error is not None:
            raise self.error
        return f"{index}:{self.token}"


async def test_generation_is_reread_only_after_poll_s() -> None:
    fetch, clock = Fetch(), Clock()
    generations = IndexGenerations(fetch, poll_s=1.0, clock=clock)
    assert await generations.current("a") == "a:g1"
    fetch.token, clock.now = "g2", 0.99
    assert await generations.current("a") == "a:g1"
    assert fetch.calls == 1
    clock.now = 1.0
    assert await generations.current("a") == "a:g2"
    assert fetch.calls == 2


async def test_concurrent_callers_share_one_read() -> None:
    fetch = Fetch()
    generations = IndexGenerations(fetch, poll_s=1.0, clock=Clock())
    tokens = await asyncio.gather(*(generations.current("a") for _ in range(20)))
    assert tokens == ["a:g1"] * 20
    assert fetch.calls == 1


async def test_a_failed_read_bypasses_until_the_next_poll() -> None:
    fetch, clock = Fetch(), Clock()
    fetch.error = DOWN
    generations = IndexGenerations(fetch, poll_s=1.0, clock=clock)
    assert await generations.current("a") is None
    fetch.error, clock.now = None, 0.5
    assert await generations.current("a") is None  # not retried on every request
    assert fetch.calls == 1
    clock.now = 1.0
    assert await generations.current("a") == "a:g1"
    assert fetch.calls == 2


async def test_a_cancelled_waiter_leaves_the_shared_read_running() -> None:
    fetch = Fetch()
    fetch.gate = asyncio.Event()
    generations = IndexGenerations(fetch, poll_s=1.0, clock=Clock())
    first = asyncio.create_task(generations.current("a"))
    second = asyncio.create_task(generations.current("a"))
    await asyncio.sleep(0.01)  # both wait on the one read
    first.cancel()
    fetch.gate.set()
    assert await second == "a:g1"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await generations.current("a") == "a:g1"  # the read was kept, not repeated
    assert fetch.calls == 1


async def test_known_indices_are_bounded() -> None:
    fetch = Fetch()
    generations = IndexGenerations(fetch, poll_s=1.0, clock=Clock(), max_indices=3)
    for index in ("a", "b", "c", "d"):
        await generations.current(index)
    await generations.current("d")
    assert fetch.calls == 4  # "d" is still known
    await generations.current("a")
    assert fetch.calls == 5  # the table started over when "d" came in
    for i in range(100):
        await generations.current(f"i{i}")
    assert len(generations._known) <= 3


def test_the_cache_is_bounded_by_bytes() -> None:
    cache = ResultCache(max_bytes=800, ttl_s=60)
    for i in range(10):
        cache.put(b"k%d" % i, b"x" * 100)
    assert len(cache) == 8
    assert cache.get(b"k0") is None and cache.get(b"k1") is None  # oldest evicted
    assert cache.get(b"k9") == b"x" * 100


def test_an_entry_over_an_eighth_of_the_budget_is_not_stored() -> None:
    cache = ResultCache(max_bytes=800, ttl_s=60)
    cache.put(b"big", b"x" * 101)
    cache.put(b"fits", b"x" * 100)
    assert cache.get(b"big") is None
    assert cache.get(b"fits") == b"x" * 100


def test_entries_expire_after_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(result_cache, "TTLCache", functools.partial(TTLCache, timer=clock))
    cache = ResultCache(max_bytes=800, ttl_s=5)
    cache.put(b"k", b"body")
    clock.now = 4.9
    assert cache.get(b"k") == b"body"
    clock.now = 5.0
    assert cache.get(b"k") is None


LEAK = b"authorization:Basic YTpi"  # BASE's header as the old key spelled it
BODY = b'{"query":{"match":{"title":"mug"}}}'
BASE: dict[str, Any] = {
    "index": "products",
    "generation": "u1/3/10/0",
    "raw_body": BODY,
    "params": {"size": "10", "from": "0"},
    "headers": {"Authorization": "Basic YTpi"},
    "context": "model@1/rules=1",
}


@pytest.mark.parametrize(
    "change",
    [
        {"index": "products-2"},
        {"generation": "u1/4/11/0"},
        {"raw_body": b'{"query":{"match":{"title":"cup"}}}'},
        {"params": {"size": "20", "from": "0"}},
        {"params": {"size": "10", "from": "0", "filter_path": "hits"}},
        {"headers": {"Authorization": "Basic Yzpk"}},
        {"headers": {}},
        {"context": "model@1/rules=2"},
        # the parts must not run into one another (%00 in a query string decodes to \0)
        {"params": {"from": "0", "size": "10\0" + LEAK.decode()}, "headers": {}},
        {"params": {"from": "0"}, "headers": {}, "raw_body": b"size=10\0" + LEAK + b"\0" + BODY},
    ],
)
def test_request_key_differs_with_any_part(change: dict[str, Any]) -> None:
    assert request_key(**{**BASE, **change}) != request_key(**BASE)


def test_request_key_ignores_order_and_header_name_case() -> None:
    shuffled = {"params": {"from": "0", "size": "10"}, "headers": {"authorization": "Basic YTpi"}}
    assert request_key(**{**BASE, **shuffled}) == request_key(**BASE)


@pytest.mark.parametrize(
    ("body", "params", "volatile"),
    [
        (b'{"query":{"range":{"created":{"gte":"now-1d/d"}}}}', {}, True),
        (b'{"query":{"range":{"created":{"lte":"now"}}}}', {}, True),
        (b'{"query":{"function_score":{"random_score":{}}}}', {}, True),
        (b'{"query":{"match":{"title":"snow boots"}}}', {}, False),
        (b'{"query":{"match":{"title":"now trending"}}}', {}, False),
        (b'{"query":{"match":{"title":"jacket"}}}', {"request_cache": "false"}, True),
        (b'{"query":{"match":{"title":"jacket"}}}', {"request_cache": "true"}, False),
    ],
)
def test_time_dependent_and_random_requests_are_not_cached(
    body: bytes, params: dict[str, str], volatile: bool
) -> None:
    assert is_volatile(body, params) is volatile
