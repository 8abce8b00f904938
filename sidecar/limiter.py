"""A bound on requests doing model work at once; past it, callers shed load at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class InflightLimiter:
    """Counts requests in flight. Single event loop: no lock needed."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        self._inflight = 0

    @property
    def inflight(self) -> int:
        return self._inflight

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yields True and holds a slot when one is free, else yields False."""
        if self._inflight >= self._limit:
            yield False
            return
        self._inflight += 1
        try:
            yield True
        finally:
            self._inflight -= 1
