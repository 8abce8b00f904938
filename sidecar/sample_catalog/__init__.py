"""A deterministic sample e-commerce catalog with product photos and judged queries.

`python -m sidecar.sample_catalog generate --out data/catalog` writes it to disk;
`python -m sidecar.sample_catalog index --url http://127.0.0.1:9200 --index products`
loads it into OpenSearch. The evaluation harness and the tests use the functions below.
"""

from sidecar.sample_catalog.catalog import (
    CATALOG_VERSION,
    DEFAULT_SEED,
    CatalogPaths,
    build,
    generate_catalog,
    load_products,
    load_queries,
)
from sidecar.sample_catalog.indexing import index_catalog
from sidecar.sample_catalog.products import Product
from sidecar.sample_catalog.queries import QUERY_KINDS, JudgedQuery

__all__ = [
    "CATALOG_VERSION",
    "DEFAULT_SEED",
    "QUERY_KINDS",
    "CatalogPaths",
    "JudgedQuery",
    "Product",
    "build",
    "generate_catalog",
    "index_catalog",
    "load_products",
    "load_queries",
]
