"""Apply business rules to reranked hits.

Order of operations, on the rules in force for the index:
1. blend the model score with the min-max normalized OpenSearch score (if configured);
2. boosts, in file order, each testing the raw model score and `_source` fields;
3. drop hits whose final score is below `min_score`;
4. bands from the final score;
5. sort by final score, best first (stable: ties keep their input order);
6. hides remove ids for matching queries;
7. pins move ids to fixed positions for matching queries.

Degraded mode (the model timed out, failed or its breaker is open) skips steps 1-5: hits keep
OpenSearch's order and scores and get no band, so a threshold can never empty a page because
the model was down. Hides and pins still apply: they don't depend on the model.

Rules never invent documents: a pin only moves a hit that is in the input. A pin may bring
back a hit that `min_score` dropped (a merchandiser's pin wins over a threshold); a hide wins
over a pin. Later pin rules insert after earlier ones were placed and may shift them down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sidecar.rules.models import Blend, RuleSet
from sidecar.rules.types import RankedHit

# The id `rules_fired` names for the threshold (min_score has no id of its own).
MIN_SCORE_RULE = "min_score"


@dataclass(slots=True)
class RulesOutcome:
    """What the rules did to a window: the kept hits in order, the removed ones (each with
    the rule that removed it last in `rules_fired`), and the ids that pins placed."""

    kept: list[RankedHit]
    removed: list[RankedHit]
    pinned: frozenset[str]


def apply_rules(
    hits: list[RankedHit], query: str, index: str, rules: RuleSet, degraded: bool
) -> list[RankedHit]:
    """Return new hits, filtered and reordered by `rules` (inputs are not modified).

    Without `degraded`, every hit needs a finite `model_score` (ValueError otherwise).
    """
    return apply_rules_detailed(hits, query, index, rules, degraded).kept


def apply_rules_detailed(
    hits: list[RankedHit], query: str, index: str, rules: RuleSet, degraded: bool
) -> RulesOutcome:
    """`apply_rules`, also reporting the hits the rules removed and the pinned ids."""
    effective = rules.for_index(index)
    if degraded:
        ranked = [
            replace(
                hit,
                final_score=hit.final_score if hit.original_score is None else hit.original_score,
                band=None,
                rules_fired=list(hit.rules_fired),
            )
            for hit in hits
        ]
        dropped: list[RankedHit] = []
    else:
        ranked, dropped = _rank(hits, effective)
    hiding: dict[str, str] = {}  # doc id -> the first hide rule that removes it
    for hide in effective.hides:
        if hide.matches(query):
            for doc_id in hide.ids:
                hiding.setdefault(doc_id, hide.id)
    hidden = set(hiding)
    removed = [
        replace(hit, rules_fired=[*hit.rules_fired, hiding[hit.doc_id]])
        for hit in ranked
        if hit.doc_id in hidden
    ]
    ranked = [hit for hit in ranked if hit.doc_id not in hidden]
    kept, pinned = _pin(ranked, dropped, hidden, query, effective)
    for hit in dropped:  # what pins did not bring back
        fired = [*hit.rules_fired, MIN_SCORE_RULE]
        if hit.doc_id in hidden:
            fired.append(hiding[hit.doc_id])
        removed.append(replace(hit, rules_fired=fired))
    return RulesOutcome(kept, removed, frozenset(pinned))


def _rank(hits: list[RankedHit], rules: RuleSet) -> tuple[list[RankedHit], list[RankedHit]]:
    """Blend, boost, band and sort; returns (kept best first, dropped by min_score)."""
    blended = _blend_terms(hits, rules.blend)
    scored: list[RankedHit] = []
    for hit, blend_term in zip(hits, blended, strict=True):
        model_score = hit.model_score
        if model_score is None or not math.isfinite(model_score):
            raise ValueError(f"hit {hit.doc_id!r} has no finite model_score outside degraded mode")
        fired = list(hit.rules_fired)
        score = min(max(model_score, 0.0), 1.0)
        if rules.blend is not None and blend_term is not None:
            score = (1.0 - rules.blend.weight) * score + rules.blend.weight * blend_term
            fired.append(rules.blend.id)
        for boost in rules.boosts:
            if boost.applies(hit):
                score = boost.apply(score)
                fired.append(boost.id)
        score = min(max(score, 0.0), 1.0)
        # The constructor, not dataclasses.replace: this runs for every hit of every
        # request, and replace() costs ~5x more (field introspection). Keep in step with
        # RankedHit's fields.
        scored.append(
            RankedHit(
                doc_id=hit.doc_id,
                source=hit.source,
                model_score=model_score,
                original_score=hit.original_score,
                final_score=score,
                band=rules.bands.band(score),
                rules_fired=fired,
            )
        )
    kept = [hit for hit in scored if hit.final_score >= rules.min_score]
    dropped = [hit for hit in scored if hit.final_score < rules.min_score]
    kept.sort(key=lambda hit: -hit.final_score)
    return kept, dropped


def _blend_terms(hits: list[RankedHit], blend: Blend | None) -> list[float | None]:
    """Min-max normalized OpenSearch scores (1.0 when all are equal; None when missing)."""
    if blend is None:
        return [None] * len(hits)
    raw = [
        s if s is not None and math.isfinite(s) else None
        for s in (hit.original_score for hit in hits)
    ]
    present = [s for s in raw if s is not None]
    if not present:
        return [None] * len(hits)
    low, high = min(present), max(present)
    return [None if s is None else (s - low) / (high - low) if high > low else 1.0 for s in raw]


def _pin(
    ranked: list[RankedHit],
    dropped: list[RankedHit],
    hidden: set[str],
    query: str,
    rules: RuleSet,
) -> tuple[list[RankedHit], set[str]]:
    """Place the pinned hits (taken out of `ranked` or `dropped`); returns the list and
    the ids placed."""
    pinned: set[str] = set()
    for pin in rules.pins:
        if not pin.matches(query):
            continue
        slot = pin.position - 1
        for doc_id in pin.ids:
            if doc_id in hidden or doc_id in pinned:
                continue
            hit = _take(ranked, doc_id) or _take(dropped, doc_id)
            if hit is None:
                continue  # not among the hits: a pin never invents a document
            pinned.add(doc_id)
            placed = replace(hit, rules_fired=[*hit.rules_fired, pin.id])
            ranked.insert(min(slot, len(ranked)), placed)
            slot += 1
    return ranked, pinned


def _take(hits: list[RankedHit], doc_id: str) -> RankedHit | None:
    """Remove and return the first hit with `doc_id`, or None."""
    for i, hit in enumerate(hits):
        if hit.doc_id == doc_id:
            return hits.pop(i)
    return None
