"""Score calibrations shipped with the package: map a raw model score to P(relevant).

Rule thresholds (0.4 / 0.55 / 0.75) mean a probability that the product is relevant to the
query. A backend's raw score (MiniLM's cosine, Lychee's P("yes")) is mapped through a
monotone calibration fitted on human judgments by `python -m lychee_engine.calibrate_minilm`
(see that module for the data, the split and the definition of "relevant").

Two forms, both applied with numpy only (no scikit-learn at serving time):
- `logistic`: p = 1 / (1 + exp(-(a * x + b)))
- `isotonic`: a non-decreasing step-linear map through knots (x_i, y_i), clipped at the ends

`input` says what x is: the raw score itself (`raw`) or its log-odds (`logit`, for a raw
score that is already a probability such as P("yes")). Every calibration has a fingerprint;
backends put it in their `revision`, which is part of the score cache key, so scores
cached under an older calibration stop matching.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

CALIBRATION_DIR = Path(__file__).resolve().parent
FloatArray = npt.NDArray[np.float64]
Form = Literal["logistic", "isotonic"]
Input = Literal["raw", "logit"]
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted monotone map from a raw score to P(relevant)."""

    form: Form
    params: tuple[float, ...]  # logistic: (a, b); isotonic: x knots then y knots
    input: Input = "raw"
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        values = np.asarray(self.params, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("calibration parameters must be finite")
        if self.form == "logistic":
            if len(self.params) != 2:
                raise ValueError("a logistic calibration has exactly two parameters (a, b)")
        elif self.form == "isotonic":
            n = len(self.params) // 2
            if n < 2 or len(self.params) != 2 * n:
                raise ValueError("an isotonic calibration needs at least two (x, y) knots")
            x, y = values[:n], values[n:]
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise ValueError("isotonic knots must be non-decreasing in x and y")
            if y.min() < 0 or y.max() > 1:
                raise ValueError("isotonic knot values must lie in [0, 1]")
        else:
            raise ValueError(f"unknown calibration form {self.form!r}")
        if self.input not in ("raw", "logit"):
            raise ValueError(f"unknown calibration input {self.input!r}")

    @classmethod
    def logistic(cls, a: float, b: float, input: Input = "raw") -> Calibration:
        return cls("logistic", (float(a), float(b)), input)

    @classmethod
    def isotonic(cls, x: npt.ArrayLike, y: npt.ArrayLike, input: Input = "raw") -> Calibration:
        xs = np.asarray(x, dtype=np.float64).ravel()
        ys = np.asarray(y, dtype=np.float64).ravel()
        if xs.shape != ys.shape:
            raise ValueError("isotonic knots need as many x as y values")
        return cls("isotonic", (*xs.tolist(), *ys.tolist()), input)

    def features(self, raw: npt.ArrayLike) -> FloatArray:
        x = np.asarray(raw, dtype=np.float64)
        if self.input == "logit":
            p = np.clip(x, _EPS, 1 - _EPS)
            return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)
        return x

    def apply(self, raw: npt.ArrayLike) -> FloatArray:
        """P(relevant) for each raw score (same shape)."""
        x = self.features(raw)
        if self.form == "logistic":
            a, b = self.params
            return np.asarray(1.0 / (1.0 + np.exp(-(a * x + b))), dtype=np.float64)
        n = len(self.params) // 2
        knots = np.asarray(self.params, dtype=np.float64)
        return np.asarray(np.interp(x, knots[:n], knots[n:]), dtype=np.float64)

    @property
    def fingerprint(self) -> str:
        """Short, stable id of what the map computes (part of the backend's revision)."""
        text = json.dumps([self.form, self.input, [f"{v:.6f}" for v in self.params]])
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"form": self.form, "input": self.input}
        if self.form == "logistic":
            body["a"], body["b"] = self.params
        else:
            n = len(self.params) // 2
            body["x"], body["y"] = list(self.params[:n]), list(self.params[n:])
        return {**body, **self.meta}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "calibration") -> Calibration:
        """Parse a calibration file's content; raises ValueError naming `source`."""
        try:
            form = data.get("form", "logistic")
            input_ = data.get("input", "raw")
            meta = {k: v for k, v in data.items() if k not in ("form", "input", "a", "b", "x", "y")}
            if form == "logistic":
                made = cls("logistic", (float(data["a"]), float(data["b"])), input_, meta)
            else:
                xs = [float(v) for v in data["x"]]
                ys = [float(v) for v in data["y"]]
                if len(xs) != len(ys):
                    raise ValueError("x and y differ in length")
                made = cls(form, (*xs, *ys), input_, meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source} is not a valid calibration: {exc}") from exc
        return made

    @classmethod
    def load_file(cls, path: Path) -> Calibration:
        """Load a calibration JSON file; FileNotFoundError / ValueError name the path."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path} is not a valid calibration: not a JSON object")
        return cls.from_json(data, str(path))

    @classmethod
    def load(cls, name: str) -> Calibration:
        """Load `<name>.json` shipped in this package."""
        return cls.load_file(CALIBRATION_DIR / f"{name}.json")
