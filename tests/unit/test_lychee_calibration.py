"""`make calibrate`'s Lychee path on the tiny checkpoint: the code runs end to end, and the
fitted file changes the served scores and the revision (score cache key). The tiny model's
numbers mean nothing; only the plumbing is under test."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lychee_engine import calibrate_minilm, calibrated
from lychee_engine.calibration import Calibration
from lychee_engine.loading import load_scorer
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query

WORDS = ["drill", "faucet", "bracket", "paint", "mulch", "lamp", "hose", "tile"]


def homedepot_like(path: Path, terms: int = 20) -> Path:
    """A small train.csv.zip with Home Depot's columns and ISO-8859-1 encoding."""
    rng = np.random.default_rng(1)
    rows = ["id,product_uid,product_title,search_term,relevance"]
    n = 0
    for t in range(terms):
        term = f"{WORDS[t % len(WORDS)]} {t}"
        for k in range(3):
            n += 1
            rating = rng.choice([1.0, 1.33, 2.0, 2.67, 3.0])
            rows.append(f"{n},{1000 + n},Product {WORDS[(t + k) % len(WORDS)]} {k},{term},{rating}")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", ("\n".join(rows) + "\n").encode("iso-8859-1"))
    return path


@pytest.fixture(scope="module")
def fitted(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("lychee-cal")
    data = homedepot_like(tmp / "train.csv.zip")
    out = tmp / "lychee.json"
    code = calibrate_minilm.main(
        ["--model", f"tiny:{tiny_checkpoint}", "--data", str(data), "--out", str(out),
         "--report", str(tmp / "report"), "--max-pairs", "30"]
    )  # fmt: skip
    assert code in (0, 1)  # 1: goals missed, expected of random weights
    assert (tmp / "report" / "lychee.md").read_text().count("| logistic") == 1
    return out


def test_fitted_file_names_its_checkpoint_and_split(fitted: Path, tiny_checkpoint: Path) -> None:
    meta = json.loads(fitted.read_text())
    assert meta["input"] == "logit"  # P("yes") is fitted on its log-odds
    assert meta["fitted_for"] == f"qwen2.5-vl@{calibrated.weights_fingerprint(tiny_checkpoint)}"
    assert meta["held_out"]["pairs"] > 0 and "by search term" in meta["split"]


async def test_served_scores_go_through_the_calibration(
    fitted: Path, tiny_checkpoint: Path
) -> None:
    options = EngineOptions(device="cpu", warmup=False)
    raw = load_scorer(f"tiny:{tiny_checkpoint}", options)
    with_file = EngineOptions(device="cpu", warmup=False, calibration=str(fitted))
    cal = load_scorer(f"tiny:{tiny_checkpoint}", with_file)
    try:
        docs = [Document(text="Cordless drill 20V"), Document(text="Garden hose 50 ft")]
        raw_scores = await raw.score(Query(text="drill"), docs)
        cal_scores = await cal.score(Query(text="drill"), docs)
        expected = Calibration.load_file(fitted).apply(raw_scores)
        assert cal_scores == pytest.approx(expected.tolist(), abs=1e-5)
        fingerprint = Calibration.load_file(fitted).fingerprint
        assert cal.revision == f"{raw.revision}+cal.{fingerprint}"  # old cached scores miss
    finally:
        await raw.close()
        await cal.close()


def test_package_file_applies_only_to_its_checkpoint(
    fitted: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calibrated, "DEFAULT_FILE", fitted)
    assert calibrated.lychee_calibration(tiny_checkpoint, None) is not None
    other = json.loads(fitted.read_text()) | {"fitted_for": "qwen2.5-vl@someone-else"}
    (tmp_path / "other.json").write_text(json.dumps(other))
    monkeypatch.setattr(calibrated, "DEFAULT_FILE", tmp_path / "other.json")
    assert calibrated.lychee_calibration(tiny_checkpoint, None) is None  # raw P("yes")
    monkeypatch.setattr(calibrated, "DEFAULT_FILE", tmp_path / "absent.json")
    assert calibrated.lychee_calibration(tiny_checkpoint, None) is None
    with pytest.raises(FileNotFoundError):
        calibrated.lychee_calibration(tiny_checkpoint, str(tmp_path / "absent.json"))
