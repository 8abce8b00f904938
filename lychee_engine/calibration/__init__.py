"""Score calibrations shipped with the package: map a similarity to a probability-like score.

Rule thresholds (0.4 / 0.55 / 0.75) are defined on Lychee's P(yes); a similarity backend
maps its cosine through a logistic fitted on judged pairs so the thresholds keep meaning.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

CALIBRATION_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class LogisticCalibration:
    """score = 1 / (1 + exp(-(a * cosine + b)))."""

    a: float
    b: float

    @classmethod
    def load(cls, name: str) -> LogisticCalibration:
        """Load `<name>.json` from this package; raises FileNotFoundError / ValueError."""
        path = CALIBRATION_DIR / f"{name}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        try:
            a, b = float(data["a"]), float(data["b"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} needs numeric 'a' and 'b'") from exc
        if not (np.isfinite(a) and np.isfinite(b)):
            raise ValueError(f"{path} has non-finite parameters")
        return cls(a, b)

    def apply(self, cosine: npt.ArrayLike) -> npt.NDArray[np.float64]:
        z = self.a * np.asarray(cosine, dtype=np.float64) + self.b
        return 1.0 / (1.0 + np.exp(-z))

    @property
    def fingerprint(self) -> str:
        """Short, stable id of the parameters (part of the backend's revision)."""
        return hashlib.sha256(f"{self.a:.6f},{self.b:.6f}".encode()).hexdigest()[:8]
