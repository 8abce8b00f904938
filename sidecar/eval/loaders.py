"""Loaders for judged datasets given local paths. Nothing is downloaded.

- sample catalog: the project's generated catalog (products.jsonl + queries.jsonl)
- TREC: a corpus (JSONL with id/title/text), topics (TSV qid<TAB>query), qrels
  (`qid 0 docid grade`); TREC run files load as rankings for comparison
- Amazon ESCI: the shopping-queries examples + products parquet files (E/S/C/I -> 3/2/1/0)
- Wayfair WANDS: product.csv, query.csv, label.csv, tab-separated (Exact/Partial/Irrelevant
  -> 2/1/0)
- Home Depot: the held-out 20% of search terms of `../shared/data/homedepot/train.csv.zip`
  (mean rating 1..3 -> gain 0..6), pooled per query
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sidecar.eval.dataset import JudgedDataset, JudgedQuery

ESCI_GRADES = {"E": 3, "S": 2, "C": 1, "I": 0}
WANDS_GRADES = {"Exact": 2, "Partial": 1, "Irrelevant": 0}


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_sample_catalog(data_dir: Path) -> JudgedDataset:
    products = list(_jsonl(data_dir / "products.jsonl"))
    queries = [
        JudgedQuery(q["qid"], q["text"], q.get("kind", "all"), dict(q["judgments"]))
        for q in _jsonl(data_dir / "queries.jsonl")
    ]
    return JudgedDataset("sample-catalog", products, queries)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise ValueError(f"{path}:{n}: a qrels line has 4 fields: qid iter docid grade")
        qrels[parts[0]][parts[2]] = int(parts[3])
    return dict(qrels)


def read_run(path: Path) -> dict[str, dict[str, float]]:
    """A TREC run (`qid Q0 docid rank score tag`) as {qid: {docid: score}}."""
    run: dict[str, dict[str, float]] = defaultdict(dict)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise ValueError(f"{path}:{n}: a run line has 6 fields: qid Q0 docid rank score tag")
        run[parts[0]][parts[2]] = float(parts[4])
    return dict(run)


def load_trec(corpus: Path, topics: Path, qrels: Path) -> JudgedDataset:
    products = [
        {"id": str(d["id"]), "title": d.get("title", ""), "selling_points": [d.get("text", "")]}
        for d in _jsonl(corpus)
    ]
    labels = read_qrels(qrels)
    queries = []
    for row in csv.reader(topics.open(encoding="utf-8"), delimiter="\t"):
        if len(row) >= 2 and row[0] in labels:
            queries.append(JudgedQuery(row[0], row[1], "all", labels[row[0]]))
    return JudgedDataset("trec", products, queries)


def load_esci(
    examples: Path, products: Path, locale: str = "us", split: str = "test", max_queries: int = 200
) -> JudgedDataset:
    import pandas as pd

    ex = pd.read_parquet(examples)
    ex = ex[(ex["product_locale"] == locale) & (ex["split"] == split)]
    keep = sorted(ex["query_id"].unique())[:max_queries]
    ex = ex[ex["query_id"].isin(keep)]
    prod = pd.read_parquet(products)
    prod = prod[prod["product_id"].isin(set(ex["product_id"]))]
    prod = prod[prod["product_locale"] == locale]
    docs = [
        {
            "id": str(r.product_id),
            "title": str(r.product_title or ""),
            "selling_points": [s for s in str(r.product_bullet_point or "").split("\n") if s],
            "brand": str(r.product_brand or ""),
            "color": str(r.product_color or ""),
        }
        for r in prod.itertuples()
    ]
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    texts: dict[str, str] = {}
    for r in ex.itertuples():
        judged[str(r.query_id)][str(r.product_id)] = ESCI_GRADES[str(r.esci_label)]
        texts[str(r.query_id)] = str(r.query)
    queries = [JudgedQuery(q, texts[q], "esci", judged[q]) for q in sorted(judged)]
    return JudgedDataset("esci", docs, queries)


def _tsv(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh, delimiter="\t")


def load_wands(data_dir: Path, max_queries: int = 480) -> JudgedDataset:
    docs = []
    for r in _tsv(data_dir / "product.csv"):
        features = [f.split(":", 1)[-1] for f in (r.get("product_features") or "").split("|")]
        docs.append(
            {
                "id": r["product_id"],
                "title": r.get("product_name", ""),
                "selling_points": [r.get("product_description") or "", *features[:4]],
                "category": r.get("product_class", ""),
                "rating": float(r.get("average_rating") or 0),
            }
        )
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    for r in _tsv(data_dir / "label.csv"):
        judged[r["query_id"]][r["product_id"]] = WANDS_GRADES[r["label"]]
    queries = [
        JudgedQuery(r["query_id"], r["query"], r.get("query_class") or "all", judged[r["query_id"]])
        for r in _tsv(data_dir / "query.csv")
        if r["query_id"] in judged
    ]
    return JudgedDataset("wands", docs, queries[:max_queries])


def homedepot_kind(text: str) -> str:
    """Home Depot has no query kinds; queries are grouped by length instead."""
    words = len(text.split())
    return "1 word" if words <= 1 else "2-3 words" if words <= 3 else "4+ words"


def homedepot_grade(rating: float) -> int:
    """Mean rating 1..3 (steps of 1/3) -> integer gain 0..6, linear in the rating."""
    return round((rating - 1.0) * 3)


def load_homedepot(path: Path | None = None, max_queries: int | None = None) -> JudgedDataset:
    """The HELD-OUT 20% of Home Depot's search terms (the split the calibration never saw).

    Products are the judged titles; each query's pool is its judged products (the runner
    filters each search to its pool, so unjudged products never fill a top 10).
    """
    from lychee_engine.calibration.homedepot import DEFAULT_DATA, held_out

    pairs = held_out(path or DEFAULT_DATA)
    titles: dict[str, str] = {}
    judged: dict[str, dict[str, int]] = defaultdict(dict)
    for query, title, uid, rating in zip(
        pairs.queries, pairs.titles, pairs.product_ids, pairs.rating, strict=True
    ):
        pid = f"hd-{uid}"
        titles[pid] = title
        judged[query][pid] = max(judged[query].get(pid, 0), homedepot_grade(float(rating)))
    docs = [{"id": pid, "title": title, "selling_points": []} for pid, title in titles.items()]
    texts = sorted(judged)[:max_queries] if max_queries else sorted(judged)
    queries = [
        JudgedQuery(f"hd{n:05d}", text, homedepot_kind(text), judged[text], pooled=True)
        for n, text in enumerate(texts)
    ]
    return JudgedDataset("homedepot-heldout", docs, queries)
