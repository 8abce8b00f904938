"""Properties of normalization and the rules engine, checked on generated inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.normalize import QueryNormalizer, normalize_query
from sidecar.rules import RankedHit, RuleSet, apply_rules, parse_rules

# Text that exercises the interesting classes: latin, digits, CJK, full-width, spaces.
query_alphabet = st.sampled_from(
    list("abcxyzABCXYZ0123456789 -.+/")
    + list("苹果手机华为壳スマホ갤럭시")
    + list("ｉＰｈｏｎｅ１５　ＡＢＣ，")
    + ["iphone", "pro", "max", "galaxy", "5g", "ps5", "s24", "gb", "\t", "\u00e9", "\u0301"]
)
queries = st.lists(query_alphabet, max_size=20).map("".join)
ids_pool = [f"d{i}" for i in range(8)]

score_conditions = st.fixed_dictionaries(
    {}, optional={op: st.floats(0, 1) for op in ("gt", "gte", "lt", "lte")}
).filter(bool)
field_conditions = st.one_of(
    st.fixed_dictionaries({"gt": st.integers(0, 100)}),
    st.fixed_dictionaries({"eq": st.sampled_from(["a", "b", 1])}),
    st.fixed_dictionaries({"in": st.lists(st.sampled_from(["a", "b"]), max_size=2)}),
    st.fixed_dictionaries({"exists": st.booleans()}),
)
query_rules = st.fixed_dictionaries(
    {
        "match": st.sampled_from(["exact", "prefix", "contains", "any"]),
        "query": st.sampled_from(["a", "iphone", "苹果", "x 1"]),
        "ids": st.lists(st.sampled_from(ids_pool), min_size=1, max_size=3),
    }
)


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    boosts = [
        {
            "id": f"b{i}",
            "factor": draw(st.floats(0.1, 3.0)),
            "max_score": draw(st.floats(0.1, 1.0)),
            "model_score": draw(st.none() | score_conditions),
            "source": draw(st.dictionaries(st.sampled_from(["sales", "tag"]), field_conditions)),
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    pins = [
        {"id": f"p{i}", "position": draw(st.integers(1, 10)), **draw(query_rules)}
        for i in range(draw(st.integers(0, 2)))
    ]
    hides = [{"id": f"h{i}", **draw(query_rules)} for i in range(draw(st.integers(0, 2)))]
    data: dict[str, Any] = {
        "min_score": draw(st.floats(0, 1)),
        "boosts": [{k: v for k, v in b.items() if v is not None} for b in boosts],
        "pins": pins,
        "hides": hides,
    }
    if draw(st.booleans()):
        data["blend"] = {"weight": draw(st.floats(0, 1))}
    return parse_rules(data)


sources = st.fixed_dictionaries(
    {}, optional={"sales": st.integers(0, 200), "tag": st.sampled_from(["a", "b"])}
)


@st.composite
def hit_lists(draw: st.DrawFn) -> list[RankedHit]:
    doc_ids = draw(st.lists(st.sampled_from(ids_pool), unique=True, max_size=8))
    return [
        RankedHit(
            doc_id=doc_id,
            source=draw(sources),
            model_score=(model := draw(st.floats(0, 1))),
            original_score=draw(st.none() | st.floats(0, 50)),
            final_score=model,
        )
        for doc_id in doc_ids
    ]


def hidden_ids(rules: RuleSet, query: str) -> set[str]:
    return {doc_id for hide in rules.hides if hide.matches(query) for doc_id in hide.ids}


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalization_never_raises_and_is_idempotent_on_any_text(text: str) -> None:
    once = normalize_query(text)
    assert normalize_query(once) == once
    assert once == once.strip() and "  " not in once


@settings(max_examples=300, deadline=None)
@given(queries)
def test_normalization_is_idempotent_on_query_like_text(text: str) -> None:
    once = normalize_query(text)
    assert normalize_query(once) == once


@settings(deadline=None)
@given(st.text(), st.lists(st.from_regex(r"[A-Za-z]{1,6}[0-9]{0,2}", fullmatch=True), max_size=5))
def test_normalization_is_idempotent_with_any_dictionary(text: str, words: list[str]) -> None:
    normalizer = QueryNormalizer(words)
    once = normalizer(text)
    assert normalizer(once) == once


@settings(max_examples=60, deadline=None)
@given(hit_lists(), rule_sets(), queries, st.booleans())
def test_rules_only_filter_and_reorder(
    hits: list[RankedHit], rules: RuleSet, query: str, degraded: bool
) -> None:
    out = apply_rules(hits, query, "products", rules, degraded)
    out_ids = [h.doc_id for h in out]
    in_ids = [h.doc_id for h in hits]
    assert len(set(out_ids)) == len(out_ids)
    assert set(out_ids) <= set(in_ids)  # never invents a document
    assert not set(out_ids) & hidden_ids(rules, query)  # never returns a hidden id
    originals = {h.doc_id: h for h in hits}
    for h in out:
        assert h.source is originals[h.doc_id].source
        if not degraded:
            assert 0.0 <= h.final_score <= 1.0
            assert h.band in ("strong", "medium", "weak")


@settings(max_examples=60, deadline=None)
@given(hit_lists(), rule_sets(), queries)
def test_degraded_mode_keeps_the_input_order_of_unpinned_survivors(
    hits: list[RankedHit], rules: RuleSet, query: str
) -> None:
    out = apply_rules(hits, query, "products", rules, degraded=True)
    pinned = {h.doc_id for h in out if any(r.startswith("p") for r in h.rules_fired)}
    survivors = [h.doc_id for h in out if h.doc_id not in pinned]
    expected = [
        h.doc_id
        for h in hits
        if h.doc_id not in pinned and h.doc_id not in hidden_ids(rules, query)
    ]
    assert survivors == expected
    assert all(h.band is None for h in out)
    for h in out:
        original = next(x for x in hits if x.doc_id == h.doc_id)
        assert h.final_score == (
            original.original_score if original.original_score is not None else original.final_score
        )


@settings(max_examples=60, deadline=None)
@given(hit_lists(), rule_sets(), queries)
def test_without_pins_scores_are_sorted_and_above_the_threshold(
    hits: list[RankedHit], rules: RuleSet, query: str
) -> None:
    unpinned = rules.model_copy(update={"pins": []})
    out = apply_rules(hits, query, "products", unpinned, degraded=False)
    scores = [h.final_score for h in out]
    assert scores == sorted(scores, reverse=True)
    assert all(s >= rules.min_score for s in scores)
    caps = [b.max_score for b in rules.boosts]
    assert all(s <= max([1.0, *caps]) for s in scores)
