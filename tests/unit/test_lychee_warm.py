"""Warming Lychee (tiny checkpoint, CPU): `MicroBatcher.warm` fills the preprocessed-image
cache and the fast path's vision-embedding cache, so a later query preprocesses and encodes
no document image, and scores exactly as without warming."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from lychee_engine.backend import PairBackend, PreparedPair
from lychee_engine.batcher import MicroBatcher
from lychee_engine.errors import EngineError
from lychee_engine.fast.fast_backend import FastLycheeBackend
from lychee_engine.fast.options import FastOptions
from lychee_engine.lychee_backend import LycheeBackend
from lychee_engine.types import Document, Query, Warmable
from lychee_engine.warming import image_cache_counters, not_warmable, warm_target
from tests.unit.conftest import TINY_OPTIONS, png

IMAGES = [png((56 + 28 * k, 56), (30 * k, 90, 200 - 30 * k)) for k in range(4)]
DOCUMENTS = [
    Document(text="blue canvas tote", image=IMAGES[0]),
    Document(image=IMAGES[1]),
    Document(text="plain cotton shirt"),  # no image: nothing to warm
    Document(text="navy rain jacket", image=IMAGES[2]),
    Document(text="same picture, other product", image=IMAGES[0]),
]
QUERY = Query(text="blue bag for the beach")


DEFAULT_FAST = FastOptions()


def _fresh(checkpoint: Path, fast: FastOptions | None = DEFAULT_FAST) -> MicroBatcher:
    """A batcher over a backend with empty caches (the weights are shared, loaded once)."""
    options = dataclasses.replace(TINY_OPTIONS, warmup=False)
    plain = LycheeBackend.load(str(checkpoint), options)
    backend: PairBackend = plain if fast is None else FastLycheeBackend(plain, fast)
    return MicroBatcher(backend, options)


async def test_warm_fills_both_caches_and_a_query_then_reuses_them(tiny_checkpoint: Path) -> None:
    cold, warm = _fresh(tiny_checkpoint), _fresh(tiny_checkpoint)
    assert isinstance(warm, Warmable) and warm_target(warm) is warm

    # Four documents lacked their image's caches (three distinct images); text needs none.
    assert await warm.warm(DOCUMENTS) == 4
    after_warm = image_cache_counters(warm)
    assert after_warm is not None
    assert (after_warm.preprocess_warmed, after_warm.preprocess_misses) == (3, 0)
    assert after_warm.vision_images_encoded == 3
    assert (after_warm.vision_hits, after_warm.vision_misses) == (0, 0)  # queries' counters
    assert await warm.warm(DOCUMENTS) == 0  # everything kept: no work at all
    assert image_cache_counters(warm) == after_warm

    warm_scores = await warm.score(QUERY, DOCUMENTS)
    queried = image_cache_counters(warm)
    assert queried is not None
    assert queried.preprocess_misses == 0 and queried.preprocess_hits == 4  # 4 image documents
    assert queried.vision_tower_calls == after_warm.vision_tower_calls  # no tower run
    assert queried.vision_images_encoded == 3
    assert (queried.vision_hits, queried.vision_misses) == (3, 0)  # per distinct image

    cold_scores = await cold.score(QUERY, DOCUMENTS)
    cold_counts = image_cache_counters(cold)
    assert cold_counts is not None
    assert cold_counts.preprocess_misses == 3 and cold_counts.vision_misses == 3
    assert warm_scores == cold_scores  # bit for bit: warming changes no score
    await cold.close()
    await warm.close()


async def test_the_vision_tower_runs_on_the_forward_thread(tiny_checkpoint: Path) -> None:
    batcher = _fresh(tiny_checkpoint)
    backend = batcher.backend
    assert isinstance(backend, FastLycheeBackend)
    threads: list[str] = []
    encode = backend.vision._encode

    def recording(chunk):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return encode(chunk)

    backend.vision._encode = recording  # type: ignore[method-assign]
    assert await batcher.warm(DOCUMENTS[:2]) == 2
    await batcher.score(QUERY, [Document(text="x", image=IMAGES[3])])
    assert len(threads) == 2 and all(name.startswith("lychee-forward") for name in threads)
    await batcher.close()


async def test_without_a_vision_cache_only_preprocessing_is_warmed(tiny_checkpoint: Path) -> None:
    for batcher in (
        _fresh(tiny_checkpoint, FastOptions(vision_cache=False)),
        _fresh(tiny_checkpoint, None),  # the plain backend keeps no tower output either
    ):
        assert await batcher.warm(DOCUMENTS) == 3  # the 5th's image was preprocessed by then
        counts = image_cache_counters(batcher)
        assert counts is not None and counts.preprocess_warmed == 3
        assert not counts.vision_images_encoded  # nothing encoded: it would not be kept
        await batcher.score(QUERY, DOCUMENTS)
        counts = image_cache_counters(batcher)
        assert counts is not None and (counts.preprocess_hits, counts.preprocess_misses) == (4, 0)
        await batcher.close()


async def test_a_broken_image_is_skipped_not_raised(tiny_checkpoint: Path) -> None:
    batcher = _fresh(tiny_checkpoint)
    broken = [Document(text="mug", image=b"\x89PNG not really"), Document(image=IMAGES[3])]
    assert await batcher.warm(broken) == 1
    await batcher.close()
    with pytest.raises(EngineError, match="closed"):
        await batcher.warm(DOCUMENTS)


class _TextOnly:
    model_id, revision, supports_images, max_batch_tokens = "text", "r1", False, 64

    def prepare(
        self, query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        return [PreparedPair(tokens=1, payload=None) for _ in documents]

    def score_prepared(self, pairs: list[PreparedPair]) -> list[float]:
        return [0.5] * len(pairs)


async def test_scorers_without_per_document_caches_are_not_warmable() -> None:
    batcher = MicroBatcher(_TextOnly())
    assert not batcher.can_warm and warm_target(batcher) is None
    assert "keeps nothing per document" in not_warmable(batcher)
    with pytest.raises(EngineError, match="keeps nothing per document"):
        await batcher.warm([Document(text="a")])
    assert image_cache_counters(batcher) is None
    await batcher.close()
