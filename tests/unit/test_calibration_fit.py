"""Calibration fitting and measurement on synthetic data (the Home Depot data is not in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lychee_engine.calibration import Calibration, fitting
from lychee_engine.calibration.homedepot import JudgedPairs, split_by_query


def synthetic(n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores x and mean ratings 1..3 (in thirds) whose P(relevant) is a known logistic."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.2, 1.0, n)
    p = Calibration.logistic(6.0, -2.0).apply(x)
    votes = rng.uniform(size=(n, 3)) < p[:, None]  # three raters: relevant (3) or not (1)
    rating = 1.0 + 2.0 * votes.mean(axis=1)
    return x, rating


def test_target_maps_ratings_to_probabilities() -> None:
    assert fitting.relevance_target([1.0, 2.0, 3.0]).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"\[1, 3\]"):
        fitting.relevance_target([0.5])


def test_logistic_fit_recovers_a_known_logistic() -> None:
    x, rating = synthetic()
    fitted = fitting.fit(x, fitting.relevance_target(rating), "logistic")
    a, b = fitted.params
    assert a == pytest.approx(6.0, rel=0.1) and b == pytest.approx(-2.0, abs=0.2)


def test_isotonic_fit_is_monotone_and_calibrated() -> None:
    x, rating = synthetic()
    t = fitting.relevance_target(rating)
    fitted = fitting.fit(x[:15000], t[:15000], "isotonic")
    grid = np.linspace(-1.0, 1.5, 200)
    assert np.all(np.diff(fitted.apply(grid)) >= 0)  # never reorders
    assert len(fitted.params) <= 2 * fitting.MAX_KNOTS
    held = fitting.report(fitted.apply(x[15000:]), rating[15000:])
    assert held.ece < 0.03


def test_ece_of_a_perfect_and_a_biased_predictor() -> None:
    t = np.array([0.0, 0.0, 1.0, 1.0])
    p = np.array([0.05, 0.05, 0.95, 0.95])
    assert fitting.expected_calibration_error(p, t) == pytest.approx(0.05)
    # one bin holds everything: |mean target - mean prediction| = |0.5 - 0.15|
    assert fitting.expected_calibration_error(np.full(4, 0.15), t) == pytest.approx(0.35)


def test_report_counts_top_kept_and_bottom_dropped() -> None:
    p = np.array([0.9, 0.3, 0.5, 0.1, 0.45])
    rating = np.array([3.0, 3.0, 2.0, 1.0, 1.33])
    result = fitting.report(p, rating)
    assert result.top_pairs == 2 and result.top_kept == pytest.approx(0.5)
    assert result.bottom_pairs == 2 and result.bottom_dropped == pytest.approx(0.5)
    assert "| isotonic | 5 |" in result.row("isotonic")


def test_split_is_by_query_and_reproducible() -> None:
    queries = [f"q{i % 50}" for i in range(400)]
    pairs = JudgedPairs(queries, ["t"] * 400, [str(i) for i in range(400)], np.full(400, 2.0))
    fit_rows, held_rows = split_by_query(pairs)
    fit_terms = {queries[i] for i in fit_rows}
    held_terms = {queries[i] for i in held_rows}
    assert not fit_terms & held_terms and len(held_terms) == 10  # 20% of 50 terms
    again = split_by_query(pairs)
    assert again[1].tolist() == held_rows.tolist()


def test_calibration_files_round_trip_and_fingerprint(tmp_path: Path) -> None:
    iso = Calibration.isotonic([0.0, 0.5, 1.0], [0.1, 0.4, 0.9], input="logit")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**iso.to_json(), "fitted_for": "x"}))
    loaded = Calibration.load_file(path)
    assert loaded == iso and loaded.meta == {"fitted_for": "x"}
    assert loaded.fingerprint == iso.fingerprint
    assert Calibration.logistic(1.0, 0.0).fingerprint != Calibration.logistic(1.0, 0.1).fingerprint
    # logit input: P("yes") 0.5 is log-odds 0, halfway between the first two knots... at x=0
    assert loaded.apply([0.5]).tolist() == pytest.approx([0.1])


@pytest.mark.parametrize(
    "body, message",
    [
        ({"form": "logistic", "a": "x", "b": 1}, "not a valid calibration"),
        ({"form": "isotonic", "x": [0, 1], "y": [0.5, 0.2]}, "non-decreasing"),
        ({"form": "isotonic", "x": [0, 1], "y": [0.5]}, "differ in length"),
        ({"form": "spline", "x": [0, 1], "y": [0, 1]}, "unknown calibration form"),
        ({"form": "logistic", "a": 1, "b": float("nan")}, "finite"),
    ],
)
def test_broken_calibration_files_are_rejected(
    tmp_path: Path, body: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(body))
    with pytest.raises(ValueError, match=message):
        Calibration.load_file(path)
