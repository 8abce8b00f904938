"""Fit the MiniLM cosine -> score calibration on judged pairs, reproducibly.

    python -m lychee_engine.calibrate_minilm [--pairs FILE ...] [--out FILE]

Each input line is `{"query": str, "document": str, "relevant": 0 | 1}`. The fit is a
two-parameter logistic regression solved by Newton's method with a tiny L2 penalty:
deterministic, no sklearn. The result is written to `calibration/minilm.json`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lychee_engine.calibration import CALIBRATION_DIR, LogisticCalibration

DEFAULT_PAIRS = CALIBRATION_DIR / "minilm_pairs.jsonl"
DEFAULT_OUT = CALIBRATION_DIR / "minilm.json"
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Judged:
    query: str
    document: str
    relevant: int


def read_pairs(paths: list[Path]) -> list[Judged]:
    pairs: list[Judged] = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("relevant") not in (0, 1):
                raise ValueError(f"{path}:{number}: 'relevant' must be 0 or 1")
            pairs.append(Judged(str(row["query"]), str(row["document"]), int(row["relevant"])))
    if len({p.relevant for p in pairs}) < 2:
        raise ValueError("need both relevant and irrelevant pairs to fit a calibration")
    return pairs


def cosines(pairs: list[Judged]) -> FloatArray:
    from lychee_engine.minilm_backend import load_encoder

    encoder = load_encoder("cpu")
    queries = encoder.encode([p.query for p in pairs])
    documents = encoder.encode([p.document for p in pairs])
    values: FloatArray = (queries * documents).sum(dim=1).double().numpy()
    return values


def fit_logistic(x: FloatArray, y: FloatArray, l2: float = 1e-3, steps: int = 100) -> FloatArray:
    """Newton's method on the penalised log-loss; returns [a, b]."""
    features = np.stack([x, np.ones_like(x)], axis=1)
    theta = np.zeros(2)
    penalty = np.diag([l2, 0.0])  # don't shrink the intercept
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-features @ theta))
        gradient = features.T @ (p - y) + penalty @ theta
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        theta = theta - step
        if np.abs(step).max() < 1e-10:
            break
    return theta


def summary(scores: FloatArray, y: FloatArray) -> dict[str, float]:
    relevant, irrelevant = scores[y == 1], scores[y == 0]
    return {
        "relevant_at_or_above_0.55": round(float((relevant >= 0.55).mean()), 3),
        "irrelevant_below_0.4": round(float((irrelevant < 0.4).mean()), 3),
        "relevant_median": round(float(np.median(relevant)), 3),
        "irrelevant_median": round(float(np.median(irrelevant)), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, nargs="+", default=[DEFAULT_PAIRS])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    pairs = read_pairs(args.pairs)
    x = cosines(pairs)
    y = np.array([p.relevant for p in pairs], dtype=np.float64)
    a, b = (float(v) for v in fit_logistic(x, y))
    result = {
        "a": round(a, 6),
        "b": round(b, 6),
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "form": "1 / (1 + exp(-(a * cosine + b)))",
        "fitted_on": [p.name for p in args.pairs],
        "n_pairs": len(pairs),
        "fit": summary(LogisticCalibration(a, b).apply(x), y),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
