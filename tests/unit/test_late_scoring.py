"""Scoring that misses a search's deadline finishes in the background and warms the cache.

The pipeline runs with the real in-process LRU cache and a model that answers only when
the test lets it, so "slower than the deadline" is exact rather than timed.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from connectors.hydrate import FieldMapping, Hydrator
from connectors.score_cache import LruScoreCache
from lychee_engine.errors import EngineError
from lychee_engine.types import Document, Query
from sidecar.background_scoring import BackgroundCompletions
from sidecar.breaker import CircuitBreaker
from sidecar.image_input import ImageResolver
from sidecar.metrics import Metrics
from sidecar.rules import RulesStore
from sidecar.search_pipeline import SearchPipeline
from sidecar.settings import IndexConfig, Settings
from sidecar.window_scoring import WindowScorer
from tests.unit.test_pipeline import FakeSearch, NoFetch

DEADLINE_S = 0.05
BODY = {"query": {"match": {"title": "mug"}}, "size": 5, "ext": {"rerank": {"explain": True}}}


class GatedScorer:
    """Answers each call only once `release` is set; records started and cancelled calls."""

    model_id = "gated"
    revision = "1"
    supports_images = False

    def __init__(self, fail: bool = False) -> None:
        self.release = asyncio.Event()
        self.fail = fail
        self.calls = 0
        self.cancelled = 0

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        self.calls += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail:
            raise EngineError("the model broke after the deadline")
        return [0.1 * (i % 10) for i in range(len(documents))]

    async def close(self) -> None:
        return None


def _pipeline(
    scorer: GatedScorer, cache: LruScoreCache, late_limit: int
) -> tuple[SearchPipeline, WindowScorer]:
    settings = Settings(default_index=IndexConfig(window=10), model_deadline_ms=50)
    metrics = Metrics()
    # A high failure count: the breaker must not be what stops the second search.
    breaker = CircuitBreaker(100, 30.0)
    window_scorer = WindowScorer(
        scorer, cache, breaker, DEADLINE_S, "p1", metrics, late_limit=late_limit, chunk=1000
    )
    hydrator = Hydrator(FieldMapping(), None, 512)
    pipeline = SearchPipeline(
        settings,
        FakeSearch(),
        window_scorer,
        lambda index: hydrator,
        ImageResolver(NoFetch(), 1024, 1_000_000),
        RulesStore(None),
        metrics,
    )
    return pipeline, window_scorer


async def _settled(window_scorer: WindowScorer) -> None:
    async with asyncio.timeout(5.0):
        await window_scorer.late.drained()


async def test_a_late_score_warms_the_cache_for_the_next_search() -> None:
    scorer, cache = GatedScorer(), LruScoreCache(1000)
    pipeline, window_scorer = _pipeline(scorer, cache, late_limit=4)
    first = await pipeline.run("products", BODY, {})
    assert (first.status, first.response["rerank"]["reason"]) == ("degraded", "timeout")
    assert window_scorer.late.pending == 1  # still scoring after the answer went out
    scorer.release.set()
    await _settled(window_scorer)
    second = await pipeline.run("products", BODY, {})
    assert second.status == "ok"
    assert second.response["rerank"]["cache_hits"] == 10
    assert all(hit["_rerank"]["cached"] for hit in second.response["hits"]["hits"])
    assert (scorer.calls, scorer.cancelled) == (1, 0)
    await window_scorer.close()


async def test_past_the_bound_a_late_call_is_cancelled_as_before() -> None:
    scorer, cache = GatedScorer(), LruScoreCache(1000)
    pipeline, window_scorer = _pipeline(scorer, cache, late_limit=1)
    await pipeline.run("products", BODY, {})
    other = {**BODY, "query": {"match": {"title": "lamp"}}}
    assert (await pipeline.run("products", other, {})).status == "degraded"
    await asyncio.sleep(0)  # let the cancellation reach the scorer
    assert (scorer.calls, scorer.cancelled, window_scorer.late.pending) == (2, 1, 1)
    scorer.release.set()
    await _settled(window_scorer)
    assert (await pipeline.run("products", BODY, {})).response["rerank"]["cache_hits"] == 10
    assert (await pipeline.run("products", other, {})).response["rerank"]["cache_hits"] == 0
    await window_scorer.close()


async def test_a_late_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    scorer, cache = GatedScorer(fail=True), LruScoreCache(1000)
    pipeline, window_scorer = _pipeline(scorer, cache, late_limit=4)
    assert (await pipeline.run("products", BODY, {})).status == "degraded"
    with caplog.at_level(logging.WARNING, logger="sidecar.background_scoring"):
        scorer.release.set()
        await _settled(window_scorer)
    assert "late scoring failed" in caplog.text
    assert len(cache._entries) == 0  # nothing was cached
    await window_scorer.close()


async def test_close_cancels_late_scoring() -> None:
    scorer, cache = GatedScorer(), LruScoreCache(1000)
    pipeline, window_scorer = _pipeline(scorer, cache, late_limit=4)
    assert (await pipeline.run("products", BODY, {})).status == "degraded"
    await window_scorer.close()
    assert (scorer.cancelled, window_scorer.late.pending) == (1, 0)
    scorer.release.set()
    second = await pipeline.run("products", BODY, {})
    assert second.response["rerank"]["cache_hits"] == 0


async def test_without_a_bound_nothing_runs_on() -> None:
    scorer = GatedScorer()
    pipeline, window_scorer = _pipeline(scorer, LruScoreCache(1000), late_limit=0)
    assert (await pipeline.run("products", BODY, {})).status == "degraded"
    await asyncio.sleep(0)
    assert (scorer.cancelled, window_scorer.late.pending) == (1, 0)


async def test_a_late_call_has_its_own_time_limit(caplog: pytest.LogCaptureFixture) -> None:
    late = BackgroundCompletions(2, max_wait_s=0.02)
    stuck = asyncio.ensure_future(asyncio.Event().wait())
    results: list[bool] = []

    async def record(value: bool) -> None:
        results.append(value)

    assert late.adopt(stuck, record)
    with caplog.at_level(logging.WARNING, logger="sidecar.background_scoring"):
        await late.drained()
    await asyncio.sleep(0)
    assert stuck.cancelled() and results == []
    assert "dropped" in caplog.text
