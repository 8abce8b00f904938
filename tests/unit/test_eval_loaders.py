"""Loaders for public judged-data formats, on tiny fixtures written here."""

from pathlib import Path

import pandas as pd
import pytest

from sidecar.eval import loaders


def test_trec_corpus_topics_qrels_and_run(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(
        '{"id": "d1", "title": "Denim jacket", "text": "vintage wash"}\n'
        '{"id": "d2", "title": "Mug", "text": "ceramic"}\n'
    )
    (tmp_path / "topics.tsv").write_text("1\tretro denim jacket\n2\tunjudged\n")
    (tmp_path / "qrels").write_text("1 0 d1 3\n1 0 d2 0\n")
    (tmp_path / "run").write_text("1 Q0 d2 1 9.5 bm25\n1 Q0 d1 2 7.0 bm25\n")
    ds = loaders.load_trec(tmp_path / "corpus.jsonl", tmp_path / "topics.tsv", tmp_path / "qrels")
    assert [p["id"] for p in ds.products] == ["d1", "d2"]
    assert ds.products[0]["selling_points"] == ["vintage wash"]
    assert len(ds.queries) == 1 and ds.queries[0].judgments == {"d1": 3, "d2": 0}
    assert loaders.read_run(tmp_path / "run") == {"1": {"d2": 9.5, "d1": 7.0}}


def test_trec_malformed_line_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "qrels"
    bad.write_text("1 0 d1 3\n1 d2 0\n")
    with pytest.raises(ValueError, match=r"qrels:2"):
        loaders.read_qrels(bad)


def test_esci_parquet(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "query_id": [7, 7, 7, 8],
            "query": ["red mug"] * 3 + ["other locale"],
            "product_id": ["A", "B", "C", "D"],
            "esci_label": ["E", "S", "I", "E"],
            "product_locale": ["us", "us", "us", "jp"],
            "split": ["test"] * 4,
        }
    ).to_parquet(tmp_path / "examples.parquet")
    pd.DataFrame(
        {
            "product_id": ["A", "B", "C", "D"],
            "product_title": ["Red mug", "Red cup", "Lamp", "JP"],
            "product_description": [""] * 4,
            "product_bullet_point": ["Ceramic\n12 oz", None, "LED", ""],
            "product_brand": ["X", "Y", None, "Z"],
            "product_color": ["red", "red", "white", ""],
            "product_locale": ["us", "us", "us", "jp"],
        }
    ).to_parquet(tmp_path / "products.parquet")
    ds = loaders.load_esci(tmp_path / "examples.parquet", tmp_path / "products.parquet")
    assert sorted(p["id"] for p in ds.products) == ["A", "B", "C"]
    a = next(p for p in ds.products if p["id"] == "A")
    assert a["selling_points"] == ["Ceramic", "12 oz"]
    assert len(ds.queries) == 1
    assert ds.queries[0].judgments == {"A": 3, "B": 2, "C": 0}


def test_wands_tab_separated(tmp_path: Path) -> None:
    (tmp_path / "product.csv").write_text(
        "product_id\tproduct_name\tproduct_class\tproduct_description\tproduct_features"
        "\taverage_rating\n"
        "1\tvelvet sofa\tSofas\tsoft seat\tcolor:green|material:velvet\t4.5\n"
        "2\toak desk\tDesks\tsolid wood\t\t\n"
    )
    (tmp_path / "query.csv").write_text(
        "query_id\tquery\tquery_class\n0\tgreen velvet sofa\tSofas\n1\tunlabelled\tDesks\n"
    )
    (tmp_path / "label.csv").write_text(
        "id\tquery_id\tproduct_id\tlabel\n0\t0\t1\tExact\n1\t0\t2\tIrrelevant\n"
    )
    ds = loaders.load_wands(tmp_path)
    assert ds.products[0]["selling_points"] == ["soft seat", "green", "velvet"]
    assert ds.products[1]["rating"] == 0.0
    assert [(q.qid, q.kind, q.judgments) for q in ds.queries] == [("0", "Sofas", {"1": 2, "2": 0})]
