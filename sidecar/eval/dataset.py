"""The judged dataset every loader produces: products to index and queries with graded labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class JudgedQuery:
    qid: str
    text: str
    kind: str  # scenario | style | function | visual | ... ("all" when a dataset has none)
    judgments: dict[str, int]  # product id -> grade (0-3); unlisted products count as 0
    # True: only the judged products are candidates (shallow pools such as Home Depot's);
    # every system searches within them, so unjudged products never fill the top 10.
    pooled: bool = False


@dataclass(slots=True)
class JudgedDataset:
    name: str
    # Each product: {"id", "title", "selling_points": [...], ...any fields to index}.
    products: list[dict[str, Any]] = field(default_factory=list)
    queries: list[JudgedQuery] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = [p["id"] for p in self.products]
        if len(set(ids)) != len(ids):
            raise ValueError(f"dataset {self.name}: duplicate product ids")

    def kinds(self) -> list[str]:
        return sorted({q.kind for q in self.queries})
