"""Do the compact embedding-cache codecs change rankings? Sample catalog and Home Depot.

Every document is embedded once in float32 the way the embedding cache does it (the MiniLM
backend's own batched path, text hydrated as a search hydrates it, so the texts are the
cache's keys), then each vector is round-tripped through `encode_embedding` /
`decode_embedding` per codec and ranked by cosine against the query embedding:

- sample catalog (48 judged queries): every query ranks the whole catalog (360 products);
- Home Depot held-out split (`sidecar.eval.loaders.load_homedepot`: the 20% of search terms
  that `lychee_engine.calibration.homedepot.split_by_query` holds out, seed 13), pooled as
  the eval harness does: each query ranks only its judged products.

A query is "reordered" when its ranking differs from the float32 one at all; NDCG@10 comes
from the eval harness's ranx code and grades (Home Depot: mean rating 1..3 -> gain 0..6).

    python benchmarks/bench_embedding_codec.py [--max-queries N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, get_args

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.hydrate import FieldMapping, Hydrator  # noqa: E402
from lychee_engine.embedding_cache import Codec, decode_embedding, encode_embedding  # noqa: E402
from lychee_engine.minilm_backend import MiniLMBackend, load_encoder  # noqa: E402
from lychee_engine.options import EngineOptions  # noqa: E402
from lychee_engine.types import Document, Query  # noqa: E402
from sidecar.eval.dataset import JudgedDataset  # noqa: E402
from sidecar.eval.loaders import load_homedepot, load_sample_catalog  # noqa: E402
from sidecar.eval.metrics import Ranking, judged, per_query  # noqa: E402
from sidecar.sample_catalog import generate_catalog  # noqa: E402

CODECS: tuple[Codec, ...] = get_args(Codec)
QUERY_BATCH = 256  # queries are a few tokens: big batches pad little


@dataclass(frozen=True, slots=True)
class Embedded:
    """A dataset's product and query embeddings in float32, and each product's row."""

    dataset: JudgedDataset
    rows: dict[str, int]  # product id -> row of `documents` (products sharing a text share it)
    documents: torch.Tensor  # (distinct texts, dim)
    queries: torch.Tensor  # (queries, dim), in dataset.queries order


@dataclass(frozen=True, slots=True)
class CodecResult:
    codec: str
    bytes_per_vector: int
    sample_reordered: int  # queries whose ranking of the whole catalog differs from float32
    sample_top10_changed: int
    sample_ndcg10: float
    hd_reordered: int  # queries whose ranking of their judged products differs from float32
    hd_ndcg10: float
    hd_ndcg_changed: int  # judged queries whose NDCG@10 differs from float32's (beyond 1e-12)
    max_cosine_change: float


def embed_documents(backend: MiniLMBackend, texts: list[str]) -> torch.Tensor:
    """Float32 embeddings of `texts` as the embedding cache computes them before storing:
    the backend's length-sorted batches under its token budget (what `warm` runs)."""
    pairs = backend.prepare_texts(Query(text="warm"), texts)
    backend.score_prepared(pairs)
    return torch.stack([backend.document_embedding(pair) for pair in pairs])


def embed(dataset: JudgedDataset, backend: MiniLMBackend) -> Embedded:
    hydrator = Hydrator(FieldMapping(), None, EngineOptions().max_doc_chars)
    texts = backend.document_texts([Document(text=hydrator.text_of(p)) for p in dataset.products])
    distinct = list(dict.fromkeys(texts))
    index = {text: n for n, text in enumerate(distinct)}
    rows = {p["id"]: index[text] for p, text in zip(dataset.products, texts, strict=True)}
    encoder = load_encoder("cpu")
    query_texts = [q.text for q in dataset.queries]
    with torch.inference_mode():
        documents = embed_documents(backend, distinct)
        queries = torch.cat(
            [
                encoder.encode(query_texts[i : i + QUERY_BATCH])
                for i in range(0, len(query_texts), QUERY_BATCH)
            ]
        )
    return Embedded(dataset, rows, documents, queries)


def pooled_only(dataset: JudgedDataset) -> JudgedDataset:
    """Only the products some query ranks (all of them unless --max-queries cut queries)."""
    pooled = {pid for q in dataset.queries for pid in q.judgments}
    products = [p for p in dataset.products if p["id"] in pooled]
    return JudgedDataset(dataset.name, products, dataset.queries)


def round_trip(documents: torch.Tensor, codec: Codec) -> tuple[torch.Tensor, int]:
    """What a cache hit returns for each stored vector, and the bytes one vector takes."""
    dim = documents.shape[1]
    decoded = [decode_embedding(encode_embedding(v, codec), dim) for v in documents]
    if any(d is None for d in decoded):
        raise RuntimeError(f"{codec}: a vector did not decode")
    size = len(encode_embedding(documents[0], codec))
    return torch.stack([d for d in decoded if d is not None]), size


def rankings(data: Embedded, documents: torch.Tensor) -> tuple[Ranking, torch.Tensor]:
    """Per query: its candidates (the whole catalog, or its judged pool when pooled) by
    cosine, best first (ties keep id order in every codec); and every cosine computed."""
    ranking: Ranking = {}
    cosines = []
    all_ids = sorted(data.rows)
    for n, query in enumerate(data.dataset.queries):
        ids = sorted(query.judgments) if query.pooled else all_ids
        cosine = documents[[data.rows[i] for i in ids]] @ data.queries[n]
        order = torch.argsort(cosine, descending=True, stable=True).tolist()
        ranking[query.qid] = [ids[i] for i in order]
        cosines.append(cosine)
    return ranking, torch.cat(cosines)


def measure(sample: Embedded, homedepot: Embedded) -> list[CodecResult]:
    """One result per codec; the first (float32) is the reference of every comparison."""
    base: dict[str, tuple[Ranking, torch.Tensor, dict[str, float]]] = {}
    results = []
    for codec in CODECS:
        row: dict[str, Any] = {"codec": codec}
        max_change = 0.0
        for name, data in (("sample", sample), ("hd", homedepot)):
            stored, size = round_trip(data.documents, codec)
            ranking, cosine = rankings(data, stored)
            ndcg = per_query(data.dataset.queries, ranking, "ndcg@10")
            ref_ranking, ref_cosine, ref_ndcg = base.setdefault(name, (ranking, cosine, ndcg))
            changed = [q for q in ranking if ranking[q] != ref_ranking[q]]
            row[f"{name}_reordered"] = len(changed)
            row[f"{name}_ndcg10"] = sum(ndcg.values()) / len(ndcg)
            if name == "sample":
                row["sample_top10_changed"] = sum(
                    ranking[q][:10] != ref_ranking[q][:10] for q in ranking
                )
            else:
                row["hd_ndcg_changed"] = sum(abs(ndcg[q] - ref_ndcg[q]) > 1e-12 for q in ndcg)
            max_change = max(max_change, float((cosine - ref_cosine).abs().max()))
            row["bytes_per_vector"] = size
        results.append(CodecResult(**row, max_cosine_change=max_change))
    return results


def table(results: list[CodecResult], sample: Embedded, homedepot: Embedded) -> str:
    n_sample, n_hd = len(sample.dataset.queries), len(homedepot.dataset.queries)
    header = (
        "| codec | bytes/vector | sample reordered (top-10 changed) | sample NDCG@10 "
        "| HD reordered | HD NDCG@10 (queries changed) | max abs cosine change |"
    )
    lines = [header, "|" + "---|" * 7]
    for r in results:
        lines.append(
            f"| {r.codec} | {r.bytes_per_vector} | {r.sample_reordered} / {n_sample} "
            f"({r.sample_top10_changed}) | {r.sample_ndcg10:.4f} | {r.hd_reordered} / {n_hd} "
            f"| {r.hd_ndcg10:.4f} ({r.hd_ndcg_changed}) | {r.max_cosine_change:.2e} |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "catalog")
    parser.add_argument("--homedepot", type=Path, help="train.csv.zip (default ../shared/...)")
    parser.add_argument(
        "--max-queries",
        type=int,
        help="Home Depot held-out queries, first N by text (default: all of them)",
    )
    parser.add_argument("--json", dest="json_out", type=Path, help="write the results here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.max_queries is not None and args.max_queries < 1:
        raise SystemExit("--max-queries must be positive")
    load_before = os.getloadavg()
    started = time.perf_counter()
    generate_catalog(args.data_dir)
    backend = MiniLMBackend.load(EngineOptions(device="cpu"))
    try:
        datasets = (
            load_sample_catalog(args.data_dir),
            load_homedepot(args.homedepot, max_queries=args.max_queries),
        )
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from exc
    datasets = (datasets[0], pooled_only(datasets[1]))
    sample, homedepot = (embed(d, backend) for d in datasets)
    embedded_s = time.perf_counter() - started
    results = measure(sample, homedepot)
    pools = [len(q.judgments) for q in homedepot.dataset.queries]
    notes = [
        f"sample catalog: {len(sample.dataset.products)} products, "
        f"{len(sample.dataset.queries)} queries each ranking all of them",
        f"Home Depot held-out: {len(homedepot.dataset.queries)} queries"
        + (f" (first {args.max_queries} by text)" if args.max_queries else " (all)")
        + f", {sum(n >= 2 for n in pools)} with 2+ judged products (the only ones that can "
        f"reorder), {len(judged(homedepot.dataset.queries))} with a relevant one (NDCG@10 "
        f"is their mean), {len(homedepot.dataset.products)} products, "
        f"{homedepot.documents.shape[0]} distinct titles",
        "reordered: any position of the ranking differs from float32; max abs cosine change: "
        "over every query-product cosine of both datasets",
        f"embedding (torch threads {torch.get_num_threads()}): {embedded_s:.0f} s; "
        f"total {time.perf_counter() - started:.0f} s",
        f"load average (1/5/15 min) at start {load_before}, at end {os.getloadavg()}",
    ]
    print(table(results, sample, homedepot))
    print("\n" + "\n".join(notes))
    if args.json_out:
        body = {"results": [asdict(r) for r in results], "notes": notes}
        args.json_out.write_text(json.dumps(body, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
