"""Fail-open Redis calls for the caches that sit behind an in-process tier.

Redis is an optimisation: every call is bounded by a hard deadline, a failure is counted,
logged at most once per 30 s, and Redis is skipped for `retry_after_s` so a dead Redis
costs nothing per request; the next call after that reconnects on its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisClusterException, RedisError

log = logging.getLogger(__name__)
T = TypeVar("T")
_LOG_EVERY_S = 30.0
# RedisClusterException (no reachable node, keys across slots) is not a RedisError.
FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)


class FailOpen:
    """Runs Redis calls under a deadline; answers `fallback` while Redis is failing."""

    def __init__(self, what: str, deadline_s: float, retry_after_s: float = 1.0) -> None:
        self.errors = 0
        self._what = what
        self._deadline_s = deadline_s
        self._retry_after_s = retry_after_s
        self._skip_until = 0.0
        self._last_log = -math.inf

    @property
    def skipping(self) -> bool:
        return time.monotonic() < self._skip_until

    async def call(self, operation: str, call: Awaitable[T], fallback: T) -> T:
        """`await call` within the deadline, or `fallback` after a failure."""
        try:
            async with asyncio.timeout(self._deadline_s):
                return await call
        except FAILURES as exc:
            self.failed(operation, exc)
            return fallback

    def failed(self, operation: str, exc: BaseException) -> None:
        """Count and (rate-limited) log a failure, and skip Redis for `retry_after_s`."""
        self.errors += 1
        now = time.monotonic()
        self._skip_until = now + self._retry_after_s
        if now - self._last_log >= _LOG_EVERY_S:
            self._last_log = now
            log.warning(
                "%s %s failed (%s); going on without Redis for now",
                self._what,
                operation,
                type(exc).__name__,
            )
