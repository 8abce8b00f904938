"""Runs every judged query through OpenSearch (BM25) or a sidecar (model only, as shipped)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from opensearchpy import OpenSearch, helpers

from sidecar.eval.dataset import JudgedDataset, JudgedQuery
from sidecar.eval.metrics import Ranking
from sidecar.sample_catalog.indexing import index_body


@dataclass(slots=True)
class SystemRun:
    name: str
    ranking: Ranking = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    cache_hits: int = 0
    degraded: int = 0
    skipped: int = 0  # rerank.status "skipped": the backend stepped aside
    hits: int = 0  # hits returned over all queries (rules may remove some)


def index_products(url: str, index: str, dataset: JudgedDataset, timeout_s: float = 60.0) -> int:
    """(Re)create `index` with the catalog mapping and bulk-load the dataset's products."""
    client = OpenSearch(hosts=[url], request_timeout=timeout_s)
    try:
        if client.indices.exists(index=index):
            client.indices.delete(index=index)
        client.indices.create(index=index, body=index_body())
        actions = ({"_index": index, "_id": p["id"], "_source": p} for p in dataset.products)
        helpers.bulk(client, actions, chunk_size=500)
        client.indices.refresh(index=index)
        return int(client.count(index=index)["count"])
    finally:
        client.close()


def search_body(
    text: str, window: int, rerank: bool, pool: list[str] | None = None
) -> dict[str, Any]:
    """The storefront's search; with `pool`, restricted to those product ids."""
    match: dict[str, Any] = {
        "multi_match": {"query": text, "fields": ["title^2", "selling_points"]}
    }
    query = {"bool": {"must": [match], "filter": [{"ids": {"values": pool}}]}} if pool else match
    body: dict[str, Any] = {"query": query, "size": window, "_source": ["id"]}
    if rerank:
        body["ext"] = {"rerank": {"explain": True}}
    return body


def _ids(response: dict[str, Any]) -> list[str]:
    return [str((h.get("_source") or {}).get("id", h["_id"])) for h in response["hits"]["hits"]]


def run_system(
    name: str,
    base_url: str,
    index: str,
    queries: list[JudgedQuery],
    window: int,
    rerank: bool,
    timeout_s: float = 120.0,
) -> SystemRun:
    """One search per query against `base_url` (OpenSearch itself or the sidecar)."""
    out = SystemRun(name)
    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        for q in queries:
            started = time.perf_counter()
            pool = sorted(q.judgments) if q.pooled else None
            body = search_body(q.text, window, rerank, pool)
            resp = client.post(f"/{index}/_search", json=body)
            out.latency_ms[q.qid] = (time.perf_counter() - started) * 1000
            resp.raise_for_status()
            data = resp.json()
            out.ranking[q.qid] = _ids(data)
            meta = data.get("rerank") or {}
            out.cache_hits += int(meta.get("cache_hits", 0))
            out.degraded += meta.get("status") == "degraded"
            out.skipped += meta.get("status") == "skipped"
            out.hits += len(out.ranking[q.qid])
    return out
