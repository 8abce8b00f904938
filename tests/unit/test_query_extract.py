"""Query text extraction, ext.rerank options and the pass-through decision."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.errors import InvalidRequest
from sidecar.query_extract import (
    body_verbatim_reason,
    clean_query_string,
    extract_query_text,
    parse_search_request,
    request_verbatim_reason,
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"match": {"title": "running shoes"}}, "running shoes"),
        ({"match": {"title": {"query": "running shoes", "operator": "and"}}}, "running shoes"),
        ({"match_phrase": {"title": "denim jacket"}}, "denim jacket"),
        ({"multi_match": {"query": "red mug", "fields": ["title", "body"]}}, "red mug"),
        ({"query_string": {"query": 'title:"red mug" AND color:blue'}}, "red mug blue"),
        ({"simple_query_string": {"query": "+wool -cotton socks~2"}}, "wool cotton socks"),
        (
            {
                "bool": {
                    "must": [{"match": {"title": "laptop"}}],
                    "should": {"bool": {"should": [{"match": {"body": "16 inch"}}]}},
                    "filter": [{"term": {"brand": "ignored"}}],
                }
            },
            "laptop 16 inch",
        ),
        (
            {
                "bool": {
                    "should": [
                        {"match": {"title": "phone case"}},
                        {"match": {"description": "phone case"}},
                    ]
                }
            },
            "phone case",
        ),
        ({"function_score": {"query": {"match": {"title": "tent"}}}}, "tent"),
        ({"match_all": {}}, None),
        ({"term": {"sku": "A-1"}}, None),
        (None, None),
    ],
)
def test_extracts_the_users_words(query: object, expected: str | None) -> None:
    assert extract_query_text(query) == expected


def test_query_string_syntax_is_dropped() -> None:
    assert clean_query_string('(name:"iPhone 15") OR brand:apple^2') == "iPhone 15 apple"


def test_ext_rerank_query_text_wins_and_is_stripped_from_the_body() -> None:
    body: dict[str, Any] = {
        "query": {"match": {"title": "shoes"}},
        "ext": {"rerank": {"query_text": "trail running shoes", "explain": True, "window": 20}},
    }
    request = parse_search_request(body, {})
    assert request.query_text == "trail running shoes"
    assert request.options.explain is True
    assert request.options.window == 20
    assert "ext" not in request.body
    assert body["ext"]["rerank"]["window"] == 20  # the caller's body is not modified


def test_other_ext_entries_stay() -> None:
    body = {"query": {"match": {"t": "x"}}, "ext": {"rerank": {}, "other": {"a": 1}}}
    assert parse_search_request(body, {}).body["ext"] == {"other": {"a": 1}}


def test_paging_defaults_and_url_parameters_win() -> None:
    request = parse_search_request({"query": {"match": {"t": "x"}}, "from": 5, "size": 7}, {})
    assert (request.from_, request.size) == (5, 7)
    request = parse_search_request({"from": 5}, {"from": "10", "size": "3", "q": "mug"})
    assert (request.from_, request.size, request.query_text) == (10, 3, "mug")
    assert parse_search_request(None, {"q": "x"}).size == 10


@pytest.mark.parametrize(
    ("body", "params", "reason"),
    [
        ({"query": {"match": {"t": "x"}}, "sort": [{"price": "asc"}]}, {}, "sorted"),
        ({"query": {"match": {"t": "x"}}, "sort": ["_score", "price"]}, {}, "sorted"),
        ({"query": {"match": {"t": "x"}}, "sort": [{"_score": "asc"}]}, {}, "sorted"),
        ({"query": {"match": {"t": "x"}}}, {"sort": "price:asc"}, "sorted"),
        ({"query": {"match": {"t": "x"}}}, {"scroll": "1m"}, "scroll"),
        ({"query": {"match": {"t": "x"}}, "search_after": [1]}, {}, "search_after"),
        ({"query": {"match": {"t": "x"}}, "size": 0}, {}, "size_zero"),
        ({"query": {"match": {"t": "x"}}, "ext": {"rerank": {"enabled": False}}}, {}, "disabled"),
        ({"query": {"match_all": {}}}, {}, "no_query"),
    ],
)
def test_pass_through_cases(body: dict, params: dict, reason: str) -> None:
    assert parse_search_request(body, params).skip_reason == reason


@pytest.mark.parametrize(
    "sort", [None, "_score", ["_score"], [{"_score": "desc"}], [{"_score": {"order": "desc"}}]]
)
def test_score_sort_is_reranked(sort: object) -> None:
    body: dict = {"query": {"match": {"t": "x"}}}
    if sort is not None:
        body["sort"] = sort
    assert parse_search_request(body, {}).skip_reason is None


def test_a_query_image_alone_is_enough() -> None:
    body = {"query": {"match_all": {}}, "ext": {"rerank": {"query_image": "aGk="}}}
    request = parse_search_request(body, {})
    assert request.skip_reason is None
    assert request.query_text is None


@pytest.mark.parametrize(
    ("body", "params", "message"),
    [
        ({"ext": {"rerank": {"window": 0}}}, {}, "ext.rerank.window"),
        ({"ext": {"rerank": {"explain": "yes"}}}, {}, "ext.rerank.explain"),
        ({"ext": {"rerank": {"surprise": 1}}}, {}, "unknown option"),
        ({"ext": {"rerank": "on"}}, {}, "ext.rerank must be an object"),
        ({"size": -1}, {}, "[size]"),
        ({}, {"from": "two"}, "[from]"),
        ({"size": True}, {}, "[size]"),
    ],
)
def test_bad_input_is_named(body: dict, params: dict, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_search_request(body, params)


@pytest.mark.parametrize(
    ("params", "content_type", "reason"),
    [
        ({"format": "yaml"}, None, "format"),
        ({"format": "CBOR"}, None, "format"),
        ({"format": "json"}, None, None),
        ({}, "application/smile", "content_type"),
        ({}, "application/yaml", "content_type"),
        ({}, "application/json; charset=UTF-8", None),
        ({"stored_fields": "_none_"}, None, "stored_fields"),
        ({"explain": ""}, None, "explain"),
        ({"explain": "false"}, None, None),
        ({"pretty": ""}, None, None),
    ],
)
def test_verbatim_searches_by_url_and_headers(
    params: dict[str, str], content_type: str | None, reason: str | None
) -> None:
    assert request_verbatim_reason(params, content_type) == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"stored_fields": "_none_"}', "stored_fields"),
        (b'{"collapse": {"field": "brand"}}', "collapse"),
        (b'{"explain": true}', "explain"),
        (b'{"ext": {"rerank": {"explain": true}}}', None),  # ours, not OpenSearch's
        (b'{"query": {"match": {"title": "collapse"}}}', None),
        (b'{"collapse": ', None),  # malformed: the route names the problem
    ],
)
def test_verbatim_searches_by_body(body: bytes, reason: str | None) -> None:
    assert body_verbatim_reason(body) == reason


def test_verbatim_reasons_also_skip_the_rerank_inside_the_pipeline() -> None:
    body = {"query": {"match": {"title": "mug"}}, "collapse": {"field": "brand"}}
    assert parse_search_request(body, {}).skip_reason == "collapse"
    assert (
        parse_search_request({"query": {"match": {"title": "mug"}}}, {"format": "yaml"}).skip_reason
        == "format"
    )
