"""The sample catalog loads into a real OpenSearch node and is searchable."""

from __future__ import annotations

import pytest
from opensearchpy import OpenSearch

from sidecar.sample_catalog import CatalogPaths, generate_catalog, index_catalog, load_products

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> CatalogPaths:
    return generate_catalog(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="module")
def indexed(opensearch_url: str, os_index: str, catalog: CatalogPaths) -> str:
    count = index_catalog(opensearch_url, os_index, catalog.root, recreate=True)
    assert count == len(load_products(catalog.root))
    return os_index


def test_every_product_is_indexed(opensearch_client: OpenSearch, indexed: str) -> None:
    assert opensearch_client.count(index=indexed)["count"] >= 300


def test_text_search_finds_products_and_facets_are_exact(
    opensearch_client: OpenSearch, indexed: str
) -> None:
    body = {
        "size": 10,
        "query": {
            "multi_match": {"query": "waterproof jackets", "fields": ["title", "selling_points"]}
        },
        "aggs": {"categories": {"terms": {"field": "category"}}},
    }
    response = opensearch_client.search(index=indexed, body=body)
    hits = response["hits"]["hits"]
    assert hits and all(h["_source"]["image_url"].endswith(".png") for h in hits)
    # The english analyzer stems "jackets" to match listings that say "jacket".
    assert any(h["_source"]["category"] == "jacket" for h in hits)
    buckets = {b["key"] for b in response["aggregations"]["categories"]["buckets"]}
    assert "jacket" in buckets


def test_reindexing_without_recreate_upserts(
    opensearch_url: str, indexed: str, catalog: CatalogPaths
) -> None:
    again = index_catalog(opensearch_url, indexed, catalog.root, recreate=False)
    assert again == len(load_products(catalog.root))
