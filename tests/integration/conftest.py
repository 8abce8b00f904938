"""A real sidecar for integration tests: the app served by uvicorn in a background thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from lychee_engine.types import Document, Query, Scorer, ScorerCapabilities, capabilities_of
from sidecar.server_thread import ServerThread


@pytest.fixture(scope="session")
def serve_sidecar() -> Iterator[Any]:
    """Factory: `serve_sidecar(app)` starts it and returns a running `ServerThread`."""
    started: list[ServerThread] = []

    def serve(app: FastAPI) -> ServerThread:
        server = ServerThread(app).start()
        started.append(server)
        return server

    yield serve
    for server in reversed(started):
        server.stop()


class CountingScorer:
    """Wraps a real scorer: counts model calls and can be made slow on demand."""

    def __init__(self, inner: Scorer) -> None:
        self.inner = inner
        self.calls = 0
        self.pairs = 0
        self.delay_s = 0.0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def revision(self) -> str:
        return self.inner.revision

    @property
    def supports_images(self) -> bool:
        return self.inner.supports_images

    @property
    def capabilities(self) -> ScorerCapabilities:
        return capabilities_of(self.inner)

    def stats(self) -> Any:
        return self.inner.stats()  # type: ignore[attr-defined]

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        self.calls += 1
        self.pairs += len(documents)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return await self.inner.score(query, documents, instruction)

    async def close(self) -> None:
        await self.inner.close()
