"""Scorer specs: parsing, the accepted forms, and what each one builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from lychee_engine import Document, EngineError, EngineOptions, Query, load_scorer, parse_spec
from lychee_engine.loading import ScorerSpec
from lychee_engine.remote import RemoteScorer


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("minilm", ScorerSpec("minilm")),
        (" minilm ", ScorerSpec("minilm")),
        ("lychee:/models/lychee-rerank-mm", ScorerSpec("lychee", "/models/lychee-rerank-mm")),
        ("tiny:/tmp/tiny", ScorerSpec("tiny", "/tmp/tiny")),
        ("lychee:C:/models/x", ScorerSpec("lychee", "C:/models/x")),
        ("remote:http://host:8080", ScorerSpec("remote", "http://host:8080")),
        ("remote:https://rerank.internal/", ScorerSpec("remote", "https://rerank.internal/")),
    ],
)
def test_accepted_specs(spec: str, parsed: ScorerSpec) -> None:
    assert parse_spec(spec) == parsed


@pytest.mark.parametrize(
    "spec",
    ["", "bert", "lychee", "lychee:", "tiny: ", "remote:host:8080", "remote:ftp://x", "minilm:x"],
)
def test_unknown_specs_name_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError, match="accepted forms: 'minilm', 'lychee:"):
        parse_spec(spec)


async def test_remote_spec_builds_a_remote_scorer() -> None:
    scorer = load_scorer("remote:http://127.0.0.1:9/")
    assert isinstance(scorer, RemoteScorer)
    assert scorer.model_id == "remote:http://127.0.0.1:9"
    await scorer.close()


def test_missing_model_directory_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not a model directory"):
        load_scorer(f"tiny:{tmp_path}/absent")


def test_bad_spec_fails_before_loading_anything() -> None:
    with pytest.raises(ValueError, match="unknown scorer spec 'gpt'"):
        load_scorer("gpt")


@pytest.mark.slow
async def test_tiny_spec_loads_the_lychee_backend_behind_the_batcher(tmp_path: Path) -> None:
    from lychee_engine.batcher import MicroBatcher
    from lychee_engine.tiny import write_tiny_checkpoint

    write_tiny_checkpoint(tmp_path / "tiny")
    scorer = load_scorer(f"tiny:{tmp_path / 'tiny'}", EngineOptions(device="cpu"))
    assert isinstance(scorer, MicroBatcher) and scorer.supports_images
    scores = await scorer.score(
        Query(text="denim jacket"), [Document(text="a"), Document(text="b")]
    )
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    await scorer.close()
