"""The `passthrough` policy: what the pass-through may forward to OpenSearch."""

from __future__ import annotations

import pytest

from sidecar.passthrough import is_allowed
from sidecar.settings import Settings, UpstreamAllowRule

READS = [
    ("GET", "/products/_doc/1"),
    ("HEAD", "/products"),
    ("GET", "/_cluster/health"),
    ("POST", "/products/_search"),
    ("POST", "/_msearch"),
    ("POST", "/products/_count"),
    ("POST", "/_mget"),
    ("POST", "/products/_field_caps"),
    ("POST", "/products/_pit"),
    ("POST", "/_search/scroll"),
    ("POST", "/_search/scroll/c2Nyb2xs"),
    ("POST", "/products/_search/template"),
    ("POST", "/products/_search/point_in_time"),
    ("POST", "/products/_validate/query"),
    ("POST", "/products/_explain/1"),
    ("DELETE", "/_search/scroll"),
    ("DELETE", "/_search/point_in_time"),
    ("DELETE", "/_pit"),
]
WRITES = [
    ("PUT", "/products/_doc/1"),
    ("POST", "/products/_doc"),
    ("POST", "/_bulk"),
    ("DELETE", "/products"),
    ("PUT", "/_cluster/settings"),
    ("POST", "/products/_update/1"),
    ("POST", "/products/_delete_by_query"),
    ("POST", "/_reindex"),
    ("POST", "/products/_doc%2F_search"),  # an encoded slash is part of the id, not a path
    ("POST", "/products/_doc/../_search"),
    ("PATCH", "/products/_search"),
    ("DELETE", "/products/_doc/1"),
]


@pytest.mark.parametrize(("method", "path"), READS + WRITES)
def test_all_forwards_everything(method: str, path: str) -> None:
    assert is_allowed("all", method, path)


@pytest.mark.parametrize(("method", "path"), READS)
def test_read_only_forwards_reads_and_the_search_family(method: str, path: str) -> None:
    assert is_allowed("read_only", method, path)


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_read_only_refuses_writes(method: str, path: str) -> None:
    assert not is_allowed("read_only", method, path)


def test_an_allow_list_matches_method_and_path_glob() -> None:
    rules = [
        UpstreamAllowRule(methods=["get", "HEAD"], path="/products/*"),
        UpstreamAllowRule(methods=["PUT"], path="/products/_doc/*"),
    ]
    assert is_allowed(rules, "GET", "/products/_doc/1")
    assert is_allowed(rules, "PUT", "/products/_doc/1")
    assert not is_allowed(rules, "DELETE", "/products/_doc/1")
    assert not is_allowed(rules, "GET", "/orders/_doc/1")


def test_the_policy_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYCHEE_PASSTHROUGH", "read_only")
    assert Settings().passthrough == "read_only"
    monkeypatch.setenv("LYCHEE_PASSTHROUGH", '[{"methods": ["GET"], "path": "/p/*"}]')
    assert Settings().passthrough == [UpstreamAllowRule(methods=["GET"], path="/p/*")]
    monkeypatch.delenv("LYCHEE_PASSTHROUGH")
    assert Settings().passthrough == "all"
