"""The hit shape that business rules read and write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RankedHit:
    """One search hit on its way through the rules.

    `model_score` is the reranker's score in [0, 1] (None when the model was not consulted),
    `original_score` the OpenSearch `_score`, `final_score` the score the response reports.
    `band` is "strong", "medium" or "weak" once rules ran on model scores, and `rules_fired`
    lists the ids of the rules that changed or placed this hit, in the order they fired.
    """

    doc_id: str
    source: dict[str, Any]
    model_score: float | None
    original_score: float | None
    final_score: float
    band: str | None = None
    rules_fired: list[str] = field(default_factory=list)
