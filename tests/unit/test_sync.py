"""SyncScorer: blocking calls over an async scorer on a private loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lychee_engine.errors import EngineError
from lychee_engine.sync import SyncScorer
from lychee_engine.types import Document, Query


class FakeScorer:
    model_id = "fake"
    revision = "1"
    supports_images = False

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.closed = False
        self.threads: set[int] = set()

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        self.threads.add(threading.get_ident())
        await asyncio.sleep(self.delay_s)
        return [len(d.text or "") / 10 for d in documents]

    async def close(self) -> None:
        self.closed = True


def test_scores_block_and_close_closes_the_scorer() -> None:
    fake = FakeScorer()
    with SyncScorer(fake) as scorer:
        assert scorer.score(Query(text="q"), [Document(text="ab"), Document(text="c")]) == [
            0.2,
            0.1,
        ]
    assert fake.closed and threading.get_ident() not in fake.threads
    with pytest.raises(EngineError, match="closed"):
        scorer.score(Query(text="q"), [Document(text="x")])
    scorer.close()  # idempotent


async def test_works_even_when_the_caller_has_a_running_loop() -> None:
    with SyncScorer(FakeScorer()) as scorer:
        assert scorer.score(Query(text="q"), [Document(text="abc")]) == [0.3]


def test_timeout_is_an_engine_error() -> None:
    scorer = SyncScorer(FakeScorer(delay_s=5.0), timeout_s=0.05)
    with pytest.raises(EngineError, match="longer than"):
        scorer.score(Query(text="q"), [Document(text="x")])
    scorer.close()
