"""Business rules: each rule kind, bands, per-index overrides, degraded mode, validation."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.rules import RankedHit, RulesError, RuleSet, apply_rules, parse_rules


def hit(doc_id: str, model: float | None, original: float = 1.0, **source: Any) -> RankedHit:
    return RankedHit(
        doc_id=doc_id,
        source=source,
        model_score=model,
        original_score=original,
        final_score=model if model is not None else original,
    )


def rules(**data: Any) -> RuleSet:
    return parse_rules(data)


def ids(hits: list[RankedHit]) -> list[str]:
    return [h.doc_id for h in hits]


def run(
    hits: list[RankedHit],
    ruleset: RuleSet,
    query: str = "q",
    index: str = "products",
    degraded: bool = False,
) -> list[RankedHit]:
    return apply_rules(hits, query, index, ruleset, degraded)


def test_defaults_threshold_band_and_sort() -> None:
    out = run([hit("a", 0.5), hit("b", 0.9), hit("c", 0.3), hit("d", 0.6)], RuleSet())
    assert ids(out) == ["b", "d", "a"]  # c is below the default min_score 0.4
    assert [h.band for h in out] == ["strong", "medium", "weak"]
    assert [h.final_score for h in out] == [0.9, 0.6, 0.5]


def test_band_limits_are_inclusive_and_configurable() -> None:
    out = run([hit("a", 0.75), hit("b", 0.55), hit("c", 0.5)], RuleSet())
    assert [h.band for h in out] == ["strong", "medium", "weak"]
    custom = rules(min_score=0.0, bands={"strong": 0.9, "medium": 0.2})
    assert [h.band for h in run([hit("a", 0.75), hit("b", 0.1)], custom)] == ["medium", "weak"]


def test_ties_keep_input_order() -> None:
    out = run([hit("a", 0.5), hit("b", 0.7), hit("c", 0.5), hit("d", 0.7)], RuleSet())
    assert ids(out) == ["b", "d", "a", "c"]


def test_inputs_are_not_modified() -> None:
    hits = [hit("a", 0.9, sales=5000)]
    boost = {"id": "pop", "source": {"sales": {"gt": 1000}}, "factor": 1.05}
    run(hits, rules(boosts=[boost]))
    assert hits[0].final_score == 0.9 and hits[0].rules_fired == [] and hits[0].band is None


def test_boost_needs_every_condition_and_is_capped() -> None:
    ruleset = rules(
        boosts=[
            {
                "id": "bestsellers",
                "model_score": {"gt": 0.75},
                "source": {"sales": {"gt": 1000}},
                "factor": 1.2,
                "max_score": 1.0,
            }
        ]
    )
    out = run(
        [hit("low", 0.7, sales=5000), hit("few", 0.8, sales=10), hit("top", 0.9, sales=5000)],
        ruleset,
    )
    by_id = {h.doc_id: h for h in out}
    assert by_id["top"].final_score == 1.0 and by_id["top"].rules_fired == ["bestsellers"]
    assert by_id["few"].final_score == 0.8 and by_id["few"].rules_fired == []
    assert by_id["low"].final_score == 0.7 and by_id["low"].rules_fired == []


def test_boost_never_lowers_a_score_above_its_cap_and_demotions_ignore_it() -> None:
    ruleset = rules(
        boosts=[
            {"id": "up", "source": {"brand": {"eq": "acme"}}, "factor": 1.5, "max_score": 0.8},
            {"id": "down", "source": {"used": {"eq": True}}, "factor": 0.5, "max_score": 0.1},
        ]
    )
    out = run([hit("a", 0.9, brand="acme"), hit("b", 0.6, brand="acme", used=True)], ruleset)
    assert [(h.doc_id, h.final_score) for h in out] == [("a", 0.9), ("b", 0.4)]
    assert out[1].rules_fired == ["up", "down"]


@pytest.mark.parametrize(
    ("condition", "source", "fires"),
    [
        ({"eq": "acme"}, {"f": "acme"}, True),
        ({"eq": "acme"}, {"f": ["x", "acme"]}, True),
        ({"eq": "acme"}, {"f": "other"}, False),
        ({"in": ["a", "b"]}, {"f": "b"}, True),
        ({"in": ["a", "b"]}, {"f": "c"}, False),
        ({"gt": 10}, {"f": 11}, True),
        ({"gt": 10}, {"f": 10}, False),
        ({"gte": 10}, {"f": 10}, True),
        ({"lt": 10}, {"f": "9.5"}, True),  # numeric strings count
        ({"lte": 10}, {"f": 10.5}, False),
        ({"gt": 1}, {"f": "many"}, False),
        ({"gt": 0}, {"f": True}, False),  # booleans are not numbers
        ({"gt": 1}, {}, False),
        ({"exists": True}, {"f": 0}, True),
        ({"exists": True}, {"f": None}, False),
        ({"exists": True}, {}, False),
        ({"exists": False}, {}, True),
        ({"exists": False}, {"f": []}, True),
        ({"exists": False}, {"f": "x"}, False),
        ({"gte": 1, "lt": 5}, {"f": 5}, False),
    ],
)
def test_source_conditions(condition: dict[str, Any], source: dict[str, Any], fires: bool) -> None:
    ruleset = rules(min_score=0.0, boosts=[{"id": "b", "source": {"f": condition}, "factor": 2}])
    out = run([hit("a", 0.3, **source)], ruleset)
    assert (out[0].rules_fired == ["b"]) is fires
    assert out[0].final_score == (0.6 if fires else 0.3)


def test_source_conditions_reach_nested_fields() -> None:
    ruleset = rules(boosts=[{"id": "b", "source": {"attrs.brand": {"eq": "acme"}}, "factor": 1.1}])
    out = run([hit("a", 0.5, attrs={"brand": "acme"}), hit("b", 0.5, attrs={})], ruleset)
    assert [h.rules_fired for h in out] == [["b"], []]


def test_blend_mixes_in_min_max_normalized_opensearch_scores() -> None:
    ruleset = rules(min_score=0.0, blend={"id": "bm25", "weight": 0.5})
    out = run([hit("a", 0.2, original=10.0), hit("b", 0.6, original=2.0)], ruleset)
    assert [(h.doc_id, h.final_score) for h in out] == [("a", 0.6), ("b", 0.3)]
    assert all(h.rules_fired == ["bm25"] for h in out)


def test_blend_with_equal_opensearch_scores_shifts_everyone_alike() -> None:
    ruleset = rules(min_score=0.0, blend={"weight": 0.5})
    out = run([hit("a", 0.2, original=3.0), hit("b", 0.6, original=3.0)], ruleset)
    assert [(h.doc_id, h.final_score) for h in out] == [("b", 0.8), ("a", 0.6)]


def test_min_score_applies_to_the_final_score() -> None:
    ruleset = rules(min_score=0.5, boosts=[{"id": "b", "source": {"x": {"eq": 1}}, "factor": 1.5}])
    assert ids(run([hit("a", 0.4, x=1), hit("b", 0.45)], ruleset)) == ["a"]


def test_hides_remove_ids_for_matching_queries() -> None:
    ruleset = rules(
        hides=[
            {"id": "h1", "match": "contains", "query": "case", "ids": ["a"]},
            {"id": "h2", "match": "any", "ids": ["b"]},
        ]
    )
    hits = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.7)]
    assert ids(run(hits, ruleset, query="iPhone Case")) == ["c"]
    assert ids(run(hits, ruleset, query="iPhone")) == ["a", "c"]


@pytest.mark.parametrize(
    ("match", "pattern", "query", "fires"),
    [
        ("exact", "iphone15", "iPhone 15", True),
        ("exact", "iphone 15", "iPhone 15 Pro", False),
        ("exact", "ｉｐｈｏｎｅ", "iPhone", True),
        ("prefix", "iphone", "iPhone 15 Pro", True),
        ("prefix", "pro", "iPhone 15 Pro", False),
        ("contains", "15 pro", "iPhone 15 Pro Max", True),
        ("contains", "手机", "苹果 iPhone 15 手机", True),
        ("regex", r"^iphone \d+$", "iPhone 15", True),
        ("regex", r"^iphone \d+$", "iPhone 15 Pro", False),
    ],
)
def test_query_matching(match: str, pattern: str, query: str, fires: bool) -> None:
    ruleset = rules(hides=[{"id": "h", "match": match, "query": pattern, "ids": ["a"]}])
    assert (ids(run([hit("a", 0.9)], ruleset, query=query)) == []) is fires


def test_pins_place_ids_in_order_from_a_position() -> None:
    ruleset = rules(
        pins=[{"id": "p", "match": "prefix", "query": "phone", "ids": ["d", "c"], "position": 2}]
    )
    hits = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.7), hit("d", 0.6)]
    out = run(hits, ruleset, query="phone case")
    assert ids(out) == ["a", "d", "c", "b"]
    assert [h.rules_fired for h in out] == [[], ["p"], ["p"], []]
    assert ids(run(hits, ruleset, query="laptop")) == ["a", "b", "c", "d"]


def test_pins_never_invent_documents_and_may_rescue_thresholded_hits() -> None:
    ruleset = rules(pins=[{"id": "p", "match": "any", "ids": ["missing", "low"]}])
    out = run([hit("a", 0.9), hit("low", 0.1)], ruleset)
    assert ids(out) == ["low", "a"]
    assert out[0].band == "weak" and out[0].rules_fired == ["p"]


def test_pin_position_beyond_the_page_appends() -> None:
    ruleset = rules(pins=[{"id": "p", "match": "any", "ids": ["a"], "position": 50}])
    assert ids(run([hit("a", 0.9), hit("b", 0.8)], ruleset)) == ["b", "a"]


def test_hide_wins_over_pin() -> None:
    ruleset = rules(
        pins=[{"id": "p", "match": "any", "ids": ["b"]}],
        hides=[{"id": "h", "match": "any", "ids": ["b"]}],
    )
    assert ids(run([hit("a", 0.9), hit("b", 0.8)], ruleset)) == ["a"]


def test_degraded_mode_keeps_opensearch_order_and_scores_but_applies_hides_and_pins() -> None:
    ruleset = rules(
        min_score=0.9,
        boosts=[{"id": "b", "source": {}, "factor": 2.0}],
        blend={"weight": 0.5},
        hides=[{"id": "h", "match": "any", "ids": ["b"]}],
        pins=[{"id": "p", "match": "any", "ids": ["d"]}],
    )
    hits = [hit("a", None, 9.0), hit("b", None, 8.0), hit("c", None, 7.0), hit("d", None, 1.0)]
    out = run(hits, ruleset, degraded=True)
    assert ids(out) == ["d", "a", "c"]
    assert [h.final_score for h in out] == [1.0, 9.0, 7.0]
    assert [h.band for h in out] == [None, None, None]
    assert [h.rules_fired for h in out] == [["p"], [], []]


def test_missing_model_score_outside_degraded_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="no finite model_score"):
        run([hit("a", None)], RuleSet())


def test_per_index_override_merges_over_global_rules() -> None:
    ruleset = rules(
        min_score=0.5,
        bands={"strong": 0.8, "medium": 0.6},
        blend={"id": "bm25", "weight": 0.5},
        boosts=[
            {"id": "pop", "source": {"sales": {"gt": 100}}, "factor": 1.1},
            {"id": "demote", "source": {"used": {"eq": True}}, "factor": 0.5},
        ],
        per_index={
            "books": {
                "min_score": 0.1,
                "bands": {"medium": 0.2},
                "blend": None,
                "disable": ["demote"],
                "boosts": [
                    {"id": "pop", "source": {"sales": {"gt": 100}}, "factor": 2.0},
                    {"id": "new", "source": {"new": {"eq": True}}, "factor": 1.5},
                ],
            }
        },
    )
    books = ruleset.for_index("books")
    assert books.min_score == 0.1
    assert (books.bands.strong, books.bands.medium) == (0.8, 0.2)
    assert books.blend is None
    assert [(b.id, b.factor) for b in books.boosts] == [("pop", 2.0), ("new", 1.5)]
    assert ruleset.for_index("other") is ruleset
    out = run([hit("a", 0.3, sales=500, used=True)], ruleset, index="books")
    assert out[0].final_score == 0.6 and out[0].rules_fired == ["pop"]
    assert out[0].band == "medium"
    assert run([hit("a", 0.3, original=1.0, sales=500, used=True)], ruleset, index="x") == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"min_score": 1.5}, "min_score: Input should be less than or equal to 1"),
        ({"bands": {"strong": 0.5, "medium": 0.6}}, "medium (0.6) must not exceed strong"),
        ({"boosts": [{"id": "b", "factor": 0}]}, "boosts.0.factor"),
        ({"boosts": [{"factor": 1.2}]}, "boosts.0.id: Field required"),
        ({"boosts": [{"id": "b", "factor": 1.2, "max_score": 2}]}, "boosts.0.max_score"),
        ({"boosts": [{"id": "b", "factor": 2, "model_score": {}}]}, "needs at least one of"),
        ({"boosts": [{"id": "b", "factor": 2, "source": {"f": {}}}]}, "needs at least one of"),
        ({"boosts": [{"id": "b", "factor": 2, "source": {"f": {"like": 1}}}]}, "like"),
        ({"pins": [{"id": "p", "match": "regex", "query": "(", "ids": ["a"]}]}, "invalid regex"),
        ({"pins": [{"id": "p", "match": "exact", "ids": ["a"]}]}, "needs a non-empty query"),
        ({"pins": [{"id": "p", "query": "x", "ids": []}]}, "pins.0.ids"),
        ({"pins": [{"id": "p", "query": "x", "ids": ["a"], "position": 0}]}, "position"),
        ({"hides": [{"id": "h", "match": "fuzzy", "query": "x", "ids": ["a"]}]}, "match"),
        ({"boosts": [{"id": "bad id", "factor": 2}]}, "boosts.0.id"),
        (
            {
                "boosts": [{"id": "x", "factor": 2}],
                "hides": [{"id": "x", "match": "any", "ids": ["a"]}],
            },
            "rule ids must be unique, repeated: x",
        ),
        ({"per_index": {"books": {"disable": ["nope"]}}}, "per_index.books: disable names"),
        ({"per_index": {"books": {"bands": {"medium": 0.9}}}}, "per_index.books:"),
        ({"per_index": {"books": {"per_index": {}}}}, "per_index.books.per_index"),
        ({"thresholds": 1}, "thresholds: Extra inputs are not permitted"),
    ],
)
def test_validation_errors_are_clear(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RulesError) as err:
        parse_rules(data)
    assert message in str(err.value)


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(RulesError, match="must be a mapping"):
        parse_rules(["min_score"])
