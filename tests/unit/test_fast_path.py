"""The fast Lychee paths equal the plain path (fp32, tiny checkpoint, 1e-4) for every pairing."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from pathlib import Path

import pytest
import torch

from lychee_engine.backend import PairBackend
from lychee_engine.batcher import MicroBatcher
from lychee_engine.errors import InsufficientMemory
from lychee_engine.fast import vision_encoder
from lychee_engine.fast.buckets import bucket_batches
from lychee_engine.fast.fast_backend import FastLycheeBackend
from lychee_engine.fast.forward import _with_backoff
from lychee_engine.fast.options import FastOptions
from lychee_engine.fast.positions import mrope_positions
from lychee_engine.fast.prefix import cap_before_image, shared_prefix_length
from lychee_engine.fast.rows import Row
from lychee_engine.fast.vision_batch import encode_images, group_segments
from lychee_engine.fast.vision_cache import VisionEmbeddingCache, VisionKey
from lychee_engine.lychee_backend import LycheeBackend, pack_batches
from lychee_engine.types import Document, Query
from tests.unit.conftest import TINY_OPTIONS, png

TEXTS = ["light running shoes for men", "a red ceramic coffee mug " * 4, "leather wallet " * 9]
RED, BLUE = png((56, 84), (220, 20, 20)), png((112, 56), (20, 20, 220))
REQUESTS = {
    "text-text": (Query(text="running shoes"), [Document(text=t) for t in TEXTS]),
    "image-text": (Query(image=RED), [Document(text=t) for t in TEXTS]),
    "text-image": (
        Query(text="blue bag"),
        [Document(image=png((56 + 28 * k, 56), (0, 0, 40 * k))) for k in range(3)],
    ),
    "both-both": (
        Query(text="green shirt", image=BLUE),
        [Document(text=t, image=png((56, 28 * (k + 2)))) for k, t in enumerate(TEXTS)],
    ),
    "image-image": (Query(image=BLUE), [Document(image=RED), Document(image=BLUE)]),
}
VARIANTS = {
    "default": FastOptions(),
    "packed": FastOptions(packed=True),
    "no-prefix-packed": FastOptions(prefix_reuse=False, packed=True),
    "no-prefix-padded": FastOptions(prefix_reuse=False),
    "stock-vision-no-cache": FastOptions(batched_vision=False, vision_cache=False),
}


def _fast(backend: LycheeBackend, options: FastOptions | None = None) -> FastLycheeBackend:
    return FastLycheeBackend(backend, options or FastOptions())


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", REQUESTS)
def test_fast_equals_plain(tiny_backend: LycheeBackend, name: str, variant: str) -> None:
    query, docs = REQUESTS[name]
    plain = tiny_backend.score_prepared(tiny_backend.prepare(query, docs, None))
    fast = _fast(tiny_backend, VARIANTS[variant])
    scores = fast.score_prepared(fast.prepare(query, docs, None))
    assert scores == pytest.approx(plain, abs=1e-4)
    assert len(set(round(s, 5) for s in scores)) > 1  # not a constant


def test_load_shares_the_plain_backends_weights(
    tiny_backend: LycheeBackend, tiny_checkpoint: Path
) -> None:
    fast = FastLycheeBackend.load(str(tiny_checkpoint), TINY_OPTIONS)
    assert fast.model_id == tiny_backend.model_id and fast.revision == tiny_backend.revision
    assert fast._inner.model is tiny_backend.model  # one copy of the weights per process
    query, docs = REQUESTS["image-text"]
    expected = tiny_backend.score_prepared(tiny_backend.prepare(query, docs, None))
    assert fast.score_prepared(fast.prepare(query, docs, None)) == pytest.approx(expected, abs=1e-4)


def test_is_a_pair_backend(tiny_backend: LycheeBackend) -> None:
    fast = _fast(tiny_backend)
    assert fast.prepare(Query(text="q"), [], None) == [] and fast.score_prepared([]) == []
    assert isinstance(fast, PairBackend)
    assert (fast.model_id, fast.revision) == (tiny_backend.model_id, tiny_backend.revision)


def test_mixed_requests_in_input_order(tiny_backend: LycheeBackend) -> None:
    fast = _fast(tiny_backend)
    plain_pairs, fast_pairs = [], []
    for query, docs in REQUESTS.values():
        plain_pairs += tiny_backend.prepare(query, docs, "Judge.")
        fast_pairs += fast.prepare(query, docs, "Judge.")
    single = fast.prepare(Query(text="mug"), [Document(text="a mug")], None)  # no shared prefix
    plain_pairs += tiny_backend.prepare(Query(text="mug"), [Document(text="a mug")], None)
    fast_pairs += single
    order = list(range(len(fast_pairs)))
    random.Random(3).shuffle(order)
    expected = tiny_backend.score_prepared([plain_pairs[i] for i in order])
    assert fast.score_prepared([fast_pairs[i] for i in order]) == pytest.approx(expected, abs=1e-4)
    assert fast.stats.prefixes == len(REQUESTS)
    assert fast.stats.prefix_tokens_saved > 0


def test_requests_share_forwards(tiny_backend: LycheeBackend) -> None:
    """Rows continuing different prefixes (of different lengths) run in one forward."""
    fast = _fast(tiny_backend)
    fast.max_batch_tokens = 100_000
    plain_pairs, fast_pairs = [], []
    for query, docs in REQUESTS.values():
        plain_pairs += tiny_backend.prepare(query, docs, None)
        fast_pairs += fast.prepare(query, docs, None)
    expected = tiny_backend.score_prepared(plain_pairs)
    assert fast.score_prepared(fast_pairs) == pytest.approx(expected, abs=1e-4)
    assert fast.stats.prefixes == len(REQUESTS) and fast.stats.forwards < len(REQUESTS)


def test_prefix_cache_across_calls(tiny_backend: LycheeBackend) -> None:
    fast = _fast(tiny_backend)
    query, docs = REQUESTS["both-both"]
    pairs = fast.prepare(query, docs, None)
    first = fast.score_prepared(pairs[:2])
    rest = fast.score_prepared(pairs[2:] + pairs[:1])  # a lone pair still reuses the prefix
    assert fast.stats.prefixes == 1
    assert rest[-1] == pytest.approx(first[0], abs=1e-6)
    plain = tiny_backend.score_prepared(tiny_backend.prepare(query, docs, None))
    assert first + rest[:-1] == pytest.approx(plain, abs=1e-4)


def test_prepared_tokens_share_the_prefix(tiny_backend: LycheeBackend) -> None:
    fast = _fast(tiny_backend)
    query, docs = REQUESTS["text-text"]
    plain = tiny_backend.prepare(query, docs, None)
    pairs = fast.prepare(query, docs, None)
    cut = pairs[0].payload.prefix_len
    assert cut > 0 and len({p.payload.prefix for p in pairs}) == 1
    assert sum(p.tokens for p in pairs) < sum(p.tokens for p in plain) - cut
    assert all(p.tokens >= len(p.payload.inputs.input_ids) - cut for p in pairs)


def test_cached_request_runs_no_vision_tower(
    tiny_backend: LycheeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def counting(visual, pixels, grid):  # type: ignore[no-untyped-def]
        calls.append(len(grid))
        return encode_images(visual, pixels, grid)

    monkeypatch.setattr(vision_encoder, "encode_images", counting)
    fast = _fast(tiny_backend)
    query, docs = REQUESTS["both-both"]
    first = fast.score_prepared(fast.prepare(query, docs, None))
    assert calls == [4]  # the query image once, three document images, one tower call
    again = fast.score_prepared(fast.prepare(query, docs, None))
    assert calls == [4] and again == first
    stats = fast.vision_cache_stats()
    assert stats is not None and stats.misses == 4 and stats.hits == 4
    assert stats.device_items == 4 and stats.device_bytes > 0


def test_without_cache_each_call_encodes(tiny_backend: LycheeBackend) -> None:
    fast = _fast(tiny_backend, FastOptions(vision_cache=False))
    query, docs = REQUESTS["image-image"]
    for _ in range(2):
        fast.score_prepared(fast.prepare(query, docs, None))
    assert fast.vision.tower_calls == 2 and fast.vision.cache is None
    assert fast.vision.images_encoded == 4  # the blue image is shared within a call


def test_cache_key_includes_pixel_settings(tiny_backend: LycheeBackend) -> None:
    fast = _fast(tiny_backend)
    [pair] = fast.prepare(Query(image=RED), [Document(text="x")], None)
    key = pair.payload.image_keys[0]
    assert (key.revision, key.min_pixels, key.max_pixels) == (
        tiny_backend.revision,
        TINY_OPTIONS.min_pixels,
        TINY_OPTIONS.max_pixels,
    )


def _key(name: str) -> VisionKey:
    return VisionKey(name, "rev", 1, 2)


def test_vision_cache_spills_to_host_then_evicts() -> None:
    entry = torch.zeros(4, 8)  # 128 bytes
    cache = VisionEmbeddingCache(torch.device("cpu"), device_bytes=256, host_bytes=256)
    for name in "abcde":
        cache.put(_key(name), entry + ord(name))
    stats = cache.stats()
    assert (stats.device_items, stats.host_items) == (2, 2)  # d, e hot; b, c spilled
    assert (stats.spills, stats.evictions) == (3, 1)  # a spilled, then dropped
    assert cache.get(_key("a")) is None
    promoted = cache.get(_key("b"))
    assert promoted is not None and float(promoted[0, 0]) == ord("b")
    assert _key("b") in cache._hot.entries and cache.stats().device_bytes == 256
    assert cache.stats().hits == 1 and cache.stats().misses == 1


def test_vision_cache_lru_order_and_oversize() -> None:
    cache = VisionEmbeddingCache(torch.device("cpu"), device_bytes=256, host_bytes=0)
    cache.put(_key("a"), torch.zeros(4, 8))
    cache.put(_key("b"), torch.zeros(4, 8))
    assert cache.get(_key("a")) is not None  # a is now the most recent
    cache.put(_key("c"), torch.zeros(4, 8))
    assert cache.get(_key("b")) is None and cache.get(_key("a")) is not None
    cache.put(_key("big"), torch.zeros(64, 8))  # larger than both tiers: not kept
    assert cache.get(_key("big")) is None and cache.stats().device_bytes <= 256


def test_batched_vision_tower_equals_stock(tiny_backend: LycheeBackend) -> None:
    sizes = [(56, 56), (448, 448), (112, 300), (448, 448), (28, 900)]
    images = [tiny_backend.image_cache(png(size)) for size in sizes]
    pixels = torch.cat([image.pixel_values for image in images])
    grid = torch.cat([image.grid_thw for image in images])
    visual = tiny_backend.model.model.visual
    with torch.inference_mode():
        stock = visual(pixels, grid_thw=grid).pooler_output
        batched = encode_images(visual, pixels, grid)
    assert batched.shape == stock.shape
    torch.testing.assert_close(batched, stock, rtol=1e-4, atol=1e-4)


def test_group_segments() -> None:
    cpu = torch.device("cpu")
    [whole] = group_segments([0, 4, 8, 12], cpu)
    assert (whole.index, whole.segments, whole.length) == (None, 3, 4)
    groups = group_segments([0, 4, 4, 6, 10], cpu)  # an empty window is skipped
    assert sorted((g.length, g.segments) for g in groups) == [(2, 1), (4, 2)]
    four = next(g for g in groups if g.length == 4)
    assert four.index is not None and four.index.tolist() == [[0, 1, 2, 3], [6, 7, 8, 9]]


@pytest.mark.parametrize("name", ["both-both", "image-text", "text-text"])
def test_positions_equal_get_rope_index(tiny_backend: LycheeBackend, name: str) -> None:
    query, docs = REQUESTS[name]
    model = tiny_backend.model.model
    image_token = int(tiny_backend.model.config.image_token_id)
    for pair in tiny_backend.prepare(query, docs, None):
        ids = pair.payload.input_ids
        grids = [image.grid_thw for image in pair.payload.images]
        mine = mrope_positions(ids, [g[0].tolist() for g in grids], image_token, 2)
        if not grids:
            assert torch.equal(mine, torch.arange(len(ids)).expand(3, -1))
            continue
        tensor = torch.tensor([ids])
        stock, _ = model.get_rope_index(
            tensor, (tensor == image_token).int(), image_grid_thw=torch.cat(grids)
        )
        assert torch.equal(mine, stock[:, 0])


def test_positions_reject_mismatched_grids() -> None:
    with pytest.raises(ValueError, match="more image tokens"):
        mrope_positions([1, 9, 9, 9, 9, 2], [], image_token_id=9, merge=2)
    with pytest.raises(ValueError, match="more image grids"):
        mrope_positions([1, 2], [[1, 2, 2]], image_token_id=9, merge=2)


def test_shared_prefix_stops_before_document_images() -> None:
    pad = 9
    a = [1, 2, pad, pad, 3, 4, pad, pad, 5, 6]
    b = [1, 2, pad, pad, 3, 4, pad, pad, 5, 7]
    length = shared_prefix_length([a, b])
    assert length == 9  # equal ids run into the (different) document images...
    assert cap_before_image(a, length, pad, keep=1) == 6  # ...so cut before the second image
    assert cap_before_image(a, length, pad, keep=0) == 2
    assert shared_prefix_length([a]) == len(a) - 1  # a lone pair keeps one token to score
    assert shared_prefix_length([[1, 2, 3], [1, 2]]) == 1


@pytest.mark.parametrize("seed", range(5))
def test_bucket_batches_cover_every_pair_within_budget(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.randint(20, 300) for _ in range(rng.randint(1, 120))]
    batches = bucket_batches(lengths, budget=2000, overhead=64)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 2000 or len(batch) == 1

    def padded(groups: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) + 64 for b in groups)

    assert padded(batches) <= padded(pack_batches(lengths, 2000))


def test_bucket_batches_edge_cases() -> None:
    assert bucket_batches([], 100, 0) == []
    assert bucket_batches([500, 10], 100, 0) == [[1], [0]]  # over budget: alone
    assert len(bucket_batches([10, 10, 10], 100, 50)) == 1  # overhead favours one forward


def test_options_validation() -> None:
    with pytest.raises(ValueError, match="packed"):
        FastOptions(packed="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_prefix_group"):
        FastOptions(min_prefix_group=1)
    with pytest.raises(ValueError, match="byte budgets"):
        FastOptions(vision_cache_device_bytes=-1)


def test_backoff_halves_on_oom() -> None:
    rows = [Row([0] * n, torch.zeros(3, n, dtype=torch.long), ()) for n in range(1, 6)]
    sizes: list[int] = []

    def forward(chunk: list[Row]) -> list[float]:
        sizes.append(len(chunk))
        if len(chunk) > 2:
            raise torch.cuda.OutOfMemoryError("simulated")
        return [float(len(row.ids)) for row in chunk]

    assert _with_backoff(forward, rows) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert sizes == [5, 2, 3, 1, 2]

    def always(chunk: list[Row]) -> list[float]:
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.raises(InsufficientMemory, match="one pair of 1 tokens"):
        _with_backoff(always, rows[:1])


def test_forward_hook_oom_halves_then_fails_cleanly(tiny_backend: LycheeBackend) -> None:
    fast = _fast(tiny_backend)
    fast.max_batch_tokens = 100_000
    sizes: list[int] = []
    limit = {"rows": 1}

    def hook(rows: int, length: int) -> None:
        sizes.append(rows)
        if rows > limit["rows"]:
            raise torch.cuda.OutOfMemoryError(f"simulated: {rows} x {length}")

    fast.forward_hook = hook
    query, docs = REQUESTS["text-text"]
    expected = tiny_backend.score_prepared(tiny_backend.prepare(query, docs, None))
    assert fast.score_prepared(fast.prepare(query, docs, None)) == pytest.approx(expected, abs=1e-4)
    assert max(sizes) > 1 and sizes[-1] == 1
    limit["rows"] = 0
    fast.clear_prefix_cache()
    with pytest.raises(InsufficientMemory):
        fast.score_prepared(fast.prepare(query, docs, None))


async def test_concurrent_requests_through_the_batcher(tiny_backend: LycheeBackend) -> None:
    batcher = MicroBatcher(_fast(tiny_backend), TINY_OPTIONS)
    try:
        results = await asyncio.gather(
            *(batcher.score(query, docs) for query, docs in REQUESTS.values())
        )
    finally:
        await batcher.close()
    for (query, docs), scores in zip(REQUESTS.values(), results, strict=True):
        plain = tiny_backend.score_prepared(tiny_backend.prepare(query, docs, None))
        assert scores == pytest.approx(plain, abs=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fast_equals_plain_on_cuda(tiny_checkpoint: Path) -> None:
    """The same exactness on the GPU kernels (fp32 tiny checkpoint, sdpa or flash-attn)."""
    options = dataclasses.replace(TINY_OPTIONS, device="cuda", dtype="float32")
    plain = LycheeBackend.load(str(tiny_checkpoint), options)
    fast = FastLycheeBackend(plain)
    for query, docs in REQUESTS.values():
        expected = plain.score_prepared(plain.prepare(query, docs, None))
        assert fast.score_prepared(fast.prepare(query, docs, None)) == pytest.approx(
            expected, abs=1e-4
        )


def test_undecodable_document_image_scores_the_text_alone(tiny_backend: LycheeBackend) -> None:
    query = Query(text="red mug", image=BLUE)
    broken = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # PNG magic, truncated body
    docs = [Document(text=TEXTS[1], image=broken), Document(text=TEXTS[0], image=RED)]
    fast = _fast(tiny_backend)
    scores = fast.score_prepared(fast.prepare(query, docs, None))
    text_alone = [Document(text=TEXTS[1]), docs[1]]
    assert scores == pytest.approx(fast.score_prepared(fast.prepare(query, text_alone, None)))
