"""The dynamic micro-batcher: concurrent requests share forward passes.

Each request is prepared off the event loop, split into pairs with one future each and
queued. A single worker task gathers pairs from all requests until the backend's token
budget is filled or the oldest pair has waited ``max_wait_ms``, then runs the forward pass
in one dedicated thread, so the model is never on the event loop and never concurrent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lychee_engine.backend import PairBackend, PreparedPair, WarmableBackend
from lychee_engine.errors import EngineError, Overloaded
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query, ScorerCapabilities, capabilities_of

log = logging.getLogger(__name__)
# Documents warmed per turn of the forward thread: queued searches wait for one turn at most.
WARM_SLICE = 16


@dataclass(frozen=True, slots=True)
class BatcherStats:
    """A snapshot of the batcher's counters, for metrics."""

    queue_depth: int  # pairs waiting for a forward pass
    batches_run: int
    pairs_scored: int
    last_batch_pairs: int
    last_batch_tokens: int
    forward_seconds: float  # total time spent in the backend's forward passes

    @property
    def mean_pairs_per_batch(self) -> float:
        return self.pairs_scored / self.batches_run if self.batches_run else 0.0


@dataclass(slots=True)
class _Item:
    pair: PreparedPair
    future: asyncio.Future[float]
    enqueued_at: float


class MicroBatcher:
    """A `Scorer` that feeds one `PairBackend` from any number of concurrent requests."""

    def __init__(self, backend: PairBackend, options: EngineOptions | None = None) -> None:
        self._backend = backend
        self._options = options or EngineOptions()
        self._budget = max(1, min(backend.max_batch_tokens, self._options.max_batch_tokens))
        self._max_wait_s = self._options.max_wait_ms / 1000.0
        self._items: deque[_Item] = deque()
        self._in_flight: list[_Item] = []
        self._queued_tokens = 0
        self._queued_bytes = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lychee-forward")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._batches_run = 0
        self._pairs_scored = 0
        self._last_batch = (0, 0)
        self._forward_seconds = 0.0

    @property
    def model_id(self) -> str:
        return self._backend.model_id

    @property
    def revision(self) -> str:
        return self._backend.revision

    @property
    def supports_images(self) -> bool:
        return self._backend.supports_images

    @property
    def capabilities(self) -> ScorerCapabilities:
        return capabilities_of(self._backend)

    @property
    def backend(self) -> PairBackend:
        return self._backend

    def stats(self) -> BatcherStats:
        return BatcherStats(
            queue_depth=len(self._items),
            batches_run=self._batches_run,
            pairs_scored=self._pairs_scored,
            last_batch_pairs=self._last_batch[0],
            last_batch_tokens=self._last_batch[1],
            forward_seconds=self._forward_seconds,
        )

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        """Score every document against the query; scores come back in input order.

        Raises `Overloaded` at once when the queue cannot take the request's pairs, and the
        backend's `EngineError` (e.g. `UnsupportedInput`) when it cannot score them.
        """
        if self._closed:
            raise EngineError("the scorer is closed")
        if not documents:
            return []
        # Refuse before preparing, so a full queue answers at once instead of after a
        # tokenisation in a busy thread; _enqueue checks again (the queue may have filled).
        self._check_capacity(len(documents))
        pairs = await asyncio.to_thread(self._backend.prepare, query, documents, instruction)
        if len(pairs) != len(documents):
            raise EngineError(f"backend prepared {len(pairs)} pairs for {len(documents)} documents")
        return await self.score_pairs(pairs)

    async def score_pairs(self, pairs: list[PreparedPair]) -> list[float]:
        """Score pairs the caller prepared with this batcher's backend (a wrapper that
        prepares them itself, e.g. with cached document embeddings filled in)."""
        if self._closed:
            raise EngineError("the scorer is closed")
        if not pairs:
            return []
        futures = self._enqueue(pairs)
        try:
            return list(await asyncio.gather(*futures))
        finally:
            # On cancellation or a failed pair, the rest of this request is dropped.
            for future in futures:
                future.cancel()

    @property
    def can_warm(self) -> bool:
        """Whether the backend keeps anything per document that `warm` could fill."""
        return isinstance(self._backend, WarmableBackend)

    async def warm(self, documents: list[Document]) -> int:
        """Fill the backend's per-document caches (a `Warmable`): CPU preprocessing in a
        worker thread, model work (the vision tower) in the forward thread, between the
        forward passes of searches, `WARM_SLICE` documents at a time. Returns how many
        documents needed work; raises EngineError when the backend keeps nothing to warm."""
        backend = self._backend
        if not isinstance(backend, WarmableBackend):
            raise EngineError(f"{self.model_id} keeps nothing per document to warm")
        warmed = 0
        for start in range(0, len(documents), WARM_SLICE):
            if self._closed:
                raise EngineError("the scorer is closed")
            work = await asyncio.to_thread(
                backend.prepare_warm, documents[start : start + WARM_SLICE]
            )
            filled: frozenset[int] = frozenset()
            if work.payload:
                loop = asyncio.get_running_loop()
                try:
                    filled = await loop.run_in_executor(self._executor, backend.warm_prepared, work)
                except EngineError:
                    raise
                except Exception as exc:  # close() shuts the executor down: a RuntimeError
                    raise (
                        EngineError("the scorer is closed") if self._closed else _wrap(exc)
                    ) from exc
            warmed += len(work.preprocessed | filled)
        return warmed

    async def close(self) -> None:
        """Stop the worker, fail waiting requests and release the forward thread."""
        self._closed = True
        waiting = [*self._in_flight, *self._items]
        if self._worker is not None:
            self._worker.cancel()
            if self._loop is asyncio.get_running_loop():
                await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        _fail(waiting, EngineError("the scorer was closed"))
        self._items.clear()
        self._queued_tokens = 0
        self._queued_bytes = 0
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _enqueue(self, pairs: list[PreparedPair]) -> list[asyncio.Future[float]]:
        if self._closed:  # closed while this request was being prepared
            raise EngineError("the scorer is closed")
        self._check_capacity(len(pairs))
        self._check_bytes(pairs)
        loop = self._bind_loop()
        now = loop.time()
        futures: list[asyncio.Future[float]] = []
        for pair in pairs:
            future: asyncio.Future[float] = loop.create_future()
            self._items.append(_Item(pair, future, now))
            self._queued_tokens += pair.tokens
            self._queued_bytes += _bytes(pair)
            futures.append(future)
        assert self._wake is not None
        self._wake.set()
        return futures

    def _check_capacity(self, pairs: int) -> None:
        if len(self._items) + pairs > self._options.queue_size:
            raise Overloaded(
                f"queue holds {len(self._items)} pairs; {pairs} more would exceed "
                f"the limit of {self._options.queue_size}"
            )

    def _check_bytes(self, pairs: list[PreparedPair]) -> None:
        # An empty queue takes any request, so one larger than the bound still runs alone.
        adding = sum(_bytes(pair) for pair in pairs)
        limit = self._options.queue_bytes
        if self._items and self._queued_bytes + adding > limit:
            raise Overloaded(
                f"queued pairs hold {self._queued_bytes} bytes; {adding} more would exceed "
                f"the limit of {limit} (engine.queue_bytes)"
            )

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._worker is not None and not self._worker.done():
            return loop
        previous = self._loop
        if previous is not None and previous is not loop:
            worker_alive = self._worker is not None and not self._worker.done()
            if worker_alive and not previous.is_closed():
                raise EngineError("this scorer is already serving another event loop")
            # The previous loop ended (e.g. one loop per test): its futures can never resolve.
            self._items.clear()
            self._queued_tokens = 0
            self._queued_bytes = 0
        self._loop = loop
        self._wake = asyncio.Event()
        self._worker = loop.create_task(self._run(), name="lychee-microbatcher")
        return loop

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
            await self._wait_for_company()
            batch = self._take_batch()
            if batch:
                await self._execute(batch)

    async def _wait_for_company(self) -> None:
        """Wait until the token budget is filled or the oldest pair has waited long enough."""
        assert self._loop is not None and self._wake is not None
        deadline = self._items[0].enqueued_at + self._max_wait_s
        while self._queued_tokens < self._budget:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Item]:
        batch: list[_Item] = []
        tokens = 0
        while self._items:
            item = self._items[0]
            if item.future.done():  # cancelled request: drop its pairs
                self._items.popleft()
                self._queued_tokens -= item.pair.tokens
                self._queued_bytes -= _bytes(item.pair)
                continue
            if batch and tokens + item.pair.tokens > self._budget:
                break
            self._items.popleft()
            self._queued_tokens -= item.pair.tokens
            self._queued_bytes -= _bytes(item.pair)
            tokens += item.pair.tokens
            batch.append(item)
        return batch

    async def _execute(self, batch: list[_Item]) -> None:
        assert self._loop is not None
        pairs = [item.pair for item in batch]
        self._in_flight = batch
        started = time.perf_counter()
        try:
            scores = await self._loop.run_in_executor(
                self._executor, self._backend.score_prepared, pairs
            )
            if len(scores) != len(pairs):
                raise EngineError(f"backend returned {len(scores)} scores for {len(pairs)} pairs")
        except Exception as exc:  # the failure belongs to the requests in this batch only
            error = exc if isinstance(exc, EngineError) else _wrap(exc)
            log.warning("forward pass failed for %d pairs: %r", len(pairs), exc)
            _fail(batch, error)
            return
        finally:
            self._in_flight = []
            self._forward_seconds += time.perf_counter() - started
        self._batches_run += 1
        self._pairs_scored += len(pairs)
        self._last_batch = (len(pairs), sum(p.tokens for p in pairs))
        for item, value in zip(batch, scores, strict=True):
            if not item.future.done():
                item.future.set_result(float(value))


def _fail(items: list[_Item], error: EngineError) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(error)


def _wrap(exc: BaseException) -> EngineError:
    error = EngineError(f"forward pass failed ({type(exc).__name__})")
    error.__cause__ = exc
    return error


def _bytes(pair: PreparedPair) -> int:
    return pair.nbytes + 8 * pair.tokens  # its images, and its token ids
