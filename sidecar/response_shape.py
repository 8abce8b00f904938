"""Build the OpenSearch-shaped response from the reranked hits.

Everything OpenSearch said is kept as it said it (took, timed_out, _shards, aggregations,
suggest, unknown keys); only `hits.hits` (the page of the reranked list, see
sidecar/paging.py), each hit's `_score` (the score shown), `hits.max_score` and an exact
`hits.total` (less the hits the rules removed) change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sidecar.paging import adjust_total

RerankStatus = Literal["ok", "partial", "degraded", "skipped"]


@dataclass(slots=True)
class HitOutcome:
    """One hit in its final position, with what the reranker learned about it."""

    hit: dict[str, Any]  # the hit as OpenSearch returned it
    final_score: float | None
    model_score: float | None = None
    original_score: float | None = None
    band: str | None = None
    rules_fired: list[str] = field(default_factory=list)
    cached: bool = False
    image_error: str | None = None
    reranked: bool = True  # False: beyond the window (or the scored depth), OpenSearch order
    # The rules' final score where `final_score` shows another (a pin clamped between its
    # neighbours so scores never rise); explain reports both.
    rules_score: float | None = None


@dataclass(slots=True)
class RerankReport:
    """The response-level `rerank` block (shown with explain)."""

    status: RerankStatus
    model: str | None = None
    reason: str | None = None
    cache_hits: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    query_image_error: str | None = None
    depth: int | None = None  # partial: how many window hits were scored
    # explain: the window hits the rules removed (sidecar.response_shape.removed_entry)
    removed: list[dict[str, Any]] | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # explain-only facts (step aside)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "cache_hits": self.cache_hits,
            "model": self.model,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.query_image_error:
            out["query_image_error"] = self.query_image_error
        if self.depth is not None:
            out["depth"] = self.depth
        if self.removed is not None:
            out["removed"] = self.removed
        out.update(self.notes)
        return out


def shape_response(
    upstream: dict[str, Any],
    page: list[HitOutcome],
    max_score: float | None,
    removed: int,
    report: RerankReport,
    explain: bool,
) -> dict[str, Any]:
    """The client's `page` of the reranked list in OpenSearch's shape; `max_score` is the
    list's best score and `removed` how many window hits the rules took out of it."""
    response = dict(upstream)
    hits_block = dict(response.get("hits") or {})
    hits_block["hits"] = [_shape_hit(o, explain) for o in page]
    hits_block["max_score"] = _round(max_score)
    if "total" in hits_block:
        hits_block["total"] = adjust_total(hits_block["total"], removed)
    response["hits"] = hits_block
    if explain:
        response["rerank"] = report.as_dict()
    return response


def removed_entry(outcome: HitOutcome, title_field: str) -> dict[str, Any]:
    """How explain lists a window hit the rules removed (the console shows it greyed)."""
    hit = outcome.hit
    entry: dict[str, Any] = {
        "_id": hit.get("_id"),
        "_index": hit.get("_index"),
        "model_score": _round(outcome.model_score),
        "final_score": _round(outcome.final_score),
        "rules_fired": list(outcome.rules_fired),
    }
    title = (hit.get("_source") or {}).get(title_field)
    if isinstance(title, str):
        entry["title"] = title
    return entry


def skipped_response(upstream: dict[str, Any], report: RerankReport, explain: bool) -> dict:
    """A pass-through response; with explain it says why reranking was skipped."""
    if not explain:
        return upstream
    return {**upstream, "rerank": report.as_dict()}


def _shape_hit(outcome: HitOutcome, explain: bool) -> dict[str, Any]:
    hit = dict(outcome.hit)
    if outcome.final_score is not None:
        hit["_score"] = _round(outcome.final_score)
    if explain:
        detail: dict[str, Any] = {
            "model_score": _round(outcome.model_score),
            "original_score": outcome.original_score,
            "band": outcome.band,
            "rules_fired": list(outcome.rules_fired),
            "cached": outcome.cached,
        }
        if outcome.rules_score is not None:
            detail["final_score"] = _round(outcome.rules_score)
        if not outcome.reranked:
            detail["beyond_window"] = True
        if outcome.image_error:
            detail["image_error"] = outcome.image_error
        hit["_rerank"] = detail
    return hit


def _round(value: float | None) -> float | None:
    # Scores are reported with 3 decimals (DESIGN §3); keep a little more for tie order.
    return None if value is None else round(float(value), 6)
