"""A small circuit breaker for the model: stop calling it while it keeps failing.

Closed: calls go through. After `failures` consecutive failures it opens for `reset_s`
seconds (calls are refused at once, the caller degrades). Then it is half-open: one trial
call goes through; success closes it, failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failures; `allow()` says whether a call may go through now."""

    def __init__(
        self,
        failures: int = 5,
        reset_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be >= 1")
        if reset_s < 0:
            raise ValueError("reset_s must be >= 0")
        self._threshold = failures
        self._reset_s = reset_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._reset_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow(self) -> bool:
        """True when a call may go through; in half-open state only one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._trial_running:
            return False
        self._trial_running = True
        return True

    def record_success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_running = False

    def abandon(self) -> None:
        """The allowed call ended without a verdict (e.g. the client went away)."""
        self._trial_running = False

    def record_failure(self) -> None:
        self._trial_running = False
        self._consecutive += 1
        if self._opened_at is not None or self._consecutive >= self._threshold:
            self._opened_at = self._clock()
