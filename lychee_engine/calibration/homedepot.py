"""The Home Depot judged pairs (Kaggle "Home Depot Product Search Relevance", train.csv).

74,067 (search term, product title) pairs, each rated by at least three people on 1-3
(3 = highly relevant); `relevance` is their mean. Used to fit score calibrations
(`python -m lychee_engine.calibrate_minilm`) and to evaluate rerankers (`sidecar.eval`).

The split is BY SEARCH TERM, never by row: scikit-learn's `GroupShuffleSplit` with the
search term as the group, `test_size=0.2` and `random_state=SPLIT_SEED`, over the rows in
file order. The same term never lands on both sides, so held-out figures measure queries
the fit has not seen. Calibration fits on the 80% part; every figure we report (the
calibration table, the `make eval` Home Depot rows) is on the held-out 20%.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared/data/homedepot/train.csv.zip"
SPLIT_SEED = 13
HELD_OUT_SHARE = 0.2
TOP_RATED = 3.0  # every rater said "highly relevant"
BOTTOM_RATED = 4.0 / 3.0  # at most one rater above "irrelevant" (the data's 1.33 is 4/3)


@dataclass(frozen=True, slots=True)
class JudgedPairs:
    """Column arrays of one part of the data, row-aligned."""

    queries: list[str]
    titles: list[str]
    product_ids: list[str]
    rating: npt.NDArray[np.float64]  # mean rating, 1..3

    def __len__(self) -> int:
        return len(self.queries)

    def take(self, rows: npt.NDArray[np.int_]) -> JudgedPairs:
        return JudgedPairs(
            [self.queries[i] for i in rows],
            [self.titles[i] for i in rows],
            [self.product_ids[i] for i in rows],
            self.rating[rows],
        )


def read_homedepot(path: Path = DEFAULT_DATA) -> JudgedPairs:
    """All rows of train.csv(.zip) in file order; raises FileNotFoundError with the path."""
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"Home Depot data not found at {path} (train.csv.zip)")
    frame = pd.read_csv(path, encoding="ISO-8859-1")
    missing = {"product_uid", "product_title", "search_term", "relevance"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    return JudgedPairs(
        [str(q).strip() for q in frame["search_term"]],
        [str(t).strip() for t in frame["product_title"]],
        [str(u) for u in frame["product_uid"]],
        frame["relevance"].to_numpy(dtype=np.float64),
    )


def split_by_query(
    pairs: JudgedPairs, seed: int = SPLIT_SEED
) -> tuple[npt.NDArray[np.int_], npt.NDArray[np.int_]]:
    """(fit rows, held-out rows): 80/20 by search term, reproducible for a given seed."""
    from sklearn.model_selection import GroupShuffleSplit

    splitter = GroupShuffleSplit(n_splits=1, test_size=HELD_OUT_SHARE, random_state=seed)
    fit_rows, held_rows = next(splitter.split(np.zeros(len(pairs)), groups=pairs.queries))
    return np.sort(fit_rows), np.sort(held_rows)


def held_out(path: Path = DEFAULT_DATA) -> JudgedPairs:
    """The held-out 20% that every reported figure uses."""
    pairs = read_homedepot(path)
    return pairs.take(split_by_query(pairs)[1])
