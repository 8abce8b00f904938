"""`filter_path` response filtering, checked against OpenSearch's documented behaviour."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sidecar.errors import InvalidRequest
from sidecar.filter_path import compile_filter_path

RESPONSE: dict[str, Any] = {
    "took": 7,
    "timed_out": False,
    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    "hits": {
        "total": {"value": 2, "relation": "eq"},
        "max_score": 3.5,
        "hits": [
            {
                "_index": "products",
                "_id": "a",
                "_score": 3.5,
                "_source": {"title": "red shoe", "price": 10, "tags": ["x", "y"]},
            },
            {"_index": "products", "_id": "b", "_score": 1.25, "_source": {}},
        ],
    },
    "aggregations": {
        "brands": {
            "doc_count_error_upper_bound": 0,
            "buckets": [
                {"key": "acme", "doc_count": 2, "avg_price": {"value": 10.0}},
                {"key": "zeta", "doc_count": 1, "avg_price": {"value": None}},
            ],
        }
    },
}

HITS = RESPONSE["hits"]["hits"]
BUCKETS = RESPONSE["aggregations"]["brands"]["buckets"]


def _hits(*hits: dict[str, Any]) -> dict[str, Any]:
    return {"hits": {"hits": list(hits)}}


def _buckets(*buckets: dict[str, Any]) -> dict[str, Any]:
    return {"aggregations": {"brands": {"buckets": list(buckets)}}}


CASES: list[tuple[str, dict[str, Any]]] = [
    ("took", {"took": 7}),
    (" took , timed_out ", {"took": 7, "timed_out": False}),
    ("hits.total", {"hits": {"total": {"value": 2, "relation": "eq"}}}),
    ("hits.total.value,hits.max_score", {"hits": {"total": {"value": 2}, "max_score": 3.5}}),
    ("hits.hits._id", _hits({"_id": "a"}, {"_id": "b"})),
    # Whole-subtree matches keep empty objects as they are.
    ("hits.hits._source", _hits({"_source": HITS[0]["_source"]}, {"_source": {}})),
    # Elements left empty are dropped from the array.
    ("hits.hits._source.title", _hits({"_source": {"title": "red shoe"}})),
    ("hits.hits._source.tags", _hits({"_source": {"tags": ["x", "y"]}})),
    (
        "hits.hits._s*",
        _hits({"_score": 3.5, "_source": HITS[0]["_source"]}, {"_score": 1.25, "_source": {}}),
    ),
    ("*.total", {"_shards": {"total": 1}, "hits": {"total": {"value": 2, "relation": "eq"}}}),
    ("_sh*s.*ed", {"_shards": {"skipped": 0, "failed": 0}}),
    ("hits.*.*lation", {"hits": {"total": {"relation": "eq"}}}),
    ("**._id", _hits({"_id": "a"}, {"_id": "b"})),
    ("hits.**._score", _hits({"_score": 3.5}, {"_score": 1.25})),
    (
        "**.value",
        {
            "hits": {"total": {"value": 2}},
            **_buckets({"avg_price": {"value": 10.0}}, {"avg_price": {"value": None}}),
        },
    ),
    # `**` also matches zero levels.
    ("**.took", {"took": 7}),
    ("hits.**.hits._id", _hits({"_id": "a"}, {"_id": "b"})),
    ("aggregations.**.key", _buckets({"key": "acme"}, {"key": "zeta"})),
    ("aggregations.brands.buckets.doc_count", _buckets({"doc_count": 2}, {"doc_count": 1})),
    # Overlapping entries: the broader one keeps the whole subtree.
    ("hits.total.value,hits.total", {"hits": {"total": {"value": 2, "relation": "eq"}}}),
    ("**", RESPONSE),
    ("hits.**", {"hits": RESPONSE["hits"]}),
    # Nothing matches.
    ("nope", {}),
    ("took.deeper", {}),
    ("hits.hits._source.nope", {}),
    ("hits.hits.*.tags.x", {}),
]


@pytest.mark.parametrize(("spec", "expected"), CASES)
def test_inclusions(spec: str, expected: dict[str, Any]) -> None:
    assert compile_filter_path(spec).apply(RESPONSE) == expected


def _without(*keys: str) -> dict[str, Any]:
    return {k: v for k, v in RESPONSE.items() if k not in keys}


EXCLUSIONS: list[tuple[str, dict[str, Any]]] = [
    ("-took", _without("took")),
    ("-took,-_shards, -aggregations", _without("took", "_shards", "aggregations")),
    ("-_shards.*ed", {**RESPONSE, "_shards": {"total": 1, "successful": 1}}),
    (
        "-hits.hits._source",
        {
            **RESPONSE,
            "hits": {
                **RESPONSE["hits"],
                "hits": [{k: v for k, v in h.items() if k != "_source"} for h in HITS],
            },
        },
    ),
    (
        "-**._source,-**.buckets,-took,-timed_out,-_shards,-hits.total,-hits.max_score,-**._index",
        {
            **_hits({"_id": "a", "_score": 3.5}, {"_id": "b", "_score": 1.25}),
            "aggregations": {"brands": {"doc_count_error_upper_bound": 0}},
        },
    ),
    # Excluding the only field of every element drops the elements, then the array, then hits.
    ("-hits.total,-hits.max_score,-hits.hits", _without("hits")),
    # A path going deeper than a scalar excludes nothing.
    ("-took.deeper", RESPONSE),
    ("-nope", RESPONSE),
    ("-**", {}),
]


@pytest.mark.parametrize(("spec", "expected"), EXCLUSIONS)
def test_exclusions(spec: str, expected: dict[str, Any]) -> None:
    assert compile_filter_path(spec).apply(RESPONSE) == expected


MIXED: list[tuple[str, dict[str, Any]]] = [
    (
        "hits.hits,-hits.hits._source",
        _hits(
            {"_index": "products", "_id": "a", "_score": 3.5},
            {"_index": "products", "_id": "b", "_score": 1.25},
        ),
    ),
    ("-**._index,hits.hits._i*", _hits({"_id": "a"}, {"_id": "b"})),
    ("hits.total,-hits.total.*", {}),
    ("took,timed_out,-took", {"timed_out": False}),
    ("aggregations,-**.avg_price,-**.doc_count*", _buckets({"key": "acme"}, {"key": "zeta"})),
]


@pytest.mark.parametrize(("spec", "expected"), MIXED)
def test_inclusions_then_exclusions(spec: str, expected: dict[str, Any]) -> None:
    assert compile_filter_path(spec).apply(RESPONSE) == expected


def test_partially_filtered_empty_containers_are_dropped() -> None:
    response = {"hits": {"total": {"value": 0}, "hits": []}, "aggregations": {}}
    assert compile_filter_path("hits.hits._id").apply(response) == {}
    assert compile_filter_path("aggregations.*.buckets").apply(response) == {}
    # Fully matched, the same empty containers are kept as they are.
    assert compile_filter_path("hits.hits,aggregations").apply(response) == {
        "hits": {"hits": []},
        "aggregations": {},
    }


def test_key_order_follows_the_response() -> None:
    out = compile_filter_path("hits.hits._score,took,hits.hits._id,-hits.hits._s*").apply(RESPONSE)
    assert list(out) == ["took", "hits"]
    assert [list(h) for h in out["hits"]["hits"]] == [["_id"], ["_id"]]


def test_nested_arrays_are_transparent() -> None:
    response = {"a": [[{"b": 1, "c": 2}], [{"c": 3}], 4]}
    assert compile_filter_path("a.b").apply(response) == {"a": [[{"b": 1}]]}
    assert compile_filter_path("-a.c").apply(response) == {"a": [[{"b": 1}], 4]}


def test_dots_in_field_names_are_separators() -> None:
    response = {"a.b": 1, "a": {"b": 2}}
    assert compile_filter_path("a.b").apply(response) == {"a": {"b": 2}}


def test_glob_has_no_other_special_characters() -> None:
    response = {"a?c": 1, "abc": 2, "[x]": 3, "x": 4}
    assert compile_filter_path("a?c,[x]").apply(response) == {"a?c": 1, "[x]": 3}
    assert compile_filter_path("a*").apply(response) == {"a?c": 1, "abc": 2}


def test_empty_entries_are_ignored_and_empty_spec_filters_nothing() -> None:
    assert compile_filter_path("took,,  ,").apply(RESPONSE) == {"took": 7}
    assert compile_filter_path("").apply(RESPONSE) == RESPONSE


@pytest.mark.parametrize("spec", ["hits..hits", ".took", "took.", "-", " - ", "-.hits", "a,b."])
def test_bad_spec_is_invalid_request(spec: str) -> None:
    with pytest.raises(InvalidRequest, match=r"filter_path") as info:
        compile_filter_path(spec)
    assert info.value.status_code == 400


@pytest.mark.parametrize("spec", ["hits.hits._source.title", "-hits.hits._source", "**", "-**"])
def test_input_is_not_mutated_and_output_is_new(spec: str) -> None:
    response = copy.deepcopy(RESPONSE)
    out = compile_filter_path(spec).apply(response)
    assert response == RESPONSE
    assert out is not response
    out["added"] = 1
    assert "added" not in response


def test_compiled_specs_are_cached() -> None:
    assert compile_filter_path("hits.hits._id") is compile_filter_path("hits.hits._id")
    assert BUCKETS[0]["key"] == "acme"  # the fixture itself was left intact by every case


@pytest.mark.parametrize(
    ("glob", "key", "matches"),
    [
        ("*", "", True),
        ("a*", "abc", True),
        ("*c", "abc", True),
        ("a*c", "ac", True),
        ("a*c", "abbc", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "acb", False),
        ("ab*ba", "aba", False),  # prefix and suffix must not overlap
        ("*a*a*", "aa", True),
        ("*a*a*", "a", False),
        ("_s*e", "_score", True),
        ("_s*e", "_source", True),
        ("_s*e", "_shards", False),
    ],
)
def test_glob_segments_match_whole_names(glob: str, key: str, matches: bool) -> None:
    kept = compile_filter_path(glob).apply({key: 1})
    assert (kept == {key: 1}) is matches


def test_a_pathological_glob_is_matched_without_backtracking() -> None:
    # As a regex of `.*` runs this spec took 12 s on one 30-character key (ReDoS).
    spec = "hits.hits._source." + "*a" * 25 + "b"
    response = {"hits": {"hits": [{"_source": {"a" * 30: 1, "a" * 29 + "b": 2}}]}}
    kept = compile_filter_path(spec).apply(response)
    assert kept == {"hits": {"hits": [{"_source": {"a" * 29 + "b": 2}}]}}
