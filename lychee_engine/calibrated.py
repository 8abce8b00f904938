"""Lychee's optional calibration: P("yes") -> P(relevant), tied to the weights it was fitted on.

`python -m lychee_engine.calibrate_minilm --model lychee:DIR` writes
`lychee_engine/calibration/lychee.json` with `fitted_for` naming the checkpoint (a hash of
its config and safetensors headers: the same weights copied elsewhere keep it). At load
time the file applies only to that checkpoint; for any other, P("yes") stays raw and the
log says why. `EngineOptions.calibration` names another file explicitly (it must exist,
and then applies to whatever checkpoint is loaded). When a calibration applies, the
backend's revision gains `+cal.<fingerprint>`: the score cache key changes with it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from lychee_engine.backend import PairBackend, PreparedPair
from lychee_engine.calibration import CALIBRATION_DIR, Calibration
from lychee_engine.types import Document, Query

log = logging.getLogger(__name__)
DEFAULT_FILE = CALIBRATION_DIR / "lychee.json"


def weights_fingerprint(path: Path) -> str:
    """Identifies a checkpoint's weights by content (config + safetensors headers + sizes)."""
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for weights in sorted(path.glob("*.safetensors")):
        with weights.open("rb") as fh:
            digest.update(fh.read(int.from_bytes(fh.read(8), "little")))
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def lychee_calibration(model_dir: Path, explicit: str | None) -> Calibration | None:
    """The calibration to apply to this checkpoint, or None for raw P("yes")."""
    if explicit:
        return Calibration.load_file(Path(explicit))  # a missing or broken file is an error
    if not DEFAULT_FILE.is_file():
        return None
    calibration = Calibration.load_file(DEFAULT_FILE)
    fitted_for = str(calibration.meta.get("fitted_for", ""))
    mine = f"qwen2.5-vl@{weights_fingerprint(model_dir)}"
    if fitted_for != mine:
        log.warning(
            "%s was fitted for %s, not this checkpoint (%s): scores are raw P(yes)",
            DEFAULT_FILE,
            fitted_for or "an unnamed checkpoint",
            mine,
        )
        return None
    return calibration


class CalibratedBackend:
    """A PairBackend whose scores go through a calibration; everything else is the inner's."""

    def __init__(self, inner: PairBackend, calibration: Calibration) -> None:
        self._inner = inner
        self.calibration = calibration
        self.model_id = inner.model_id
        self.revision = f"{inner.revision}+cal.{calibration.fingerprint}"
        self.supports_images = inner.supports_images
        self.max_batch_tokens = inner.max_batch_tokens

    def prepare(
        self, query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        return self._inner.prepare(query, documents, instruction)

    def score_prepared(self, pairs: list[PreparedPair]) -> list[float]:
        raw = self._inner.score_prepared(pairs)
        return [float(p) for p in self.calibration.apply(raw)] if raw else []

    def __getattr__(self, name: str) -> Any:
        # Diagnostics of the inner backend (fast-path stats, caches, hooks) stay reachable.
        return getattr(self._inner, name)
