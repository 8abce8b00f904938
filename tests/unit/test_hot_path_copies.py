"""Guards for the warm search path's hand-written copies and caches."""

from __future__ import annotations

import asyncio
from dataclasses import fields

from connectors.score_cache import CacheStats, LruScoreCache
from sidecar.rules import RankedHit, apply_rules, parse_rules


def test_ranking_copies_every_field_of_a_hit() -> None:
    # The rules engine builds scored hits with RankedHit(...) instead of replace(); a new
    # field must be added there too, or it would be dropped silently.
    assert [f.name for f in fields(RankedHit)] == [
        "doc_id",
        "source",
        "model_score",
        "original_score",
        "final_score",
        "band",
        "rules_fired",
    ]
    source = {"brand": "acme"}
    hit = RankedHit("a", source, 0.9, 3.0, 0.9, rules_fired=["earlier"])
    (ranked,) = apply_rules([hit], "q", "i", parse_rules({}), degraded=False)
    assert (ranked.doc_id, ranked.source, ranked.model_score) == ("a", source, 0.9)
    assert (ranked.original_score, ranked.final_score, ranked.band) == (3.0, 0.9, "strong")
    assert ranked.rules_fired == ["earlier"] and ranked.rules_fired is not hit.rules_fired


async def test_lru_keeps_recently_read_entries() -> None:
    cache = LruScoreCache(maxsize=2, ttl_s=60)
    await cache.set_many({"a": 0.1, "b": 0.2})
    assert await cache.get_many(["a"]) == [0.1]  # "b" is now the least recently used
    await cache.set_many({"c": 0.3})
    assert await cache.get_many(["a", "b", "c"]) == [0.1, None, 0.3]
    assert cache.stats == CacheStats(hits=3, misses=1)


async def test_lru_rewrite_refreshes_the_ttl() -> None:
    cache = LruScoreCache(maxsize=10, ttl_s=0.05)
    await cache.set_many({"a": 0.1})
    await asyncio.sleep(0.03)
    await cache.set_many({"a": 0.2})
    await asyncio.sleep(0.03)
    assert await cache.get_many(["a"]) == [0.2]
    await asyncio.sleep(0.06)
    assert await cache.get_many(["a", "a"]) == [None, None]
