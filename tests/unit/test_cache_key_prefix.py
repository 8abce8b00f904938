"""The per-request key prefix builds exactly the keys `cache_key` builds."""

from __future__ import annotations

from connectors.score_cache import cache_key, document_cache_key, query_key_prefix

QUERY = ("model", "rev", "p1", "Given a query, find the product", "red shoes", None)


def test_prefix_plus_document_is_cache_key() -> None:
    prefix = query_key_prefix(*QUERY)
    for doc_hash in ("a", "b" * 64, "ünïcode"):
        assert document_cache_key(prefix, doc_hash) == cache_key(*QUERY, doc_hash)


def test_prefix_carries_the_hash_tag_and_changes_with_the_query() -> None:
    prefix = query_key_prefix(*QUERY)
    assert prefix.startswith("lychee:v1:{") and prefix.endswith("}:")
    assert query_key_prefix(*QUERY[:4], "blue shoes", None) != prefix
    assert query_key_prefix(*QUERY[:5], "imagehash") != prefix
