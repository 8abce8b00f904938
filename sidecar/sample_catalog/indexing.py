"""Loading the sample catalog into OpenSearch (mapping, bulk, refresh, count)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch, helpers

from sidecar.sample_catalog.catalog import load_products
from sidecar.sample_catalog.products import Product


def index_body() -> dict[str, Any]:
    """Settings and mappings: english analyzer on text, keywords for facets, numerics."""
    text = resources.files(__package__).joinpath("mapping.json").read_text(encoding="utf-8")
    body: dict[str, Any] = json.loads(text)
    return body


def image_url(product: Product, data_dir: Path, image_base: str | None) -> str:
    """Where hydration finds the picture: under image_base if given, else the local file."""
    if image_base:
        return f"{image_base.rstrip('/')}/{product.image_path}"
    return str((data_dir / product.image_path).resolve())


def _actions(
    products: list[Product], index: str, data_dir: Path, image_base: str | None
) -> Iterator[dict[str, Any]]:
    for product in products:
        source = product.to_json() | {"image_url": image_url(product, data_dir, image_base)}
        yield {"_op_type": "index", "_index": index, "_id": product.id, "_source": source}


def index_catalog(
    url: str,
    index: str,
    data_dir: str | Path,
    recreate: bool = True,
    image_base: str | None = None,
    timeout_s: float = 30.0,
) -> int:
    """Index a generated catalog into `index` at `url`; returns the index's document count.

    With recreate, an existing index is deleted first; otherwise documents are upserted
    by product id into the existing index (created if missing).
    """
    root = Path(data_dir)
    products = load_products(root)
    client = OpenSearch(hosts=[url], request_timeout=timeout_s)
    try:
        exists = client.indices.exists(index=index)
        if exists and recreate:
            client.indices.delete(index=index)
        if recreate or not exists:
            client.indices.create(index=index, body=index_body())
        helpers.bulk(client, _actions(products, index, root, image_base), chunk_size=500)
        client.indices.refresh(index=index)
        return int(client.count(index=index)["count"])
    finally:
        client.close()
