"""Business rules: thresholds, bands, blend, boosts, pins and hides, loaded from YAML."""

from sidecar.rules.engine import RulesOutcome, apply_rules, apply_rules_detailed
from sidecar.rules.errors import RulesError
from sidecar.rules.models import Bands, Blend, Boost, RuleOverride, RuleSet
from sidecar.rules.query_rules import Hide, Pin
from sidecar.rules.store import RulesStore, load_rules_file, parse_rules
from sidecar.rules.types import RankedHit

__all__ = [
    "Bands",
    "Blend",
    "Boost",
    "Hide",
    "Pin",
    "RankedHit",
    "RuleOverride",
    "RuleSet",
    "RulesError",
    "RulesOutcome",
    "RulesStore",
    "apply_rules",
    "apply_rules_detailed",
    "load_rules_file",
    "parse_rules",
]
