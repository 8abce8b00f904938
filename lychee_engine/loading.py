"""`load_scorer(spec)`: the one place a scoring strategy is chosen, once, at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lychee_engine.backend import PairBackend
from lychee_engine.batcher import MicroBatcher
from lychee_engine.options import EngineOptions
from lychee_engine.types import Scorer

Kind = Literal["minilm", "lychee", "tiny", "remote"]
ACCEPTED_FORMS = (
    "'minilm', 'lychee:/path/to/model', 'tiny:/path/to/model', 'remote:http://host:port'"
)


@dataclass(frozen=True, slots=True)
class ScorerSpec:
    """A parsed spec: the backend kind and its target (model directory or base URL)."""

    kind: Kind
    target: str = ""


def parse_spec(spec: str) -> ScorerSpec:
    """Parse a scorer spec; raises ValueError naming the accepted forms."""
    text = spec.strip()
    if text == "minilm":
        return ScorerSpec("minilm")
    kind, sep, target = text.partition(":")
    target = target.strip()
    if sep and target and kind in ("lychee", "tiny"):
        return ScorerSpec(kind, target)  # type: ignore[arg-type]
    if sep and kind == "remote" and target.startswith(("http://", "https://")):
        return ScorerSpec("remote", target)
    raise ValueError(f"unknown scorer spec {spec!r}; accepted forms: {ACCEPTED_FORMS}")


def load_scorer(spec: str, options: EngineOptions | None = None) -> Scorer:
    """Build the scorer a spec names, loading weights where needed.

    `minilm` and `lychee:`/`tiny:` run in-process behind the micro-batcher (weights are
    loaded once per process and shared); `remote:` calls another sidecar's `/v1/rerank`.
    Raises ValueError for a malformed spec and `EngineError` when loading fails.
    """
    parsed = parse_spec(spec)
    options = options or EngineOptions()
    if parsed.kind == "remote":
        from lychee_engine.remote import RemoteScorer

        return RemoteScorer(parsed.target, options)
    if parsed.kind == "minilm":
        from lychee_engine.minilm_backend import MiniLMBackend

        return MicroBatcher(MiniLMBackend.load(options), options)
    # Imported lazily: the Qwen2.5-VL stack is heavy and irrelevant to the other backends.
    # The served path: the plain backend's weights and preprocessing behind the fast path
    # (vision-embedding cache, shared-prefix reuse, length buckets), exact to the plain path.
    from pathlib import Path

    from lychee_engine.calibrated import CalibratedBackend, lychee_calibration
    from lychee_engine.fast.fast_backend import FastLycheeBackend

    backend: PairBackend = FastLycheeBackend.load(parsed.target, options)
    calibration = lychee_calibration(Path(parsed.target), options.calibration)
    if calibration is not None:
        backend = CalibratedBackend(backend, calibration)
    return MicroBatcher(backend, options)
