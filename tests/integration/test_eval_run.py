"""`python -m sidecar.eval` end to end on slices of its datasets, real OpenSearch: BM25, model
only and as shipped (the shipped config and rules files) side by side."""

import zipfile
from pathlib import Path

import pytest

from sidecar.eval.__main__ import main

pytestmark = pytest.mark.integration

COLUMNS = "| BM25 NDCG@10 | model only NDCG@10 | as shipped NDCG@10 |"


def test_eval_writes_three_system_table_and_report(
    opensearch_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = main(
        [
            "--opensearch-url", opensearch_url,
            "--data", str(tmp_path / "catalog"),
            "--index", "eval-smoke",
            "--max-queries", "6",
            "--window", "20",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert COLUMNS in printed and "| overall | 6 |" in printed
    assert "as shipped >= BM25 on every query kind:" in printed  # the goals are checked
    report = (out / "sample-catalog" / "report.md").read_text()
    for section in ("NDCG@10 by query kind", "Goals", "All metrics", "Latency", "Biggest wins"):
        assert section in report
    assert "`config/rules.example.yaml`" in report  # as shipped = the file `make run` uses
    assert "| as shipped |" in report and "| model only |" in report
    png = (out / "sample-catalog" / "ndcg_by_kind.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "summary.md").read_text().startswith("Dataset `sample-catalog`")


def test_eval_on_homedepot_held_out_searches_each_query_pool(
    opensearch_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Home Depot-shaped file: the held-out search terms only, each within its pool."""
    rows = ["id,product_uid,product_title,search_term,relevance"]
    n = 0
    for t, (term, good, bad) in enumerate(
        [
            ("angle bracket", "Steel angle bracket 2 in.", "Brass door bracket hinge"),
            ("deck paint", "Exterior deck paint, gray", "Deck screws 3 in."),
            ("garden hose", "Garden hose 50 ft rubber", "Hose reel cart"),
            ("led bulb", "LED light bulb 60W", "Bulb changer pole"),
            ("cordless drill", "Cordless drill 20V kit", "Drill bit set"),
        ]
        * 2
    ):
        for title, rating in ((f"{good} #{t}", 3.0), (f"{bad} #{t}", 1.33)):
            n += 1
            rows.append(f'{n},{100 + n},"{title}",{term} {t},{rating}')
    data = tmp_path / "train.csv.zip"
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("train.csv", "\n".join(rows) + "\n")
    out = tmp_path / "report"
    code = main(
        ["--opensearch-url", opensearch_url, "--dataset", "homedepot", "--homedepot", str(data),
         "--index", "eval-hd-smoke", "--window", "20", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "Dataset `homedepot-heldout`: 4 products, 2 judged queries" in printed  # 20% of 10
    assert COLUMNS in printed
    assert (out / "homedepot-heldout" / "report.md").is_file()
