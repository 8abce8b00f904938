"""Windows scored in order and in chunks: the depth reached counts, and only engine faults
count against the circuit breaker (issue 14, item 6).

The scorers here answer a call at once or never (until the test ends), so "past the
deadline" is exact rather than timed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from connectors.hydrate import FieldMapping, Hydrator
from connectors.score_cache import LruScoreCache
from lychee_engine.errors import EngineError, Overloaded, UnsupportedInput
from lychee_engine.types import Document, Query
from sidecar.breaker import BreakerState, CircuitBreaker
from sidecar.metrics import Metrics, StageTimer
from sidecar.ordered_scoring import Liveness, OrderedOutcome, Verdict, score_in_order
from sidecar.window_scoring import ScoringQuery, WindowScorer

DEADLINE_S = 0.5  # generous: calls that answer, answer at once; the others never do


class Ticking:
    """A clock a second later at every reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _stalled() -> Liveness:
    """An engine silent for longer than its stall time at every look."""
    return Liveness(stall_s=0.5, clock=Ticking())


async def _order(
    scorer: ScriptedScorer, n: int, liveness: Liveness | None = None
) -> OrderedOutcome:
    docs = _docs(n)
    return await score_in_order(
        scorer, Query(text="mug"), docs, None, 4, DEADLINE_S, liveness or _stalled()
    )


@dataclass
class Stats:
    batches_run: int


class ScriptedScorer:
    """Call k answers `script[k]`: "ok" (scores at once), "hang", or an exception to raise.
    Past the script every call answers "ok". `busy` counts forward passes of others."""

    model_id = "scripted"
    revision = "1"
    supports_images = False

    def __init__(self, *script: Any, busy: bool = False) -> None:
        self.script = list(script)
        self.calls: list[int] = []
        self.busy = busy
        self.forward_passes = 0
        self.never = asyncio.Event()
        self.started = asyncio.Event()

    def stats(self) -> Stats:
        return Stats(self.forward_passes)

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        step = self.script[len(self.calls)] if len(self.calls) < len(self.script) else "ok"
        self.calls.append(len(documents))
        self.started.set()
        if step == "hang":
            if self.busy:
                self.forward_passes += 1  # someone else's batch finished meanwhile
            await self.never.wait()
        if isinstance(step, Exception):
            raise step
        return [1.0 - 0.01 * int(d.text.split()[-1]) for d in documents if d.text]

    async def close(self) -> None:
        return None


def _docs(n: int) -> list[Document]:
    return [Document(text=f"mug number {i}") for i in range(n)]


def _hits(n: int) -> list[dict[str, Any]]:
    return [
        {"_id": f"d{i}", "_score": 100.0 - i, "_source": {"title": f"mug number {i}"}}
        for i in range(n)
    ]


async def test_all_chunks_scored_in_window_order() -> None:
    scorer = ScriptedScorer()
    outcome = await _order(scorer, 10)
    assert scorer.calls == [4, 4, 2]
    assert outcome.stopped is None and outcome.scored == 10
    assert outcome.scores[3] == 0.97
    assert outcome.verdict is Verdict.HEALTHY


async def test_the_deadline_keeps_the_chunks_finished_before_it() -> None:
    scorer = ScriptedScorer("ok", "hang")
    outcome = await _order(scorer, 10)
    assert outcome.stopped == "timeout"
    assert outcome.scored == 4
    assert outcome.scores[4:] == [None] * 6
    assert outcome.verdict is Verdict.HEALTHY  # the model answered: not a fault
    assert [positions for positions, _ in outcome.late] == [[4, 5, 6, 7], [8, 9]]
    for _, running in outcome.late:
        running.cancel()


async def test_a_stuck_engine_is_a_fault_but_a_busy_one_is_not() -> None:
    stuck = ScriptedScorer("hang")
    outcome = await _order(stuck, 3)
    assert (outcome.scored, outcome.verdict) == (0, Verdict.FAULT)
    busy = ScriptedScorer("hang", busy=True)
    outcome = await _order(busy, 3)
    assert (outcome.scored, outcome.verdict) == (0, Verdict.NONE)
    # No pass finished during this wait, but one did lately (a long pass on a loaded CPU).
    recent = ScriptedScorer("hang")
    outcome = await _order(recent, 3, Liveness(stall_s=3600.0))
    assert (outcome.scored, outcome.verdict) == (0, Verdict.NONE)
    for done in (stuck, busy, recent):
        done.never.set()


async def test_inputs_and_load_are_never_faults() -> None:
    cases = [
        (UnsupportedInput("an image-only query"), "unsupported_input", Verdict.NONE),
        (Overloaded("queue full"), "overloaded", Verdict.NONE),
        (EngineError("forward failed"), "engine_error", Verdict.FAULT),
    ]
    for error, stopped, verdict in cases:
        scorer = ScriptedScorer(error)
        outcome = await _order(scorer, 6)
        assert (outcome.stopped, outcome.verdict, outcome.scored) == (stopped, verdict, 0)


async def test_a_full_queue_past_the_first_chunk_is_a_partial_window() -> None:
    scorer = ScriptedScorer("ok", Overloaded("queue full"))
    outcome = await _order(scorer, 10)
    assert (outcome.stopped, outcome.scored, outcome.verdict) == ("overloaded", 4, Verdict.HEALTHY)


def _window_scorer(scorer: ScriptedScorer, breaker: CircuitBreaker, chunk: int = 4) -> Any:
    cache = LruScoreCache(1000, 3600)
    window_scorer = WindowScorer(
        scorer, cache, breaker, DEADLINE_S, "p1", Metrics(), chunk=chunk, stall_s=0.01
    )
    return window_scorer, cache


async def _score(window_scorer: WindowScorer, hits: list[dict[str, Any]]) -> Any:
    query = ScoringQuery(Query(text="mug"), "mug", "", "instruction")
    hydrator = Hydrator(FieldMapping(), None, 512)
    return await window_scorer.score(query, hits, ["title"], hydrator, StageTimer(Metrics()))


async def test_window_depth_is_the_longest_scored_prefix() -> None:
    scorer = ScriptedScorer("ok", "hang")
    window_scorer, _ = _window_scorer(scorer, CircuitBreaker(1, 60.0))
    scores = await _score(window_scorer, _hits(10))
    assert scores.depth == 4
    assert scores.degraded_reason == "timeout"
    assert all(s is not None for s in scores.scores[:4])
    assert scores.scores[4:] == [None] * 6
    await window_scorer.close()


async def test_cached_scores_come_first_and_count_toward_the_depth() -> None:
    breaker = CircuitBreaker(1, 60.0)
    window_scorer, _ = _window_scorer(ScriptedScorer(), breaker)
    await _score(window_scorer, _hits(6))  # hits 0-5 are now cached
    hanging = ScriptedScorer("hang")
    window_scorer._scorer = hanging  # same cache, a model that now never answers
    scores = await _score(window_scorer, _hits(10))
    assert scores.cached == [True] * 6 + [False] * 4
    assert scores.depth == 6  # the cached top is reranked, the rest keeps OpenSearch's order
    assert breaker.state is BreakerState.OPEN  # nothing fresh within the deadline: a fault
    await window_scorer.close()


async def test_whole_window_and_nothing_scored_are_not_partial() -> None:
    window_scorer, _ = _window_scorer(ScriptedScorer(), CircuitBreaker(1, 60.0))
    scores = await _score(window_scorer, _hits(10))
    assert (scores.depth, scores.degraded_reason) == (None, None)
    failing, _ = _window_scorer(ScriptedScorer(EngineError("broken")), CircuitBreaker(1, 60.0))
    scores = await _score(failing, _hits(10))
    assert (scores.depth, scores.degraded_reason) == (None, "engine_error")


async def test_unsupported_inputs_never_open_the_breaker() -> None:
    breaker = CircuitBreaker(2, 60.0)
    scorer = ScriptedScorer(*[UnsupportedInput("image-only query")] * 5)
    window_scorer, _ = _window_scorer(scorer, breaker)
    for _ in range(5):
        scores = await _score(window_scorer, _hits(3))
        assert scores.degraded_reason == "unsupported_input"
    assert breaker.state is BreakerState.CLOSED
    assert (await _score(window_scorer, _hits(3))).degraded_reason is None  # others scored


async def test_deadline_misses_under_load_never_open_the_breaker() -> None:
    breaker = CircuitBreaker(2, 60.0)
    scorer = ScriptedScorer(*["hang"] * 5, busy=True)
    window_scorer, _ = _window_scorer(scorer, breaker, chunk=10)
    for _ in range(5):
        assert (await _score(window_scorer, _hits(3))).degraded_reason == "timeout"
    assert breaker.state is BreakerState.CLOSED
    await window_scorer.close()


async def test_a_cancelled_request_leaves_no_verdict() -> None:
    breaker = CircuitBreaker(1, 60.0)
    scorer = ScriptedScorer("hang")
    window_scorer, _ = _window_scorer(scorer, breaker)
    task = asyncio.create_task(_score(window_scorer, _hits(3)))
    await scorer.started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert breaker.state is BreakerState.CLOSED


class HangAfterFirst(ScriptedScorer):
    """The first chunk scores by item number (higher is better); later chunks never end."""

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        if self.calls:
            self.calls.append(len(documents))
            await self.never.wait()
        self.calls.append(len(documents))
        return [0.5 + int((d.text or "0").split()[-1]) / 100 for d in documents]


async def test_a_deadline_mid_window_answers_partial_with_the_top_reranked() -> None:
    from tests.unit.test_pipeline import FakeSearch, _pipeline

    scorer = HangAfterFirst()
    pipeline = _pipeline(scorer, FakeSearch(), window=10, deadline_ms=500, chunk=4)  # type: ignore[arg-type]
    body = {"query": {"match": {"title": "zzz"}}, "size": 6, "ext": {"rerank": {"explain": True}}}
    result = await pipeline.run("products", body, {})
    assert result.status == "partial" and not result.cacheable
    rerank = result.response["rerank"]
    assert (rerank["status"], rerank["depth"], rerank["reason"]) == ("partial", 4, "timeout")
    hits = result.response["hits"]["hits"]
    # [0, 4) reranked by the model (item 3 best), then OpenSearch's order from d4 on.
    assert [h["_id"] for h in hits] == ["d3", "d2", "d1", "d0", "d4", "d5"]
    assert [h["_rerank"].get("beyond_window", False) for h in hits] == [False] * 4 + [True] * 2
    scorer.never.set()
