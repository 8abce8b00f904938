"""Conditions that boosts test against the model score and a hit's `_source` fields."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.hydrate import get_field

_MISSING = object()


class _Comparisons(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def _compare(self, value: float) -> bool:
        return (
            (self.gt is None or value > self.gt)
            and (self.gte is None or value >= self.gte)
            and (self.lt is None or value < self.lt)
            and (self.lte is None or value <= self.lte)
        )


class ScoreCondition(_Comparisons):
    """Bounds on the model score, e.g. `{gt: 0.75}`; every bound given must hold."""

    @model_validator(mode="after")
    def _needs_a_bound(self) -> ScoreCondition:
        if not self.model_fields_set:
            raise ValueError("a model_score condition needs at least one of gt, gte, lt, lte")
        return self

    def matches(self, score: float | None) -> bool:
        return score is not None and self._compare(score)


class FieldCondition(_Comparisons):
    """Tests on one `_source` field; every operator given must hold.

    `eq` and `in` compare values (on a list field, any element may match); `gt`/`gte`/`lt`/
    `lte` need a number (numeric strings count); `exists: true` needs a non-null, non-empty
    value and `exists: false` its absence. A missing field fails every operator but
    `exists: false`.
    """

    eq: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    exists: bool | None = None

    @model_validator(mode="after")
    def _needs_an_operator(self) -> FieldCondition:
        if not self.model_fields_set:
            raise ValueError(
                "a source field condition needs at least one of eq, in, gt, gte, lt, lte, exists"
            )
        return self

    def matches(self, source: dict[str, Any], path: str) -> bool:
        value = lookup(source, path)
        present = value is not _MISSING and value is not None and value != []
        if self.exists is not None and self.exists != present:
            return False
        if not present:
            return self.model_fields_set == {"exists"}
        values = value if isinstance(value, list) else [value]
        if "eq" in self.model_fields_set and self.eq not in values:
            return False
        if self.in_ is not None and not any(v in self.in_ for v in values):
            return False
        if {"gt", "gte", "lt", "lte"} & self.model_fields_set:
            number = as_number(value)
            return number is not None and self._compare(number)
        return True


def lookup(source: dict[str, Any], path: str) -> Any:
    """The value at `path`, or _MISSING (a present null is not a missing field)."""
    return get_field(source, path, _MISSING)


def as_number(value: Any) -> float | None:
    """A finite float from an int, float or numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # not a number, or an int beyond float range
        return None
    return number if math.isfinite(number) else None
