"""Shopper queries with graded relevance computed from the generator's ground truth.

Grades: 3 = the product meets every part of the intent, 2 = the right kind of product
meeting most of it, 1 = the right kind of product only, 0 = anything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from sidecar.sample_catalog.categories import category
from sidecar.sample_catalog.vocabulary import PHRASE_BANKS

if TYPE_CHECKING:
    from sidecar.sample_catalog.products import Product

QueryKind = Literal["scenario", "style", "function", "visual"]
QUERY_KINDS: Final[tuple[QueryKind, ...]] = ("scenario", "style", "function", "visual")


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A query's text and the intent behind it (attribute -> required value)."""

    qid: str
    text: str
    kind: QueryKind
    categories: tuple[str, ...]
    attrs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JudgedQuery:
    """A query with graded judgments; products not listed are graded 0."""

    qid: str
    text: str
    kind: QueryKind
    judgments: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"qid": self.qid, "text": self.text, "kind": self.kind, "judgments": self.judgments}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> JudgedQuery:
        kind = raw["kind"]
        if kind not in QUERY_KINDS:
            raise ValueError(f"query {raw.get('qid')!r}: unknown kind {kind!r}")
        judgments = {str(k): int(v) for k, v in raw["judgments"].items()}
        return cls(qid=str(raw["qid"]), text=str(raw["text"]), kind=kind, judgments=judgments)


def _q(qid: str, text: str, kind: QueryKind, cats: str, **attrs: str) -> QuerySpec:
    return QuerySpec(qid, text, kind, tuple(cats.split()), attrs)


QUERY_SPECS: Final[tuple[QuerySpec, ...]] = (
    _q("q01", "outfit for a beach wedding", "scenario", "dress", scenario="beach_wedding"),
    _q("q02", "jacket for a ski trip", "scenario", "jacket", scenario="ski"),
    _q("q03", "shoes for marathon training", "scenario", "sneaker", scenario="running"),
    _q("q04", "handbag for work meetings", "scenario", "handbag", scenario="office"),
    _q("q05", "backpack for the first day of school", "scenario", "backpack", scenario="school"),
    _q("q06", "mug to take camping", "scenario", "mug", scenario="camping"),
    _q("q07", "gift for a coffee lover", "scenario", "mug", scenario="gift"),
    _q("q08", "lamp for reading in bed", "scenario", "lamp", scenario="reading"),
    _q("q09", "light for my home office", "scenario", "lamp", scenario="desk"),
    _q("q10", "dress for a cocktail party", "scenario", "dress", scenario="cocktail"),
    _q("q11", "shirt to work out in at the gym", "scenario", "tshirt", scenario="gym"),
    _q("q12", "comfortable shoes for sightseeing", "scenario", "sneaker", scenario="travel"),
    _q("q13", "what to wear to a music festival", "scenario", "tshirt jacket", scenario="festival"),
    _q("q14", "retro denim jacket", "style", "jacket", style="retro", material="denim"),
    _q("q15", "minimalist white sneakers", "style", "sneaker", style="minimalist", color="white"),
    _q("q16", "bohemian summer dress", "style", "dress", style="bohemian"),
    _q("q17", "vintage leather handbag", "style", "handbag", style="retro", material="leather"),
    _q("q18", "scandinavian table lamp", "style", "lamp", style="scandinavian"),
    _q("q19", "industrial metal lamp", "style", "lamp", style="industrial", material="metal"),
    _q("q20", "elegant silk dress", "style", "dress", style="elegant", material="silk"),
    _q("q21", "rustic stoneware mug", "style", "mug", style="rustic", material="ceramic"),
    _q("q22", "streetwear tee", "style", "tshirt", style="streetwear"),
    _q("q23", "old school sneakers", "style", "sneaker", style="retro"),
    _q("q24", "minimalist backpack", "style", "backpack", style="minimalist"),
    _q("q25", "cute mug", "style", "mug", style="cute"),
    _q(
        "q26",
        "waterproof hiking backpack",
        "function",
        "backpack",
        feature="waterproof",
        scenario="hiking",
    ),
    _q("q27", "insulated mug that keeps coffee hot", "function", "mug", feature="insulated"),
    _q(
        "q28",
        "breathable running shoes",
        "function",
        "sneaker",
        feature="breathable",
        scenario="running",
    ),
    _q("q29", "windproof jacket", "function", "jacket", feature="windproof"),
    _q("q30", "dimmable bedside lamp", "function", "lamp", feature="dimmable", scenario="bedroom"),
    _q(
        "q31",
        "anti-theft bag for travel",
        "function",
        "handbag",
        feature="anti_theft",
        scenario="travel",
    ),
    _q("q32", "dishwasher safe mug", "function", "mug", feature="dishwasher_safe"),
    _q("q33", "backpack with a laptop compartment", "function", "backpack", feature="laptop"),
    _q("q34", "rain jacket that keeps me dry", "function", "jacket", feature="waterproof"),
    _q("q35", "dress with pockets", "function", "dress", feature="pockets"),
    _q("q36", "sweat wicking workout tee", "function", "tshirt", feature="moisture_wicking"),
    _q("q37", "lamp with usb charging port", "function", "lamp", feature="usb"),
    _q("q38", "red striped mug", "visual", "mug", color="red", pattern="striped"),
    _q("q39", "navy polka dot dress", "visual", "dress", color="navy", pattern="dotted"),
    _q("q40", "green plaid jacket", "visual", "jacket", color="green", pattern="checked"),
    _q("q41", "yellow floral dress", "visual", "dress", color="yellow", pattern="floral"),
    _q("q42", "black leather handbag", "visual", "handbag", color="black", material="leather"),
    _q("q43", "white sneakers", "visual", "sneaker", color="white"),
    _q("q44", "pink striped t-shirt", "visual", "tshirt", color="pink", pattern="striped"),
    _q("q45", "orange backpack", "visual", "backpack", color="orange"),
    _q("q46", "floral mug", "visual", "mug", pattern="floral"),
    _q(
        "q47", "white lamp with a striped shade", "visual", "lamp", color="white", pattern="striped"
    ),
    _q("q48", "black striped tee", "visual", "tshirt", color="black", pattern="striped"),
)


def _allowed(category_key: str, attr: str) -> tuple[str, ...]:
    spec = category(category_key)
    table = {
        "color": spec.colors,
        "pattern": spec.patterns,
        "style": spec.styles,
        "scenario": spec.scenarios,
        "feature": spec.features,
        "material": spec.materials,
    }
    if attr not in table:
        raise ValueError(f"unknown attribute {attr!r}")
    return table[attr]


def validate_specs(specs: Iterable[QuerySpec]) -> None:
    """Every query must ask for values its categories can actually have."""
    seen: set[str] = set()
    for spec in specs:
        if spec.qid in seen:
            raise ValueError(f"duplicate query id {spec.qid}")
        seen.add(spec.qid)
        for key in spec.categories:
            for attr, value in spec.attrs.items():
                if value not in PHRASE_BANKS[attr] or value not in _allowed(key, attr):
                    raise ValueError(f"{spec.qid}: {key} cannot have {attr}={value!r}")


def matches(product: Product, attr: str, value: str) -> bool:
    """Whether a product has an attribute value (features are a set, the rest single)."""
    if attr == "feature":
        return value in product.features
    return bool(getattr(product, attr) == value)


def grade(spec: QuerySpec, product: Product) -> int:
    """The 0-3 grade of one product for one query."""
    if product.category not in spec.categories:
        return 0
    wanted = len(spec.attrs)
    hit = sum(matches(product, attr, value) for attr, value in spec.attrs.items())
    if hit == wanted:
        return 3
    if wanted >= 2 and 2 * hit >= wanted:
        return 2
    return 1


def judge(specs: Iterable[QuerySpec], products: Iterable[Product]) -> list[JudgedQuery]:
    """Graded judgments (grade >= 1 only) for every query spec."""
    catalog = list(products)
    judged: list[JudgedQuery] = []
    for spec in specs:
        grades = {p.id: g for p in catalog if (g := grade(spec, p)) >= 1}
        judged.append(JudgedQuery(spec.qid, spec.text, spec.kind, dict(sorted(grades.items()))))
    return judged
