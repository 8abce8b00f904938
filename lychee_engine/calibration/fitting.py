"""Fit a monotone calibration (scikit-learn) and measure it: ECE and threshold shares.

The target is P(relevant) in the sense of `relevance_target`: Home Depot's mean rating
r in [1, 3] becomes t = (r - 1) / 2, the share of the raters' verdicts that say "relevant"
when "highly relevant" (3) counts 1, "somewhat relevant" (2) counts 1/2 and "irrelevant" (1)
counts 0. Why a soft target rather than a cut such as r >= 2.5: the mean of three or more
raters *is* an estimate of how likely a shopper finds the product relevant; a cut throws
that away and would call a 2.33 product (two "somewhat", one "highly") as irrelevant as a
1.0. The fit treats each pair as t "relevant" and 1 - t "irrelevant" observations (two
weighted rows), so logistic regression and isotonic regression fit the same target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lychee_engine.calibration import Calibration, Input

FloatArray = npt.NDArray[np.float64]
THRESHOLD = 0.4  # the shipped min_score: keep P(relevant) >= 0.4
ECE_BINS = 10
MAX_KNOTS = 200  # isotonic knots kept in the shipped file (the map is piecewise linear)


def relevance_target(rating: npt.ArrayLike) -> FloatArray:
    """Mean rating 1..3 -> P(relevant) in 0..1 (see the module docstring)."""
    r = np.asarray(rating, dtype=np.float64)
    if r.size and (r.min() < 1.0 or r.max() > 3.0):
        raise ValueError("ratings must lie in [1, 3]")
    return (r - 1.0) / 2.0


def _soft_rows(x: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Each (x, t) as two rows: label 1 weighted t and label 0 weighted 1 - t."""
    xs = np.concatenate([x, x])
    ys = np.concatenate([np.ones_like(t), np.zeros_like(t)])
    ws = np.concatenate([t, 1.0 - t])
    keep = ws > 0
    return xs[keep], ys[keep], ws[keep]


def fit_logistic(x: FloatArray, t: FloatArray, input: Input = "raw") -> Calibration:
    """Logistic regression of the target on one feature (practically unpenalised)."""
    from sklearn.linear_model import LogisticRegression

    features = Calibration.logistic(1.0, 0.0, input).features(x)
    xs, ys, ws = _soft_rows(features, t)
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(xs.reshape(-1, 1), ys, sample_weight=ws)
    return Calibration.logistic(float(model.coef_[0, 0]), float(model.intercept_[0]), input)


def fit_isotonic(x: FloatArray, t: FloatArray, input: Input = "raw") -> Calibration:
    """Non-decreasing least-squares fit of the target, thinned to at most MAX_KNOTS knots.

    The fitted step function is kept as knots joined linearly (np.interp), which also
    smooths the steps; knots are taken at quantiles of the fitted x so the thinning keeps
    the shape where the data is.
    """
    from sklearn.isotonic import IsotonicRegression

    features = Calibration.logistic(1.0, 0.0, input).features(x)
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(features, t)
    grid = np.unique(np.quantile(features, np.linspace(0.0, 1.0, MAX_KNOTS)))
    values = np.clip(model.predict(grid), 0.0, 1.0)
    values = np.maximum.accumulate(values)  # guard against float noise
    return Calibration.isotonic(grid, values, input)


def fit(x: FloatArray, t: FloatArray, method: str, input: Input = "raw") -> Calibration:
    if method == "logistic":
        return fit_logistic(x, t, input)
    if method == "isotonic":
        return fit_isotonic(x, t, input)
    raise ValueError(f"unknown method {method!r}: logistic or isotonic")


def expected_calibration_error(p: FloatArray, t: FloatArray, bins: int = ECE_BINS) -> float:
    """Weighted mean |mean target - mean prediction| over equal-width prediction bins."""
    p = np.asarray(p, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if p.size == 0:
        raise ValueError("no predictions")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(t[mask].mean() - p[mask].mean())
    return float(total / p.size)


@dataclass(frozen=True, slots=True)
class Report:
    """Figures of one calibration on one part of the data (the held-out part, reported)."""

    pairs: int
    ece: float
    top_kept: float  # share of top-rated pairs (rating 3.0) with P >= threshold
    bottom_dropped: float  # share of bottom-rated pairs (rating <= 4/3) with P < threshold
    top_pairs: int
    bottom_pairs: int
    mean_p: float
    mean_target: float
    threshold: float = THRESHOLD

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.pairs} | {self.ece:.4f} | {self.top_kept:.1%} "
            f"| {self.bottom_dropped:.1%} | {self.mean_p:.3f} | {self.mean_target:.3f} |"
        )


REPORT_HEADER = (
    "| calibration | pairs | ECE (10 bins) | top-rated kept @0.4 | bottom-rated dropped @0.4 "
    "| mean P | mean target |\n|---|---|---|---|---|---|---|"
)


def report(
    p: FloatArray,
    rating: FloatArray,
    top: float = 3.0,
    bottom: float = 4.0 / 3.0,
    threshold: float = THRESHOLD,
) -> Report:
    t = relevance_target(rating)
    is_top = rating >= top - 1e-9
    is_bottom = rating <= bottom + 1e-2  # the data writes 4/3 as 1.33
    return Report(
        pairs=int(p.size),
        ece=expected_calibration_error(p, t),
        top_kept=float((p[is_top] >= threshold).mean()) if is_top.any() else float("nan"),
        bottom_dropped=float((p[is_bottom] < threshold).mean()) if is_bottom.any() else 0.0,
        top_pairs=int(is_top.sum()),
        bottom_pairs=int(is_bottom.sum()),
        mean_p=float(p.mean()),
        mean_target=float(t.mean()),
        threshold=threshold,
    )


def reliability_table(p: FloatArray, t: FloatArray, bins: int = ECE_BINS) -> str:
    """Markdown: per prediction bin, pairs, mean prediction and mean target."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    lines = ["| P bin | pairs | mean P | mean target |", "|---|---|---|---|"]
    for b in range(bins):
        mask = which == b
        if mask.any():
            lines.append(
                f"| {b / bins:.1f}-{(b + 1) / bins:.1f} | {int(mask.sum())} "
                f"| {p[mask].mean():.3f} | {t[mask].mean():.3f} |"
            )
    return "\n".join(lines)
