"""LycheeBackend on the tiny checkpoint: batched == single, order, OOM back-off, loading."""

from __future__ import annotations

import dataclasses
import random
import threading
from pathlib import Path

import pytest
import torch

from lychee_engine.backend import PairBackend
from lychee_engine.errors import EngineError, InsufficientMemory, UnsupportedInput
from lychee_engine.lychee_backend import LycheeBackend, PairInputs, collate, pack_batches
from lychee_engine.model_registry import REGISTRY, ModelKey, ModelRegistry
from lychee_engine.types import Document, Query
from tests.unit.conftest import TINY_OPTIONS, png

TEXTS = ["light running shoes for men", "a red ceramic coffee mug " * 4, "leather wallet " * 9]


def _requests() -> dict[str, tuple[Query, list[Document]]]:
    red, blue = png((56, 84), (220, 20, 20)), png((112, 56), (20, 20, 220))
    return {
        "text-text": (Query(text="running shoes"), [Document(text=t) for t in TEXTS]),
        "image-text": (Query(image=red), [Document(text=t) for t in TEXTS]),
        "text-image": (
            Query(text="blue bag"),
            [Document(image=png((56 + 28 * k, 56), (0, 0, 40 * k))) for k in range(3)],
        ),
        "both-both": (
            Query(text="green shirt", image=blue),
            [Document(text=t, image=png((56, 28 * (k + 2)))) for k, t in enumerate(TEXTS)],
        ),
        "image-image": (Query(image=blue), [Document(image=red), Document(image=blue)]),
    }


REQUESTS = _requests()


def _singles(backend: LycheeBackend, pairs: list) -> list[float]:
    return [backend.score_prepared([pair])[0] for pair in pairs]


def test_is_a_pair_backend(tiny_backend: LycheeBackend) -> None:
    assert isinstance(tiny_backend, PairBackend)
    assert tiny_backend.supports_images
    assert tiny_backend.max_batch_tokens == TINY_OPTIONS.max_batch_tokens


@pytest.mark.parametrize("name", REQUESTS)
def test_batched_equals_single(tiny_backend: LycheeBackend, name: str) -> None:
    query, docs = REQUESTS[name]
    pairs = tiny_backend.prepare(query, docs, None)
    batched = tiny_backend.score_prepared(pairs)
    assert all(0.0 <= s <= 1.0 for s in batched)
    assert batched == pytest.approx(_singles(tiny_backend, pairs), abs=1e-4)


def test_mixed_requests_in_one_batch(tiny_backend: LycheeBackend) -> None:
    pairs = [p for q, docs in REQUESTS.values() for p in tiny_backend.prepare(q, docs, "Judge.")]
    tiny_backend.max_batch_tokens = 100_000  # everything in one forward
    try:
        together = tiny_backend.score_prepared(pairs)
    finally:
        tiny_backend.max_batch_tokens = TINY_OPTIONS.max_batch_tokens
    assert together == pytest.approx(_singles(tiny_backend, pairs), abs=1e-4)
    assert len(set(round(s, 4) for s in together)) > 5  # random weights still discriminate


def test_order_invariance(tiny_backend: LycheeBackend) -> None:
    pairs = [p for q, docs in REQUESTS.values() for p in tiny_backend.prepare(q, docs, None)]
    scores = tiny_backend.score_prepared(pairs)
    order = list(range(len(pairs)))
    random.Random(7).shuffle(order)
    shuffled = tiny_backend.score_prepared([pairs[i] for i in order])
    assert [shuffled[order.index(i)] for i in range(len(pairs))] == pytest.approx(scores, abs=1e-5)


def test_tokens_count_image_tokens(tiny_backend: LycheeBackend) -> None:
    image = png((448, 448))
    text_only, with_image = tiny_backend.prepare(
        Query(text="q"), [Document(text="mug"), Document(text="mug", image=image)], None
    )
    # 256 image tokens plus <|vision_start|> and <|vision_end|>
    assert with_image.tokens - text_only.tokens == 256 + 2
    assert with_image.tokens == len(with_image.payload.input_ids)


def test_instruction_changes_the_prompt(tiny_backend: LycheeBackend) -> None:
    query, docs = REQUESTS["text-text"]
    default = tiny_backend.prepare(query, docs[:1], None)[0].payload.input_ids
    custom = tiny_backend.prepare(query, docs[:1], "Find shoes.")[0].payload.input_ids
    assert default != custom


def test_long_documents_are_capped(tiny_backend: LycheeBackend) -> None:
    short, long = tiny_backend.prepare(
        Query(text="q"), [Document(text="shoe " * 200), Document(text="shoe " * 10_000)], None
    )
    assert short.tokens == long.tokens  # both capped at max_doc_chars=512 first


def test_vision_tower_sees_each_distinct_image_once(tiny_backend: LycheeBackend) -> None:
    query = Query(text="red mug", image=png((84, 84)))
    docs = [Document(text=TEXTS[k % 3] * (k + 1), image=png((56, 56)) if k % 2 else None)
            for k in range(8)]  # fmt: skip
    pairs = tiny_backend.prepare(query, docs, None)
    patches: list[int] = []
    visual = tiny_backend.model.model.visual
    handle = visual.register_forward_hook(lambda mod, args, out: patches.append(args[0].shape[0]))
    try:
        scores = tiny_backend.score_prepared(pairs)
    finally:
        handle.remove()
    assert len(pack_batches([p.tokens for p in pairs], tiny_backend.max_batch_tokens)) > 1
    distinct = {i.key: i for p in pairs for i in p.payload.images}
    assert len(distinct) == 2
    assert sum(patches) == sum(i.pixel_values.shape[0] for i in distinct.values())
    # the plain transformers path (pixel_values for every occurrence) gives the same scores
    image_id = tiny_backend.model.config.image_token_id
    batch = collate([p.payload for p in pairs], tiny_backend.pad_id, image_id)
    with torch.inference_mode():
        logits = tiny_backend.model(**batch, logits_to_keep=1, use_cache=False).logits
    no, yes = tiny_backend.answer_ids
    plain = torch.softmax(logits[:, -1, [no, yes]], dim=-1)[:, 1].tolist()
    assert scores == pytest.approx(plain, abs=1e-4)


def test_broken_document_image_falls_back_to_text(tiny_backend: LycheeBackend) -> None:
    broken, text = tiny_backend.prepare(
        Query(text="q"), [Document(text="mug", image=b"not an image"), Document(text="mug")], None
    )
    assert broken.payload == text.payload
    with pytest.raises(UnsupportedInput, match="cannot decode"):
        tiny_backend.prepare(Query(text="q"), [Document(image=b"not an image")], None)
    with pytest.raises(UnsupportedInput):
        tiny_backend.prepare(Query(text="q", image=b"junk"), [Document(text="mug")], None)


def test_pack_batches_respects_the_budget() -> None:
    lengths = [random.Random(i).randint(60, 200) for i in range(50)]
    batches = pack_batches(lengths, 1000)
    assert sorted(i for b in batches for i in b) == list(range(50))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 1000
    assert pack_batches([5000, 10], 1000) == [[1], [0]]  # too long alone: its own batch


def test_collate_left_pads_and_marks_image_tokens(tiny_backend: LycheeBackend) -> None:
    query, docs = REQUESTS["text-image"]
    items: list[PairInputs] = [p.payload for p in tiny_backend.prepare(query, docs, None)]
    image_id = tiny_backend.model.config.image_token_id
    batch = collate(items, pad_id=0, image_token_id=image_id)
    width = max(len(i.input_ids) for i in items)
    assert batch["attention_mask"][:, -1].all()
    shortest = min(range(len(items)), key=lambda r: len(items[r].input_ids))
    assert batch["attention_mask"][shortest, 0] == 0 and width > len(items[shortest].input_ids)
    assert torch.equal(batch["mm_token_type_ids"].bool(), batch["input_ids"] == image_id)
    assert batch["image_grid_thw"].shape == (len(items), 3)


def test_oom_halves_the_batch(tiny_backend: LycheeBackend) -> None:
    pairs = [p for q, docs in REQUESTS.values() for p in tiny_backend.prepare(q, docs, None)]
    expected = tiny_backend.score_prepared(pairs)
    sizes: list[int] = []

    def small_gpu(batch_size: int, length: int) -> None:
        sizes.append(batch_size)
        if batch_size > 2:
            raise torch.cuda.OutOfMemoryError("simulated: CUDA out of memory")

    tiny_backend.forward_hook = small_gpu
    try:
        scores = tiny_backend.score_prepared(pairs)
    finally:
        tiny_backend.forward_hook = None
    assert scores == pytest.approx(expected, abs=1e-5)
    assert max(sizes) > 2 and any(size <= 2 for size in sizes)


def test_oom_on_a_single_pair_raises(tiny_backend: LycheeBackend) -> None:
    def no_memory(batch_size: int, length: int) -> None:
        raise torch.cuda.OutOfMemoryError("simulated")

    pairs = tiny_backend.prepare(Query(text="q"), [Document(text="a"), Document(text="b")], None)
    tiny_backend.forward_hook = no_memory
    try:
        with pytest.raises(InsufficientMemory, match="single pair"):
            tiny_backend.score_prepared(pairs)
    finally:
        tiny_backend.forward_hook = None


def test_load_reuses_the_process_model(tiny_backend: LycheeBackend, tiny_checkpoint: Path) -> None:
    again = LycheeBackend.load(str(tiny_checkpoint), TINY_OPTIONS, model_id="tiny")
    assert again.model is tiny_backend.model
    assert again.model_id == "tiny"
    assert again.revision == tiny_backend.revision
    assert again.model.config._attn_implementation == "sdpa"  # no flash-attn on CPU


def test_revision_follows_scoring_inputs(tiny_backend, tiny_checkpoint: Path) -> None:
    options = dataclasses.replace(TINY_OPTIONS, max_doc_chars=100, warmup=False)
    other = LycheeBackend.load(str(tiny_checkpoint), options)
    assert other.revision != tiny_backend.revision
    assert len(tiny_backend.revision) == 16


def test_load_errors_are_engine_errors(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"no config\.json"):
        LycheeBackend.load(str(tmp_path), TINY_OPTIONS)


def test_registry_loads_once_under_concurrency() -> None:
    registry = ModelRegistry()
    key = ModelKey.of("/models/x", torch.float32, "cpu", "sdpa")
    calls: list[int] = []
    gate = threading.Barrier(4)

    def loader() -> object:
        calls.append(1)
        return object()

    results: list[object] = []

    def worker() -> None:
        gate.wait()
        results.append(registry.get_or_load(key, loader))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(calls) == 1 and len({id(r) for r in results}) == 1
    assert key in registry and key not in REGISTRY
