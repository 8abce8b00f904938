"""Score documents in window order, a few at a time, until done or out of time or room.

A window scored as one model call is all or nothing: on a busy machine a 50-hit window that
needs 2.5 s against a 2 s deadline yields no score at all, and the search degrades to
OpenSearch's order. Scored in order in chunks, whatever finished before the deadline
counts: the top of the window is reranked (`partial`) and the rest keeps OpenSearch's
order. Small chunks also keep the model queue fair: a request holds at most
`AHEAD` chunks in the queue at once, so a 1000-hit window cannot sit in front of every
other shopper's 20 hits.

The verdict for the circuit breaker is part of the outcome: only a fault of the engine
(an error, running out of memory, or a deadline passed while the engine has finished no
call of any request for `stall_s`: it hangs) is one. Inputs the backend cannot take, a full
queue and a deadline missed while the engine keeps finishing calls (for this request or
others: it is busy, e.g. a long forward pass on a loaded CPU) are load or the caller's
input, never a fault (DESIGN §5).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from lychee_engine.errors import EngineError, Overloaded, UnsupportedInput
from lychee_engine.types import Document, Query, Scorer

# Chunks of one request queued at once: the next one is prepared while one is scored.
AHEAD = 2


class Verdict(StrEnum):
    """What the outcome says about the engine's health."""

    HEALTHY = "healthy"  # it scored something: close the breaker
    NONE = "none"  # nothing learned (input refused, queue full, cancelled while busy)
    FAULT = "fault"  # it failed, or finished nothing at all within the deadline


@dataclass(slots=True)
class OrderedOutcome:
    """Scores for a prefix of the documents (None past it) and why scoring stopped."""

    scores: list[float | None]
    stopped: str | None = None  # None: all scored; else timeout|overloaded|engine_error|...
    verdict: Verdict = Verdict.HEALTHY
    # Chunks still running when the deadline passed: (document positions, their scores).
    late: list[tuple[list[int], asyncio.Future[list[float]]]] = field(default_factory=list)

    @property
    def scored(self) -> int:
        """How many leading documents have a score."""
        for i, value in enumerate(self.scores):
            if value is None:
                return i
        return len(self.scores)


class Liveness:
    """When a model call of any request last finished: the engine is alive while recent."""

    def __init__(self, stall_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._stall_s = stall_s
        self._clock = clock
        self._last = clock()  # start-up counts: a cold engine is given stall_s too

    def beat(self) -> None:
        self._last = self._clock()

    def stalled(self) -> bool:
        return self._clock() - self._last > self._stall_s


def engine_progress(scorer: Scorer) -> Callable[[], int | None]:
    """A reading of the engine's finished forward passes, None when it cannot tell."""
    stats = getattr(scorer, "stats", None)

    def read() -> int | None:
        if not callable(stats):
            return None
        batches = getattr(stats(), "batches_run", None)
        return batches if isinstance(batches, int) else None

    return read


async def score_in_order(
    scorer: Scorer,
    query: Query,
    documents: Sequence[Document],
    instruction: str | None,
    chunk: int,
    deadline_s: float,
    liveness: Liveness,
) -> OrderedOutcome:
    """Score `documents` in order, `chunk` at a time, within `deadline_s` seconds; every
    finished call is a heartbeat of `liveness`."""
    outcome = OrderedOutcome([None] * len(documents))
    n = len(documents)
    chunks = [list(range(i, min(i + chunk, n))) for i in range(0, n, chunk)]
    progress = engine_progress(scorer)
    before = progress()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    pending: deque[tuple[list[int], asyncio.Future[list[float]]]] = deque()
    todo = deque(chunks)
    try:
        while todo or pending:
            while todo and len(pending) < AHEAD:
                positions = todo.popleft()
                call = scorer.score(query, [documents[i] for i in positions], instruction)
                pending.append((positions, asyncio.ensure_future(call)))
            positions, running = pending[0]
            done, _ = await asyncio.wait({running}, timeout=max(0.0, deadline - loop.time()))
            if not done:
                outcome.stopped = "timeout"
                break
            pending.popleft()
            for i, value in zip(positions, running.result(), strict=True):
                outcome.scores[i] = float(value)
            liveness.beat()
    except asyncio.CancelledError:
        _cancel(pending)  # the request is gone: nobody waits for these scores
        raise
    except UnsupportedInput:
        outcome.stopped = "unsupported_input"
    except Overloaded:
        outcome.stopped = "overloaded"
    except EngineError:
        outcome.stopped = "engine_error"
    if outcome.stopped == "timeout":
        outcome.late = list(pending)
    else:
        _cancel(pending)
    busy = _advanced(before, progress())
    if busy:
        liveness.beat()  # other requests' forward passes finished meanwhile
    outcome.verdict = _verdict(outcome, busy or not liveness.stalled())
    return outcome


def _advanced(before: int | None, after: int | None) -> bool:
    return before is not None and after is not None and after > before


def _verdict(outcome: OrderedOutcome, alive: bool) -> Verdict:
    if outcome.stopped == "engine_error":
        return Verdict.FAULT
    if any(value is not None for value in outcome.scores):
        return Verdict.HEALTHY
    if outcome.stopped == "timeout":
        return Verdict.NONE if alive else Verdict.FAULT  # alive: busy, not broken
    return Verdict.NONE if outcome.stopped else Verdict.HEALTHY


def _cancel(pending: deque[tuple[list[int], asyncio.Future[list[float]]]]) -> None:
    for _, running in pending:
        if running.done() and not running.cancelled():
            running.exception()  # retrieved: a failed chunk nobody awaits is not an error
        running.cancel()
