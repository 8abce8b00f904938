"""The schema of one YAML rules file (see config/rules.example.yaml)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from sidecar.rules.conditions import FieldCondition, ScoreCondition
from sidecar.rules.errors import describe_validation_error
from sidecar.rules.query_rules import Hide, Pin, RuleId
from sidecar.rules.types import RankedHit

Score = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bands(_Strict):
    """Score bands: `strong` at or above `strong`, `medium` at or above `medium`, else weak."""

    strong: Score = 0.75
    medium: Score = 0.55

    @model_validator(mode="after")
    def _ordered(self) -> Bands:
        if self.medium > self.strong:
            raise ValueError(f"medium ({self.medium}) must not exceed strong ({self.strong})")
        return self

    def band(self, score: float) -> str:
        if score >= self.strong:
            return "strong"
        return "medium" if score >= self.medium else "weak"


class BandLimits(_Strict):
    """Band limits to change per index; the ones left out keep their global value."""

    strong: Score | None = None
    medium: Score | None = None


class Blend(_Strict):
    """final = (1 - weight) * model score + weight * min-max normalized OpenSearch score."""

    id: RuleId = "blend"
    weight: Score


class Boost(_Strict):
    """Multiply the score of hits meeting every condition by `factor`.

    A factor above 1 raises the score to at most `max_score` (it never lowers a score that
    is already above the cap); a factor below 1 demotes and ignores the cap.
    """

    id: RuleId
    model_score: ScoreCondition | None = None
    source: dict[str, FieldCondition] = Field(default_factory=dict)
    factor: float = Field(gt=0.0, le=100.0)
    max_score: float = Field(default=1.0, gt=0.0, le=1.0)

    def applies(self, hit: RankedHit) -> bool:
        if self.model_score is not None and not self.model_score.matches(hit.model_score):
            return False
        return all(cond.matches(hit.source, path) for path, cond in self.source.items())

    def apply(self, score: float) -> float:
        boosted = score * self.factor
        if self.factor >= 1.0:
            return max(score, min(boosted, self.max_score))
        return boosted


class RuleOverride(_Strict):
    """Per-index changes merged over the global rules: scalars and blend replace, band limits
    replace one by one, rules with a known id replace it in place, new ids are appended,
    and `disable` drops global rules by id."""

    min_score: Score | None = None
    bands: BandLimits = Field(default_factory=BandLimits)
    blend: Blend | None = None
    boosts: list[Boost] = Field(default_factory=list)
    pins: list[Pin] = Field(default_factory=list)
    hides: list[Hide] = Field(default_factory=list)
    disable: list[RuleId] = Field(default_factory=list)


class RuleSet(_Strict):
    """All business rules: the global ones plus per-index overrides."""

    min_score: Score = 0.4
    bands: Bands = Field(default_factory=Bands)
    blend: Blend | None = None
    boosts: list[Boost] = Field(default_factory=list)
    pins: list[Pin] = Field(default_factory=list)
    hides: list[Hide] = Field(default_factory=list)
    per_index: dict[str, RuleOverride] = Field(default_factory=dict)
    _effective: dict[str, RuleSet] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_ids_and_merge(self) -> RuleSet:
        repeated = sorted(i for i, n in Counter(self.rule_ids()).items() if n > 1)
        if repeated:
            raise ValueError(f"rule ids must be unique, repeated: {', '.join(repeated)}")
        for index, override in self.per_index.items():
            try:
                self._effective[index] = _merge(self, override)
            except ValidationError as exc:
                detail = describe_validation_error(exc).replace("\n", "; ")
                raise ValueError(f"per_index.{index}: {detail}") from None
            except ValueError as exc:
                raise ValueError(f"per_index.{index}: {exc}") from None
        return self

    def rule_ids(self) -> list[str]:
        ids = [rule.id for rules in (self.boosts, self.pins, self.hides) for rule in rules]
        return ids + ([self.blend.id] if self.blend else [])

    def for_index(self, index: str) -> RuleSet:
        """The rules in force for `index`: the global rules with its override merged in."""
        return self._effective.get(index, self)


def _merge(base: RuleSet, override: RuleOverride) -> RuleSet:
    disabled = set(override.disable)
    unknown = sorted(disabled - set(base.rule_ids()))
    if unknown:
        raise ValueError(f"disable names unknown rule ids: {', '.join(unknown)}")
    blend = override.blend if "blend" in override.model_fields_set else base.blend
    limits = base.bands.model_dump() | override.bands.model_dump(exclude_none=True)
    return RuleSet(
        min_score=base.min_score if override.min_score is None else override.min_score,
        bands=Bands.model_validate(limits),
        blend=None if blend is None or blend.id in disabled else blend,
        boosts=_merge_rules(base.boosts, override.boosts, disabled),
        pins=_merge_rules(base.pins, override.pins, disabled),
        hides=_merge_rules(base.hides, override.hides, disabled),
    )


R = TypeVar("R", Boost, Pin, Hide)


def _merge_rules(base: list[R], extra: list[R], disabled: set[str]) -> list[R]:
    """Base rules in order (an extra rule with the same id replaces it), then new extras."""
    replacements = {rule.id: rule for rule in extra}
    merged = [replacements.pop(rule.id, rule) for rule in base if rule.id not in disabled]
    return merged + list(replacements.values())
