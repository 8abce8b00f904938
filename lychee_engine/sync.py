"""A blocking facade over any `Scorer`, for scripts and notebooks.

The scorer lives on a private event loop in a background thread, so it works the same
whether or not the caller has a loop of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from lychee_engine.errors import EngineError
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query, Scorer

T = TypeVar("T")


class SyncScorer:
    """`SyncScorer(scorer).score(query, docs)` -> list[float]; close it (or use `with`)."""

    def __init__(self, scorer: Scorer, timeout_s: float | None = 600.0) -> None:
        self._scorer = scorer
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="lychee-sync-scorer", daemon=True
        )
        self._thread.start()
        self._closed = False

    @classmethod
    def load(cls, spec: str, options: EngineOptions | None = None) -> SyncScorer:
        """Load a scorer from a spec (see `load_scorer`) and wrap it."""
        from lychee_engine.loading import load_scorer

        return cls(load_scorer(spec, options))

    @property
    def scorer(self) -> Scorer:
        return self._scorer

    def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        """Block until the scores are ready (or `timeout_s` passes: `EngineError`)."""
        return self._run(self._scorer.score(query, documents, instruction))

    def close(self) -> None:
        """Close the scorer and stop the background loop; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._scorer.close(), closing=True)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10.0)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> SyncScorer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T], closing: bool = False) -> T:
        if self._closed and not closing:
            coro.close()
            raise EngineError("the scorer is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=self._timeout_s)
        except TimeoutError as exc:
            future.cancel()
            raise EngineError(f"scoring took longer than {self._timeout_s} s") from exc
