"""Normalization before retrieval: the query text OpenSearch searches for."""

from __future__ import annotations

from typing import Any

from sidecar.normalize import normalize_query
from sidecar.retrieval_query import normalize_clauses, normalize_query_string

FULL_WIDTH = "ｒｅｔｒｏ　ｄｅｎｉｍ　ｊａｃｋｅｔ"


def _n(query: Any) -> Any:
    return normalize_clauses(query, normalize_query)


def test_match_family_and_multi_match() -> None:
    assert _n({"match": {"title": FULL_WIDTH}}) == {"match": {"title": "retro denim jacket"}}
    assert _n({"match": {"title": {"query": "iphone15promax", "operator": "and"}}}) == {
        "match": {"title": {"query": "iPhone 15 Pro Max", "operator": "and"}}
    }
    assert _n({"match_phrase": {"t": "ｍｕｇ"}}) == {"match_phrase": {"t": "mug"}}
    multi = {"multi_match": {"query": FULL_WIDTH, "fields": ["title^2", "selling_points"]}}
    assert _n(multi)["multi_match"] == {
        "query": "retro denim jacket",
        "fields": ["title^2", "selling_points"],
    }


def test_nested_clauses_are_reached() -> None:
    query = {
        "bool": {
            "must": [{"match": {"t": "ｍｕｇ"}}],
            "should": {"multi_match": {"query": "ｃｕｐ"}},
            "filter": [{"term": {"brand": "ＡＣＭＥ"}}],  # exact terms are not user text
            "must_not": [{"match": {"t": "ｌａｍｐ"}}],
            "minimum_should_match": 1,
        }
    }
    assert _n(query) == {
        "bool": {
            "must": [{"match": {"t": "mug"}}],
            "should": {"multi_match": {"query": "cup"}},
            "filter": [{"term": {"brand": "ＡＣＭＥ"}}],
            "must_not": [{"match": {"t": "lamp"}}],
            "minimum_should_match": 1,
        }
    }
    scored = {"function_score": {"query": {"match": {"t": "ｍｕｇ"}}, "boost_mode": "sum"}}
    assert _n(scored) == {"function_score": {"query": {"match": {"t": "mug"}}, "boost_mode": "sum"}}
    dis_max = {"dis_max": {"queries": [{"match": {"t": "ｍｕｇ"}}], "tie_breaker": 0.3}}
    assert _n(dis_max)["dis_max"]["queries"] == [{"match": {"t": "mug"}}]
    boosting = {"boosting": {"positive": {"match": {"t": "ｍｕｇ"}}, "negative_boost": 0.5}}
    assert _n(boosting)["boosting"]["positive"] == {"match": {"t": "mug"}}


def test_the_input_is_not_modified_and_unknown_clauses_pass() -> None:
    query = {"match": {"title": FULL_WIDTH}}
    _n(query)
    assert query == {"match": {"title": FULL_WIDTH}}
    assert _n({"match_all": {}}) == {"match_all": {}}
    assert _n({"term": {"id": "ｘ"}}) == {"term": {"id": "ｘ"}}
    assert _n("not a clause") == "not a clause"


def test_query_string_syntax_survives() -> None:
    text = "title:ｉｐｈｏｎｅ１５ AND (ｃａｓｅ OR cover) iphone15^2 ｒｅｔｒｏ"
    assert normalize_query_string(text, normalize_query) == (
        "title:iphone15 AND (case OR cover) iphone15^2 retro"
    )
    assert normalize_query_string("iphone15 promax", normalize_query) == "iPhone 15 Pro Max"
    simple = {"simple_query_string": {"query": "ｍｕｇ -lamp", "fields": ["t"]}}
    assert _n(simple) == {"simple_query_string": {"query": "mug -lamp", "fields": ["t"]}}
