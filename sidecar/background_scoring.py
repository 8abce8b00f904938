"""Model calls that missed their request's deadline, left to finish so the cache warms.

A search whose scoring passes the deadline answers degraded at once (DESIGN §5), but
cancelling the scoring would throw the model's work away: on a slow machine every search
would then miss the deadline and none would ever be served from the cache. Instead the
call is adopted here and, when it finishes, its scores are handed to a callback (the
cache write). Bounded: past `limit` adopted calls, a new one is cancelled as before, so a
stuck model cannot pile up work; each one also has its own time limit. Failures are logged,
never raised; `close` cancels whatever is still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class BackgroundCompletions:
    """A bounded set of adopted tasks whose results are passed to a callback when done."""

    def __init__(self, limit: int, max_wait_s: float) -> None:
        """`limit` tasks at once (0 adopts none); each is cancelled after `max_wait_s`."""
        if limit < 0 or max_wait_s <= 0:
            raise ValueError("need limit >= 0 and max_wait_s > 0")
        self._limit = limit
        self._max_wait_s = max_wait_s
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pending(self) -> int:
        """How many adopted tasks are still running."""
        return len(self._running)

    def adopt(self, task: asyncio.Future[T], on_done: Callable[[T], Awaitable[None]]) -> bool:
        """Let `task` finish and then await `on_done(result)`; False (and `task` cancelled)
        when the bound is reached or this set is closed."""
        if self._closed or len(self._running) >= self._limit:
            task.cancel()
            return False
        runner = asyncio.create_task(self._finish(task, on_done), name="lychee-late-scores")
        self._running.add(runner)
        runner.add_done_callback(self._running.discard)
        # However the runner ends (even cancelled before it started), the call ends with it.
        runner.add_done_callback(lambda _: task.cancel())
        return True

    async def drained(self) -> None:
        """Wait until every adopted task has finished (or failed)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        """Cancel every adopted task and wait for them to end."""
        self._closed = True
        running = list(self._running)
        for runner in running:
            runner.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _finish(
        self, task: asyncio.Future[T], on_done: Callable[[T], Awaitable[None]]
    ) -> None:
        try:
            async with asyncio.timeout(self._max_wait_s):
                result = await task
            await on_done(result)
        except TimeoutError:
            log.warning("late scoring still running after %.0f s, dropped", self._max_wait_s)
        except Exception as exc:  # a background completion must never raise
            log.warning("late scoring failed, nothing cached: %r", exc)
