"""The contract between the micro-batcher and a model backend.

A backend turns pairs into prepared inputs (tokenisation, image preprocessing: CPU work,
run off the event loop) and scores lists of prepared pairs synchronously (the forward
pass, run in the batcher's single worker thread). Backends own their batching under a
token budget, their OOM back-off and their device; the batcher owns concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from lychee_engine.types import Document, Query


@dataclass(slots=True)
class PreparedPair:
    """One (query, document, instruction) pair ready for a forward pass."""

    tokens: int  # sequence length the pair will occupy, image tokens included
    payload: Any = field(repr=False)  # backend-specific tensors / ids
    # Bytes the payload holds besides its token ids (image tensors), for the queue's byte
    # bound; an image shared by a request's pairs is counted on one of them.
    nbytes: int = 0


@runtime_checkable
class PairBackend(Protocol):
    model_id: str
    revision: str
    supports_images: bool
    max_batch_tokens: int

    def prepare(
        self, query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        """Tokenise and preprocess; raises UnsupportedInput for inputs it cannot score."""
        ...

    def score_prepared(self, pairs: list[PreparedPair]) -> list[float]:
        """Score pairs (any mix of requests) and return scores in input order."""
        ...


@dataclass(frozen=True, slots=True)
class WarmWork:
    """Warming prepared off the forward thread: what is done, what the model still has to do."""

    preprocessed: frozenset[int]  # positions of the documents preprocessed now (cache lacked them)
    payload: Any = field(default=None, repr=False)  # work for `warm_prepared`; None: nothing


@runtime_checkable
class WarmableBackend(Protocol):
    """A backend that keeps something per document whatever the query (preprocessed images,
    vision-tower outputs) and can compute it ahead of time. Like scoring, in two halves: CPU
    work in any thread, then model work in the batcher's forward thread only."""

    def prepare_warm(self, documents: list[Document]) -> WarmWork:
        """Fill the CPU-side caches (image preprocessing); never raises for a bad image."""
        ...

    def warm_prepared(self, work: WarmWork) -> frozenset[int]:
        """Run the model for what its caches lack; the positions that needed it."""
        ...
