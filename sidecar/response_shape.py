"""Build the OpenSearch-shaped response from the reranked hits.

Everything OpenSearch said is kept as it said it (took, timed_out, _shards, hits.total,
aggregations, suggest, unknown keys); only `hits.hits` (reordered, sliced to the page),
each hit's `_score` (the final score) and `hits.max_score` change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
    reranked: bool = True  # False: beyond the window, kept in OpenSearch order


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
        return out


def shape_response(
    upstream: dict[str, Any],
    outcomes: list[HitOutcome],
    from_: int,
    size: int,
    report: RerankReport,
    explain: bool,
) -> dict[str, Any]:
    """The client's page `[from_, from_+size)` of `outcomes` in OpenSearch's shape."""
    response = dict(upstream)
    hits_block = dict(response.get("hits") or {})
    page = outcomes[from_ : from_ + size]
    hits_block["hits"] = [_shape_hit(o, explain) for o in page]
    hits_block["max_score"] = _max_score(outcomes)
    response["hits"] = hits_block
    if explain:
        response["rerank"] = report.as_dict()
    return response


def skipped_response(upstream: dict[str, Any], report: RerankReport, explain: bool) -> dict:
    """A pass-through response; with explain it says why reranking was skipped."""
    if not explain:
        return upstream
    return {**upstream, "rerank": report.as_dict()}


def _shape_hit(outcome: HitOutcome, explain: bool) -> dict[str, Any]:
    hit = dict(outcome.hit)
    if outcome.reranked:
        hit["_score"] = _round(outcome.final_score)
    if explain:
        detail: dict[str, Any] = {
            "model_score": _round(outcome.model_score),
            "original_score": outcome.original_score,
            "band": outcome.band,
            "rules_fired": list(outcome.rules_fired),
            "cached": outcome.cached,
        }
        if not outcome.reranked:
            detail["beyond_window"] = True
        if outcome.image_error:
            detail["image_error"] = outcome.image_error
        hit["_rerank"] = detail
    return hit


def _max_score(outcomes: list[HitOutcome]) -> float | None:
    """Max over the reranked window (like OpenSearch, independent of the page)."""
    scores = [o.final_score for o in outcomes if o.reranked and o.final_score is not None]
    if scores:
        return _round(max(scores))
    others = [o.hit.get("_score") for o in outcomes]
    numeric = [s for s in others if isinstance(s, int | float)]
    return max(numeric) if numeric else None


def _round(value: float | None) -> float | None:
    # Scores are reported with 3 decimals (DESIGN §3); keep a little more for tie order.
    return None if value is None else round(float(value), 6)
