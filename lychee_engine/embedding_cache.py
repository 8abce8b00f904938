"""Document embeddings kept between requests, for bi-encoder backends (MiniLM).

A bi-encoder embeds a document without looking at the query, so a product seen by an
earlier search (or by `python -m sidecar warm`) need not be embedded again: a search whose
documents are all cached costs one query embedding and a dot product per document.

The engine owns the contract and the encoding; where the bytes live is the caller's choice
(`EmbeddingStore`: the sidecar plugs in Redis behind an in-process LRU, see
connectors/embedding_store.py). Keys are the model revision plus a hash of the exact text
the model embeds (after the character cap), so a changed product, a changed cap or new
weights all miss. Values are raw little-endian vectors: float32 by default (1,536 bytes for
MiniLM), the one encoding that keeps rankings identical. float16 (768 bytes) moves a cosine
by at most 5.1e-5 and swaps near-ties: 45 of the sample eval's 48 queries rank the catalog
differently (one of them in its top 10) and 24 of the 2,359 Home Depot held-out queries rank
their judged products differently, yet the cosine ranking's NDCG@10 stays equal to 4
decimals on both (sample 0.7392, Home Depot 0.9353), so `embedding_cache.codec: float16` is
there for stores that need the halved bytes. int8 with a float32 scale (388 bytes) moves
cosines by up to 1.8e-3: all 48 sample queries reordered (8 in the top 10, NDCG@10 0.7384)
and 135 Home Depot ones (NDCG@10 0.9354). Measured by benchmarks/bench_embedding_codec.py
(`make bench-codec`); tests/unit/test_embedding_cache.py checks the sample catalog's float32
and float16 cases.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import torch

from lychee_engine.backend import PreparedPair
from lychee_engine.batcher import BatcherStats, MicroBatcher
from lychee_engine.types import Document, Query, ScorerCapabilities

Codec = Literal["float32", "float16", "int8"]
KEY_PREFIX = "lychee:emb:v1"
# A query for `warm`: its score is thrown away, only the document embeddings are kept.
_WARM_QUERY = Query(text="warm")


class EmbeddingStore(Protocol):
    """Where document embeddings live between requests. Both calls never raise: a store
    that cannot answer returns misses and drops writes (the model then embeds again)."""

    async def get_many(self, keys: list[str]) -> list[bytes | None]: ...

    async def set_many(self, items: dict[str, bytes]) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class BiEncoderBackend(Protocol):
    """A PairBackend whose documents are embedded independently of the query."""

    revision: str

    @property
    def embedding_dim(self) -> int: ...

    def document_texts(self, documents: list[Document]) -> list[str]: ...

    def prepare_texts(
        self, query: Query, texts: list[str], embeddings: Sequence[torch.Tensor | None] | None
    ) -> list[PreparedPair]: ...

    def document_embedding(self, pair: PreparedPair) -> torch.Tensor: ...

    def query_embedding(self, query: Query) -> torch.Tensor | None: ...

    def similarity(self, query: torch.Tensor, documents: Sequence[torch.Tensor]) -> list[float]: ...


def embedding_key(revision: str, text: str) -> str:
    """`lychee:emb:v1:{<revision digest>}:<text digest>`; the braces put every embedding
    of one model in one Redis Cluster slot, so one MGET serves a whole request."""
    rev = hashlib.blake2b(revision.encode(), digest_size=8).hexdigest()
    doc = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return f"{KEY_PREFIX}:{{{rev}}}:{doc}"


def encode_embedding(vector: torch.Tensor, codec: Codec = "float32") -> bytes:
    """Bytes of a 1-D embedding: float32, float16, or int8 with a leading float32 scale."""
    values = vector.detach().to(torch.float32).cpu().numpy()
    if codec == "float32":
        return values.astype("<f4").tobytes()
    if codec == "float16":
        return values.astype("<f2").tobytes()
    peak = float(np.abs(values).max())
    scale = peak / 127.0 if peak > 0 else 1.0
    quantized = np.clip(np.rint(values / scale), -127, 127).astype(np.int8)
    return np.float32(scale).astype("<f4").tobytes() + quantized.tobytes()


def decode_embedding(raw: bytes, dim: int) -> torch.Tensor | None:
    """The float32 embedding `encode_embedding` wrote (codec told by the length), or None
    for bytes of neither shape (another model's entry, a truncated value)."""
    if len(raw) == 4 * dim:
        values = np.frombuffer(raw, dtype="<f4").copy()
    elif len(raw) == 2 * dim:
        values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    elif len(raw) == dim + 4:
        scale = float(np.frombuffer(raw[:4], dtype="<f4")[0])
        values = np.frombuffer(raw[4:], dtype=np.int8).astype(np.float32) * scale
    else:
        return None
    if not np.isfinite(values).all():
        return None
    return torch.from_numpy(values)


@dataclass(slots=True)
class EmbeddingCacheStats:
    """Counters since start: documents found, documents the model had to embed."""

    hits: int = 0
    misses: int = 0


class EmbeddingCachingScorer:
    """A `Scorer` over a bi-encoder behind the micro-batcher, with cached document
    embeddings: look up every document (one `get_many`), embed only the misses (sharing
    forward passes with other requests), store the new embeddings (one `set_many`)."""

    def __init__(self, batcher: MicroBatcher, store: EmbeddingStore, codec: Codec = "float32"):
        backend = batcher.backend
        if not isinstance(backend, BiEncoderBackend):
            raise TypeError(f"{type(backend).__name__} is not a bi-encoder backend")
        self._batcher = batcher
        self._backend: BiEncoderBackend = backend
        self._store = store
        self._codec: Codec = codec
        self.embedding_stats = EmbeddingCacheStats()

    @property
    def model_id(self) -> str:
        return self._batcher.model_id

    @property
    def revision(self) -> str:
        return self._batcher.revision

    @property
    def supports_images(self) -> bool:
        return self._batcher.supports_images

    @property
    def capabilities(self) -> ScorerCapabilities:
        return self._batcher.capabilities

    @property
    def batcher(self) -> MicroBatcher:
        return self._batcher

    def stats(self) -> BatcherStats:
        return self._batcher.stats()

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        """Scores in input order; raises as `MicroBatcher.score` does."""
        if not documents:
            return []
        texts = self._backend.document_texts(documents)
        keys = [embedding_key(self._backend.revision, text) for text in texts]
        dim = self._backend.embedding_dim
        found = [
            decode_embedding(raw, dim) if raw is not None else None
            for raw in await self._store.get_many(keys)
        ]
        missing = sum(emb is None for emb in found)
        self.embedding_stats.hits += len(found) - missing
        self.embedding_stats.misses += missing
        if not missing:  # the query seen recently too: a dot product, no model call at all
            query_embedding = self._backend.query_embedding(query)
            if query_embedding is not None:
                return self._backend.similarity(
                    query_embedding, [e for e in found if e is not None]
                )
        prepare = self._backend.prepare_texts
        pairs = (
            await asyncio.to_thread(prepare, query, texts, found)
            if missing  # tokenising documents is worth a thread; a query alone is not
            else prepare(query, texts, found)
        )
        scores = await self._batcher.score_pairs(pairs)
        if missing:
            embed = self._backend.document_embedding
            await self._store.set_many(
                {
                    key: encode_embedding(embed(pair), self._codec)
                    for key, pair, emb in zip(keys, pairs, found, strict=True)
                    if emb is None
                }
            )
        return scores

    async def warm(self, documents: list[Document]) -> int:
        """Embed and store the documents not cached yet; returns how many were missing."""
        before = self.embedding_stats.misses
        await self.score(_WARM_QUERY, documents)
        return self.embedding_stats.misses - before

    async def close(self) -> None:
        await self._batcher.close()


def with_embedding_cache(
    scorer: object, store: EmbeddingStore, codec: Codec = "float32"
) -> EmbeddingCachingScorer | None:
    """`scorer` with cached document embeddings, or None when its backend is not a
    bi-encoder (Lychee scores query and document together: nothing to cache per document)."""
    if isinstance(scorer, MicroBatcher) and isinstance(scorer.backend, BiEncoderBackend):
        return EmbeddingCachingScorer(scorer, store, codec)
    return None
