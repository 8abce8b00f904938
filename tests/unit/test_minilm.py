"""The MiniLM backend on the real packaged weights, behind the micro-batcher."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import numpy as np
import pytest

from lychee_engine.batcher import MicroBatcher
from lychee_engine.calibration import CALIBRATION_DIR, Calibration
from lychee_engine.errors import UnsupportedInput
from lychee_engine.minilm_backend import MiniLMBackend
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query

SHOES = Document(text="Lightweight running shoes for men")
MUG = Document(text="Ceramic coffee mug")
QUERY = Query(text="running shoes")
PNG = b"\x89PNG\r\n\x1a\n"  # never decoded: MiniLM reads only text


@pytest.fixture(scope="module")
def backend() -> MiniLMBackend:
    return MiniLMBackend.load(EngineOptions(device="cpu", max_batch_tokens=64))


@pytest.fixture
async def scorer(backend: MiniLMBackend) -> AsyncIterator[MicroBatcher]:
    batcher = MicroBatcher(backend, EngineOptions(max_wait_ms=2))
    yield batcher
    await batcher.close()


async def test_relevant_product_ranks_above_unrelated_one(scorer: MicroBatcher) -> None:
    shoes, mug = await scorer.score(QUERY, [SHOES, MUG])
    assert 0.0 <= mug < shoes <= 1.0
    # Calibrated on Home Depot judged pools, where even a weak cosine is relevant ~40% of the
    # time: an unrelated product falls below "medium", a matching one is "strong".
    assert shoes >= 0.75 and mug < 0.55


async def test_image_only_document_is_unsupported(scorer: MicroBatcher) -> None:
    with pytest.raises(UnsupportedInput, match="unsupported by this backend"):
        await scorer.score(QUERY, [SHOES, Document(image=PNG)])


async def test_image_only_query_is_unsupported(scorer: MicroBatcher) -> None:
    with pytest.raises(UnsupportedInput, match="unsupported by this backend"):
        await scorer.score(Query(image=PNG), [SHOES])


async def test_text_and_image_document_is_scored_on_its_text(scorer: MicroBatcher) -> None:
    with_image = Document(text=SHOES.text, image=PNG)
    plain, mixed = await scorer.score(QUERY, [SHOES, with_image])
    assert mixed == pytest.approx(plain, abs=1e-6)


async def test_instruction_is_ignored(scorer: MicroBatcher) -> None:
    plain = await scorer.score(QUERY, [SHOES, MUG])
    instructed = await scorer.score(QUERY, [SHOES, MUG], instruction="Find kitchenware.")
    assert instructed == pytest.approx(plain, abs=1e-6)


async def test_batched_scores_equal_single_pair_scores(scorer: MicroBatcher) -> None:
    titles = [
        "Trail running shoes",
        "Yoga mat",
        "Running socks, 3 pack",
        "Red satin midi dress with pockets",
    ]
    together = await scorer.score(QUERY, [Document(text=t) for t in titles])
    alone = [(await scorer.score(QUERY, [Document(text=t)]))[0] for t in titles]
    assert together == pytest.approx(alone, abs=1e-5)


def test_query_is_tokenised_once_per_request(backend: MiniLMBackend) -> None:
    pairs = backend.prepare(QUERY, [SHOES, MUG, SHOES], None)
    assert len({id(p.payload.query) for p in pairs}) == 1
    backend.score_prepared(pairs)
    assert pairs[0].payload.query.embedding is not None


def test_revision_names_weights_and_calibration(backend: MiniLMBackend) -> None:
    assert backend.revision.endswith(Calibration.load("minilm").fingerprint)


def test_shipped_calibration_is_monotone_and_met_its_goals() -> None:
    calibration = Calibration.load("minilm")
    meta = json.loads((CALIBRATION_DIR / "minilm.json").read_text())
    grid = np.linspace(-1.0, 1.0, 401)
    assert np.all(np.diff(calibration.apply(grid)) >= 0)  # a monotone map never reorders
    held = meta["held_out"]  # measured by `make calibrate` on the held-out search terms
    assert held["ece_10_bins"] <= 0.08 and held["top_rated_kept_at_0.4"] >= 0.9
    assert "by search term" in meta["split"]
