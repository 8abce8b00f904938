"""The micro-batcher with a small fake backend: sharing, budgets, order, errors, threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lychee_engine.backend import PreparedPair
from lychee_engine.batcher import MicroBatcher
from lychee_engine.errors import EngineError, Overloaded
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query


class FakeBackend:
    """Scores a document by its text length; "boom" in a text fails the batch it lands in."""

    model_id = "fake"
    revision = "1"
    supports_images = False

    def __init__(self, max_batch_tokens: int = 4096, tokens_per_pair: int = 10) -> None:
        self.max_batch_tokens = max_batch_tokens
        self.tokens_per_pair = tokens_per_pair
        self.batches: list[list[str]] = []
        self.batch_tokens: list[int] = []
        self.forward_threads: set[int] = set()
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def prepare(
        self, query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        return [PreparedPair(tokens=self.tokens_per_pair, payload=d.text) for d in documents]

    def score_prepared(self, pairs: list[PreparedPair]) -> list[float]:
        self.forward_threads.add(threading.get_ident())
        self.entered.set()
        assert self.release.wait(5.0), "test never released the forward pass"
        texts = [p.payload for p in pairs]
        self.batches.append(texts)
        self.batch_tokens.append(sum(p.tokens for p in pairs))
        if any("boom" in t for t in texts):
            raise RuntimeError("kaboom")
        return [expected(t) for t in texts]


def expected(text: str) -> float:
    return len(text) / 100.0


def docs(*texts: str) -> list[Document]:
    return [Document(text=t) for t in texts]


QUERY = Query(text="q")


async def queued(batcher: MicroBatcher, depth: int) -> None:
    for _ in range(5000):
        if batcher.stats().queue_depth >= depth:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"queue never reached {depth} pairs")


def make(backend: FakeBackend, **opts: float) -> MicroBatcher:
    return MicroBatcher(backend, EngineOptions(**opts))  # type: ignore[arg-type]


async def test_concurrent_requests_share_forward_passes() -> None:
    backend = FakeBackend()
    batcher = make(backend, max_wait_ms=50)
    requests = [docs(f"doc {i}-a", f"doc {i}-bb", f"doc {i}-ccc") for i in range(6)]
    results = await asyncio.gather(*(batcher.score(QUERY, r) for r in requests))
    assert len(backend.batches) < len(requests)
    for request, scores in zip(requests, results, strict=True):
        assert scores == [expected(d.text or "") for d in request]
    stats = batcher.stats()
    assert stats.pairs_scored == 18 and stats.batches_run == len(backend.batches)
    assert stats.mean_pairs_per_batch == 18 / stats.batches_run
    await batcher.close()


async def test_batched_result_equals_single_request_result() -> None:
    backend = FakeBackend()
    batcher = make(backend, max_wait_ms=20)
    texts = ["a", "bbbbbbb", "cc", "ddddd"]
    alone = await batcher.score(QUERY, docs(*texts))
    together = await asyncio.gather(*(batcher.score(QUERY, docs(*texts)) for _ in range(4)))
    assert all(result == alone for result in together)
    await batcher.close()


async def test_token_budget_is_respected() -> None:
    backend = FakeBackend(max_batch_tokens=25, tokens_per_pair=10)
    batcher = make(backend, max_wait_ms=50)
    results = await asyncio.gather(
        *(batcher.score(QUERY, docs("x" * (i + 1), "y")) for i in range(5))
    )
    assert max(backend.batch_tokens) <= 25
    assert sum(len(b) for b in backend.batches) == 10
    assert results[2] == [0.03, 0.01]
    await batcher.close()


async def test_pair_larger_than_budget_still_runs_alone() -> None:
    backend = FakeBackend(max_batch_tokens=5, tokens_per_pair=40)
    batcher = make(backend, max_wait_ms=1)
    assert await batcher.score(QUERY, docs("abc", "de")) == [0.03, 0.02]
    assert backend.batches == [["abc"], ["de"]]
    await batcher.close()


async def test_overloaded_when_queue_would_overflow() -> None:
    backend = FakeBackend(max_batch_tokens=20)
    backend.release.clear()
    batcher = make(backend, max_wait_ms=1, queue_size=4)
    first = asyncio.create_task(batcher.score(QUERY, docs("a", "b")))
    assert await asyncio.to_thread(backend.entered.wait, 5.0)  # first batch is in flight
    second = asyncio.create_task(batcher.score(QUERY, docs("c", "d", "e")))
    await queued(batcher, 3)
    with pytest.raises(Overloaded):
        await batcher.score(QUERY, docs("f", "g"))
    backend.release.set()
    assert await first == [0.01, 0.01]
    assert await second == [0.01, 0.01, 0.01]
    await batcher.close()


class ImageBackend(FakeBackend):
    """Every pair holds 1 MB of image tensors (the byte bound counts them)."""

    def prepare(
        self, query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        return [PreparedPair(10, d.text, nbytes=1_000_000) for d in documents]


async def test_the_queue_is_bounded_in_bytes_not_only_in_pairs() -> None:
    backend = ImageBackend(max_batch_tokens=20)
    backend.release.clear()
    batcher = make(backend, max_wait_ms=1, queue_size=1000, queue_bytes=2_500_000)
    first = asyncio.create_task(batcher.score(QUERY, docs("a", "b")))
    assert await asyncio.to_thread(backend.entered.wait, 5.0)  # first batch is in flight
    second = asyncio.create_task(batcher.score(QUERY, docs("c", "d")))  # 2 MB queued
    await queued(batcher, 2)
    with pytest.raises(Overloaded, match="queue_bytes"):
        await batcher.score(QUERY, docs("e"))  # a third MB would pass 2.5 MB
    backend.release.set()
    assert await first == [0.01, 0.01]
    assert await second == [0.01, 0.01]
    assert await batcher.score(QUERY, docs("big", "one", "two")) == [0.03, 0.03, 0.03]
    await batcher.close()


async def test_a_full_queue_refuses_before_preparing() -> None:
    backend = FakeBackend(max_batch_tokens=20)
    backend.release.clear()
    batcher = make(backend, max_wait_ms=1, queue_size=4)
    first = asyncio.create_task(batcher.score(QUERY, docs("a", "b")))
    assert await asyncio.to_thread(backend.entered.wait, 5.0)
    second = asyncio.create_task(batcher.score(QUERY, docs("c", "d", "e")))
    await queued(batcher, 3)
    prepared: list[int] = []
    original = backend.prepare

    def counting_prepare(
        query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        prepared.append(len(documents))
        return original(query, documents, instruction)

    backend.prepare = counting_prepare  # type: ignore[method-assign]
    with pytest.raises(Overloaded):
        await batcher.score(QUERY, docs("f", "g"))
    assert prepared == []  # refused by pair count, without tokenising
    backend.release.set()
    assert await first == [0.01, 0.01]
    assert await second == [0.01, 0.01, 0.01]
    await batcher.close()


async def test_exception_fails_only_requests_in_that_batch() -> None:
    backend = FakeBackend(max_batch_tokens=20)
    batcher = make(backend, max_wait_ms=20)
    bad, good = await asyncio.gather(
        batcher.score(QUERY, docs("ok", "boom")),
        batcher.score(QUERY, docs("fine", "also fine")),
        return_exceptions=True,
    )
    assert isinstance(bad, EngineError) and not isinstance(bad, Overloaded)
    assert isinstance(bad.__cause__, RuntimeError)
    assert good == [0.04, 0.09]
    assert await batcher.score(QUERY, docs("after")) == [0.05]  # the worker survived
    await batcher.close()


async def test_forward_runs_off_the_event_loop_on_one_thread() -> None:
    backend = FakeBackend(max_batch_tokens=10)
    batcher = make(backend, max_wait_ms=1)
    await asyncio.gather(*(batcher.score(QUERY, docs("a", "b", "c")) for _ in range(3)))
    assert len(backend.batches) == 9
    assert len(backend.forward_threads) == 1
    assert threading.get_ident() not in backend.forward_threads
    await batcher.close()


async def test_cancelled_request_pairs_are_dropped() -> None:
    backend = FakeBackend(max_batch_tokens=10)
    backend.release.clear()
    batcher = make(backend, max_wait_ms=1)
    first = asyncio.create_task(batcher.score(QUERY, docs("first")))
    assert await asyncio.to_thread(backend.entered.wait, 5.0)
    doomed = asyncio.create_task(batcher.score(QUERY, docs("doomed", "doomed too")))
    await queued(batcher, 2)
    doomed.cancel()
    backend.release.set()
    assert await first == [0.05]
    assert await batcher.score(QUERY, docs("later")) == [0.05]
    assert all("doomed" not in t for batch in backend.batches for t in batch)
    await batcher.close()


async def test_close_fails_waiting_requests_and_refuses_new_ones() -> None:
    backend = FakeBackend(max_batch_tokens=10)
    backend.release.clear()
    batcher = make(backend, max_wait_ms=1)
    waiting = asyncio.create_task(batcher.score(QUERY, docs("a", "b")))
    assert await asyncio.to_thread(backend.entered.wait, 5.0)
    await batcher.close()
    backend.release.set()
    with pytest.raises(EngineError, match="closed"):
        await waiting
    with pytest.raises(EngineError, match="closed"):
        await batcher.score(QUERY, docs("c"))


async def test_empty_document_list_needs_no_forward_pass() -> None:
    backend = FakeBackend()
    batcher = make(backend)
    assert await batcher.score(QUERY, []) == []
    assert backend.batches == []
    await batcher.close()
