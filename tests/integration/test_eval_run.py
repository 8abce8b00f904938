"""`python -m sidecar.eval` end to end on a slice of the sample catalog, real OpenSearch."""

from pathlib import Path

import pytest

from sidecar.eval.__main__ import main

pytestmark = pytest.mark.integration


def test_eval_writes_table_and_report(
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
    assert "| overall | 6 |" in printed
    report = (out / "report.md").read_text()
    for section in ("NDCG@10 by query kind", "All metrics", "Latency", "Biggest wins"):
        assert section in report
    assert (out / "ndcg_by_kind.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
