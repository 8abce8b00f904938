"""The document-embedding cache: keys, encoding, the byte-bounded store, fail-open Redis,
and the caching scorer on the real MiniLM weights."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import numpy as np
import pytest
import torch

from connectors.embedding_store import MemoryEmbeddingStore, RedisEmbeddingStore
from connectors.hydrate import FieldMapping, Hydrator
from lychee_engine.batcher import MicroBatcher
from lychee_engine.embedding_cache import (
    Codec,
    EmbeddingCachingScorer,
    decode_embedding,
    embedding_key,
    encode_embedding,
    with_embedding_cache,
)
from lychee_engine.minilm_backend import MiniLMBackend
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query, Warmable
from lychee_engine.warming import warm_target
from sidecar.sample_catalog.catalog import build

DOCS = [
    Document(text="Lightweight running shoes for men"),
    Document(text="Ceramic coffee mug"),
    Document(text="Waterproof hiking backpack | 30 L"),
]
QUERY = Query(text="running shoes")


@pytest.fixture(scope="module")
def backend() -> MiniLMBackend:
    return MiniLMBackend.load(EngineOptions(device="cpu", max_batch_tokens=512))


@pytest.fixture
async def batcher(backend: MiniLMBackend) -> AsyncIterator[MicroBatcher]:
    scorer = MicroBatcher(backend, EngineOptions(max_wait_ms=1))
    yield scorer
    await scorer.close()


def test_key_depends_on_revision_and_exact_text() -> None:
    key = embedding_key("rev1", "Red shoes")
    assert key == embedding_key("rev1", "Red shoes")
    assert key != embedding_key("rev2", "Red shoes")
    assert key != embedding_key("rev1", "Red shoes ")
    # one hash tag per model: a request's keys share a Redis Cluster slot (one MGET)
    assert (
        key.startswith("lychee:emb:v1:{")
        and key.split("}")[0] == embedding_key("rev1", "other").split("}")[0]
    )


@pytest.mark.parametrize(
    ("codec", "size", "tolerance"),
    [("float32", 1536, 0.0), ("float16", 768, 1e-3), ("int8", 388, 1e-2)],
)
def test_codecs_round_trip_compactly(codec: Codec, size: int, tolerance: float) -> None:
    vector = torch.nn.functional.normalize(torch.randn(384), dim=0)
    raw = encode_embedding(vector, codec)
    assert len(raw) == size
    decoded = decode_embedding(raw, 384)
    assert decoded is not None and decoded.dtype == torch.float32
    assert torch.allclose(decoded, vector, atol=tolerance)


def test_foreign_or_broken_bytes_read_as_a_miss() -> None:
    assert decode_embedding(b"\x00" * 100, 384) is None  # another model's dimension
    assert decode_embedding(np.full(384, np.nan, "<f2").tobytes(), 384) is None


async def test_memory_store_is_bounded_in_bytes_and_least_recently_used_goes() -> None:
    store = MemoryEmbeddingStore(max_bytes=2 * 768 + 100)
    await store.set_many({"a": b"a" * 768, "b": b"b" * 768})
    assert await store.get_many(["a"]) == [b"a" * 768]  # "a" is now the most recent
    await store.set_many({"c": b"c" * 768})
    assert await store.get_many(["a", "b", "c"]) == [b"a" * 768, None, b"c" * 768]
    assert store.stats.bytes == 2 * 768 <= 2 * 768 + 100
    await store.set_many({"huge": b"x" * 10_000})  # over the whole budget: not kept
    assert await store.get_many(["huge", "a"]) == [None, b"a" * 768]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_store_fails_open_and_keeps_serving_from_memory() -> None:
    store = RedisEmbeddingStore(
        f"redis://127.0.0.1:{_closed_port()}/0", max_bytes=10_000, timeout_s=0.05
    )
    try:
        await store.set_many({"k": b"v" * 10})  # Redis refused: kept in memory only
        assert store.stats.errors == 1
        assert await store.get_many(["k", "other"]) == [b"v" * 10, None]
        assert store.stats.errors == 1  # Redis is skipped for a while after a failure
    finally:
        await store.close()


async def test_only_missing_documents_are_embedded(batcher: MicroBatcher) -> None:
    plain = await batcher.score(QUERY, DOCS)
    scorer = with_embedding_cache(batcher, MemoryEmbeddingStore(1 << 20))
    assert isinstance(scorer, EmbeddingCachingScorer)
    first = await scorer.score(QUERY, DOCS[:2])
    assert scorer.embedding_stats.misses == 2 and scorer.embedding_stats.hits == 0
    scores = await scorer.score(Query(text="running shoes"), DOCS)
    assert (scorer.embedding_stats.hits, scorer.embedding_stats.misses) == (2, 3)
    assert scores == pytest.approx(plain, abs=1e-6)  # float32: as if embedded now
    assert first == pytest.approx(plain[:2], abs=1e-6)
    assert await scorer.warm(DOCS) == 0  # all cached already
    assert scorer.revision == batcher.revision and not scorer.supports_images
    # The one warming protocol Lychee's batcher shares; MiniLM's bare batcher keeps nothing.
    assert isinstance(scorer, Warmable) and warm_target(scorer) is scorer
    assert warm_target(batcher) is None


def _catalog_texts() -> tuple[list[str], list[str]]:
    """The sample eval's query texts and every product's text as a search hydrates it."""
    products, queries = build()
    hydrator = Hydrator(FieldMapping(), None, EngineOptions().max_doc_chars)
    return [q.text for q in queries], [hydrator.text_of(p.to_json()) for p in products]


def _rankings(
    backend: MiniLMBackend, codec: Codec
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact cosines of every judged query against the whole catalog, and the rankings from
    fresh and from stored (encoded, decoded) document embeddings."""
    queries, texts = _catalog_texts()
    encoder = backend._encoder
    docs = encoder.encode(texts)
    decoded = [decode_embedding(encode_embedding(d, codec), backend.embedding_dim) for d in docs]
    stored = torch.stack([d for d in decoded if d is not None])
    query_embeddings = encoder.encode(queries)
    exact = query_embeddings @ docs.T
    fresh = torch.argsort(exact, dim=1, descending=True, stable=True)
    cached = torch.argsort(query_embeddings @ stored.T, dim=1, descending=True, stable=True)
    return exact, fresh, cached


def test_the_default_codec_keeps_the_sample_eval_rankings_identical(
    backend: MiniLMBackend,
) -> None:
    """Every judged query ranks all 360 products identically from stored embeddings."""
    _, fresh, cached = _rankings(backend, "float32")
    assert torch.equal(fresh, cached)


def test_float16_only_swaps_near_ties(backend: MiniLMBackend) -> None:
    """Why float16 is not the default: it swaps products whose exact cosines differ by
    less than 1e-4 (a near-tie), which still changes rankings of the sample eval."""
    exact, fresh, cached = _rankings(backend, "float16")
    swapped = (fresh != cached).nonzero().tolist()
    assert swapped  # measured: 45 of 48 queries have at least one swapped near-tie
    for query, position in swapped:
        a, b = int(fresh[query, position]), int(cached[query, position])
        assert abs(float(exact[query, a] - exact[query, b])) < 1e-4


async def test_a_window_scored_in_chunks_embeds_its_query_once(batcher: MicroBatcher) -> None:
    """The pipeline scores a window a few documents at a time: once the query and the
    documents are known, a chunk is a dot product without the model, scored exactly alike."""
    scorer = with_embedding_cache(batcher, MemoryEmbeddingStore(1 << 20))
    assert scorer is not None
    await scorer.warm(DOCS)
    query = Query(text="trail running shoes")
    first = await scorer.score(query, DOCS[:2])  # embeds the query (one forward pass)
    passes = batcher.stats().batches_run
    rest = await scorer.score(query, DOCS[2:])
    again = await scorer.score(query, DOCS[:2])
    assert batcher.stats().batches_run == passes  # no model call for either
    assert again == first  # bit-identical to the batched path
    assert first + rest == await batcher.score(query, DOCS)
