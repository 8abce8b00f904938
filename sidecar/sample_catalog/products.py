"""Products: ground-truth attributes drawn with a fixed seed, then written up as listings."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from sidecar.sample_catalog.categories import CATEGORIES, CategorySpec, category
from sidecar.sample_catalog.listing import write_listing
from sidecar.sample_catalog.queries import QuerySpec

PER_CATEGORY: Final = 45
PLANTED_PER_QUERY: Final = 3  # products made to meet a query's whole intent
SEO_TITLE_SHARE: Final = 0.2

# Materials that only come in their natural colours.
_MATERIAL_COLORS: Final = {
    "denim": ("blue", "navy", "black", "grey"),
    "straw": ("beige", "brown", "yellow"),
    "rattan": ("beige", "brown"),
    "wood": ("brown", "beige"),
}

# Fabrics that cannot honestly be sold as waterproof.
_NOT_WATERPROOF: Final = frozenset({"denim", "cotton", "wool", "suede", "linen", "mesh", "canvas"})


@dataclass(frozen=True, slots=True)
class Product:
    """One catalog product with the attributes the judgments are computed from."""

    id: str
    title: str
    selling_points: tuple[str, ...]
    brand: str
    price: float
    sales: int
    rating: float
    category: str
    color: str
    pattern: str
    style: str
    scenario: str
    material: str
    features: tuple[str, ...]
    image_path: str

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["selling_points"] = list(self.selling_points)
        raw["features"] = list(self.features)
        return raw

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Product:
        try:
            fields = dict(raw)
            fields["selling_points"] = tuple(fields["selling_points"])
            fields["features"] = tuple(fields["features"])
            return cls(**fields)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad product record {raw.get('id')!r}: {exc}") from exc


def _compatible(material: str, color: str, feature: str | None = None) -> bool:
    if feature == "waterproof" and material in _NOT_WATERPROOF:
        return False
    return color in _MATERIAL_COLORS.get(material, (color,))


def _draw_attrs(
    rng: random.Random, spec: CategorySpec, fixed: Mapping[str, str]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Attribute values (and features), honouring `fixed` and material/colour sense."""
    attrs = {
        "pattern": fixed.get("pattern") or rng.choice(spec.patterns),
        "style": fixed.get("style") or rng.choice(spec.styles),
        "scenario": fixed.get("scenario") or rng.choice(spec.scenarios),
    }
    if "material" in fixed:
        material = fixed["material"]
        colors = [c for c in spec.colors if _compatible(material, c)]
        color = fixed.get("color") or rng.choice(colors)
    else:
        color = fixed.get("color") or rng.choice(spec.colors)
        wanted = fixed.get("feature")
        material = rng.choice([m for m in spec.materials if _compatible(m, color, wanted)])
    attrs |= {"color": color, "material": material}
    count = rng.choice((1, 1, 2))
    features = [fixed["feature"]] if "feature" in fixed else []
    others = [f for f in spec.features if f not in features and _compatible(material, color, f)]
    features += rng.sample(others, k=max(0, count - len(features)))
    return attrs, tuple(features)


def _numbers(rng: random.Random, spec: CategorySpec) -> tuple[float, int, float]:
    low, high = spec.price
    price = math.floor(rng.uniform(low, high)) + 0.99
    sales = int(math.exp(rng.gauss(5.0, 1.6)))
    rating = round(min(5.0, max(2.5, rng.gauss(4.3, 0.4))), 1)
    return price, sales, rating


def _make(rng: random.Random, spec: CategorySpec, fixed: Mapping[str, str], pid: str) -> Product:
    attrs, features = _draw_attrs(rng, spec, fixed)
    brand = rng.choice(spec.brands)
    seo = not fixed and rng.random() < SEO_TITLE_SHARE
    title, bullets = write_listing(rng, spec, brand, attrs, features, seo_title=seo)
    price, sales, rating = _numbers(rng, spec)
    return Product(
        id=pid,
        title=title,
        selling_points=tuple(bullets),
        brand=brand,
        price=price,
        sales=sales,
        rating=rating,
        category=spec.key,
        features=features,
        image_path=f"images/{pid}.png",
        **attrs,
    )


def _plan(
    rng: random.Random, specs: Iterable[QuerySpec]
) -> list[tuple[CategorySpec, dict[str, str]]]:
    """(category, fixed attributes) for every product: planted ones first, then fillers."""
    plan: list[tuple[CategorySpec, dict[str, str]]] = []
    for query in specs:
        for i in range(PLANTED_PER_QUERY):
            key = query.categories[i % len(query.categories)]
            plan.append((category(key), dict(query.attrs)))
    for spec in CATEGORIES:
        planted = sum(1 for s, _ in plan if s is spec)
        if planted > PER_CATEGORY:
            raise ValueError(f"{spec.key}: {planted} planted products exceed {PER_CATEGORY}")
        plan += [(spec, {})] * (PER_CATEGORY - planted)
    rng.shuffle(plan)  # ids must not reveal which products were planted
    return plan


def generate_products(seed: int, specs: Iterable[QuerySpec]) -> list[Product]:
    """The whole catalog, deterministic for a seed."""
    rng = random.Random(seed)
    plan = _plan(rng, specs)
    return [_make(rng, spec, fixed, f"p{i:04d}") for i, (spec, fixed) in enumerate(plan, 1)]
