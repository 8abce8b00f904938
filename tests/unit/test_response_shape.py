"""The reranked response keeps OpenSearch's shape and everything OpenSearch said."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.errors import InvalidRequest
from sidecar.response_shape import HitOutcome, RerankReport, shape_response, skipped_response
from sidecar.source_filter import source_filter_of

_SOURCE: dict[str, Any] = {
    "title": "Mug",
    "price": 9,
    "attrs": {"color": "red", "material": "clay"},
    "variants": [{"sku": "a", "size": "S"}, {"sku": "b", "size": "L"}],
}


def _upstream(n: int) -> dict[str, Any]:
    return {
        "took": 7,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": 1234, "relation": "eq"},
            "max_score": 9.5,
            "hits": [
                {"_index": "p", "_id": str(i), "_score": 10.0 - i, "_source": {"t": i}}
                for i in range(n)
            ],
        },
        "aggregations": {"brands": {"buckets": [{"key": "acme", "doc_count": 3}]}},
        "suggest": {"s": [{"text": "shoos", "options": []}]},
        "pit_id": "unknown-key-kept",
    }


def _outcomes(upstream: dict[str, Any], window: int) -> list[HitOutcome]:
    hits = upstream["hits"]["hits"]
    top = [
        HitOutcome(
            hit=h,
            final_score=0.1 * (i + 1),
            model_score=0.1 * (i + 1),
            original_score=h["_score"],
            band="weak",
            rules_fired=["r1"] if i == 0 else [],
            cached=i % 2 == 0,
        )
        for i, h in enumerate(hits[:window])
    ]
    top.reverse()  # the model liked the last ones best
    rest = [
        HitOutcome(hit=h, final_score=h["_score"], original_score=h["_score"], reranked=False)
        for h in hits[window:]
    ]
    return top + rest


def test_keeps_everything_opensearch_said_except_hits() -> None:
    upstream = _upstream(6)
    page = _outcomes(upstream, 4)[:3]
    shaped = shape_response(upstream, page, 0.4, 0, RerankReport("ok"), False)
    for key in ("took", "timed_out", "_shards", "aggregations", "suggest", "pit_id"):
        assert shaped[key] == upstream[key]
    assert shaped["hits"]["total"] == {"value": 1234, "relation": "eq"}
    assert "rerank" not in shaped
    assert [h["_id"] for h in shaped["hits"]["hits"]] == ["3", "2", "1"]
    assert [h["_score"] for h in shaped["hits"]["hits"]] == [0.4, 0.3, 0.2]
    assert shaped["hits"]["max_score"] == 0.4
    assert all("_rerank" not in h for h in shaped["hits"]["hits"])
    assert upstream["hits"]["hits"][0]["_score"] == 10.0  # the input is not modified


def test_an_exact_total_loses_the_removed_hits_and_a_lower_bound_stays() -> None:
    upstream = _upstream(6)
    page = _outcomes(upstream, 4)[:3]
    shaped = shape_response(upstream, page, 0.4, 5, RerankReport("ok"), False)
    assert shaped["hits"]["total"] == {"value": 1229, "relation": "eq"}
    upstream["hits"]["total"] = {"value": 10000, "relation": "gte"}
    shaped = shape_response(upstream, page, 0.4, 5, RerankReport("ok"), False)
    assert shaped["hits"]["total"] == {"value": 10000, "relation": "gte"}
    upstream["hits"]["total"] = 1234  # rest_total_hits_as_int
    assert shape_response(upstream, page, 0.4, 5, RerankReport("ok"), False)["hits"]["total"] == (
        1229
    )
    del upstream["hits"]["total"]  # track_total_hits: false
    assert "total" not in shape_response(upstream, page, 0.4, 5, RerankReport("ok"), False)["hits"]


def test_beyond_window_hits_show_the_score_they_are_given() -> None:
    upstream = _upstream(6)
    outcomes = _outcomes(upstream, 4)
    outcomes[4].final_score = 0.03
    shaped = shape_response(upstream, outcomes[3:], 0.4, 0, RerankReport("ok"), False)
    assert [h["_score"] for h in shaped["hits"]["hits"]] == [0.1, 0.03, 5.0]
    assert shaped["hits"]["max_score"] == 0.4


def test_explain_adds_per_hit_detail_and_the_report() -> None:
    upstream = _upstream(3)
    outcomes = _outcomes(upstream, 2)
    outcomes[0].image_error = "refused: private address"
    report = RerankReport(
        "ok", model="minilm", cache_hits=1, timings_ms={"retrieve": 1.23456, "score": 2.0}
    )
    shaped = shape_response(upstream, outcomes, 0.2, 0, report, True)
    first, second, third = shaped["hits"]["hits"]
    assert first["_rerank"] == {
        "model_score": 0.2,
        "original_score": 9.0,
        "band": "weak",
        "rules_fired": [],
        "cached": False,
        "image_error": "refused: private address",
    }
    assert second["_rerank"]["rules_fired"] == ["r1"]
    assert second["_rerank"]["cached"] is True
    assert "image_error" not in second["_rerank"]
    assert third["_rerank"]["beyond_window"] is True
    assert shaped["rerank"] == {
        "status": "ok",
        "timings_ms": {"retrieve": 1.23, "score": 2.0},
        "cache_hits": 1,
        "model": "minilm",
    }


def test_empty_window_keeps_total_and_gives_null_max_score() -> None:
    upstream = _upstream(0)
    shaped = shape_response(upstream, [], None, 0, RerankReport("ok"), False)
    assert shaped["hits"]["hits"] == []
    assert shaped["hits"]["max_score"] is None
    assert shaped["hits"]["total"]["value"] == 1234


def test_skipped_response_is_untouched_without_explain() -> None:
    upstream = _upstream(2)
    report = RerankReport("skipped", reason="sorted")
    assert skipped_response(upstream, report, False) is upstream
    explained = skipped_response(upstream, report, True)
    assert explained["rerank"]["status"] == "skipped"
    assert explained["rerank"]["reason"] == "sorted"
    assert explained["hits"] == upstream["hits"]


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [
        ({}, {}, _SOURCE),
        ({"_source": False}, {}, None),
        ({"_source": "title"}, {}, {"title": "Mug"}),
        ({"_source": ["title", "attrs.color"]}, {}, {"title": "Mug", "attrs": {"color": "red"}}),
        ({"_source": {"excludes": ["attrs", "variants.sku"]}}, {}, {
            "title": "Mug", "price": 9, "variants": [{"size": "S"}, {"size": "L"}]
        }),
        ({"_source": {"includes": ["*.size"]}}, {}, {"variants": [{"size": "S"}, {"size": "L"}]}),
        ({"_source": ["title"]}, {"_source_includes": "price"}, {"price": 9}),
        ({}, {"_source": "false"}, None),
        ({}, {"_source": "title,price", "_source_excludes": "price"}, {"title": "Mug"}),
    ],
)  # fmt: skip
def test_source_filtering_like_opensearch(
    body: dict[str, Any], params: dict[str, str], expected: dict[str, Any] | None
) -> None:
    hit = {"_id": "1", "_source": _SOURCE}
    filtered = source_filter_of(body, params).apply(hit)
    assert filtered.get("_source") == expected
    assert hit["_source"] is _SOURCE  # the input is not modified


def test_bad_source_filter_is_a_client_error() -> None:
    with pytest.raises(InvalidRequest, match="_source"):
        source_filter_of({"_source": 3}, {})
