"""The catalog's categories: what each sells, in which colours, styles and materials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """Everything the generator may pick for one category (values name vocabulary keys)."""

    key: str
    nouns: tuple[str, ...]  # how listings name the item; the first is the plain word
    seo_tail: str  # the keyword-stuffed tail marketplace sellers append
    price: tuple[float, float]
    colors: tuple[str, ...]
    patterns: tuple[str, ...]  # repeated entries weight the draw
    styles: tuple[str, ...]
    scenarios: tuple[str, ...]
    features: tuple[str, ...]
    materials: tuple[str, ...]
    brands: tuple[str, ...]


CATEGORIES: Final[tuple[CategorySpec, ...]] = (
    CategorySpec(
        key="jacket",
        nouns=("jacket", "coat", "zip jacket", "bomber"),
        seo_tail="Jacket Men Women Casual Jacket Coat Outerwear Jacket",
        price=(39.0, 249.0),
        colors=("black", "navy", "blue", "green", "beige", "red", "grey", "brown", "yellow"),
        patterns=("solid", "solid", "solid", "checked", "checked", "striped"),
        styles=("retro", "minimalist", "classic", "sporty", "streetwear"),
        scenarios=("hiking", "commute", "ski", "festival", "everyday"),
        features=("waterproof", "windproof", "insulated", "packable", "breathable"),
        materials=("denim", "leather", "nylon", "wool", "cotton"),
        brands=("Northpeak", "Urban Thread", "Fjordline", "Redwood & Co", "Stormway"),
    ),
    CategorySpec(
        key="dress",
        nouns=("dress", "maxi dress", "midi dress", "wrap dress", "shift dress"),
        seo_tail="Dress Women Summer Dress Casual Party Dress",
        price=(29.0, 189.0),
        colors=("red", "navy", "black", "white", "yellow", "pink", "green", "beige", "blue"),
        patterns=("solid", "solid", "floral", "floral", "dotted", "striped"),
        styles=("bohemian", "elegant", "minimalist", "retro", "classic"),
        scenarios=("beach_wedding", "office", "cocktail", "everyday"),
        features=("pockets", "wrinkle_free", "stretch"),
        materials=("cotton", "linen", "silk", "chiffon", "polyester"),
        brands=("Maison Lila", "Coastline", "Verano", "Juniper Rose", "Atelier Nine"),
    ),
    CategorySpec(
        key="sneaker",
        nouns=("sneakers", "trainers", "kicks", "low-tops", "shoes"),
        seo_tail="Sneakers Men Women Shoes Sport Shoes Casual Sneakers",
        price=(45.0, 179.0),
        colors=("white", "black", "grey", "red", "blue", "navy", "green", "pink", "orange"),
        patterns=("solid", "solid", "solid", "solid", "striped"),
        styles=("retro", "minimalist", "sporty", "streetwear"),
        scenarios=("running", "gym", "everyday", "travel"),
        features=("breathable", "cushioned", "waterproof", "non_slip", "lightweight"),
        materials=("leather", "mesh", "canvas", "suede"),
        brands=("Stride Lab", "Kinetic", "Paceline", "Oldtown Athletic", "Vela"),
    ),
    CategorySpec(
        key="handbag",
        nouns=("handbag", "tote", "shoulder bag", "crossbody bag", "satchel", "purse"),
        seo_tail="Handbag Women Bag Shoulder Bag Tote Bag Purse",
        price=(35.0, 320.0),
        colors=("black", "brown", "beige", "red", "white", "pink", "navy", "green", "yellow"),
        patterns=("solid", "solid", "solid", "striped", "checked", "floral"),
        styles=("retro", "minimalist", "elegant", "bohemian", "classic"),
        scenarios=("office", "cocktail", "travel", "everyday", "beach"),
        features=("anti_theft", "water_resistant", "laptop", "lightweight"),
        materials=("leather", "canvas", "straw", "suede"),
        brands=("Maison Lila", "Carrow", "Belle Rue", "Harbor Goods", "Atelier Nine"),
    ),
    CategorySpec(
        key="backpack",
        nouns=("backpack", "daypack", "rucksack", "pack", "knapsack", "bag"),
        seo_tail="Backpack Bag Men Women Backpack Daypack Rucksack",
        price=(29.0, 219.0),
        colors=("black", "grey", "navy", "green", "orange", "red", "blue", "beige", "yellow"),
        patterns=("solid", "solid", "solid", "checked", "striped"),
        styles=("minimalist", "sporty", "classic", "streetwear", "retro"),
        scenarios=("hiking", "school", "business_travel", "everyday", "commute"),
        features=("waterproof", "laptop", "anti_theft", "lightweight", "hydration"),
        materials=("nylon", "canvas", "polyester", "leather"),
        brands=("Northpeak", "Trailhaus", "Carrow", "Stormway", "Kinetic"),
    ),
    CategorySpec(
        key="mug",
        nouns=("mug", "coffee mug", "cup", "tea mug"),
        seo_tail="Mug Coffee Mug Tea Cup Coffee Cup Mug Gift",
        price=(9.0, 45.0),
        colors=("white", "red", "blue", "yellow", "green", "pink", "black", "beige", "orange"),
        patterns=("solid", "solid", "striped", "dotted", "floral", "checked"),
        styles=("retro", "minimalist", "rustic", "cute", "scandinavian"),
        scenarios=("office", "camping", "gift", "everyday"),
        features=("insulated", "dishwasher_safe", "microwave_safe", "spill_proof"),
        materials=("ceramic", "steel", "enamel", "glass"),
        brands=("Kiln & Co", "Morning Ritual", "Ember Goods", "Harbor Goods", "Nordhem"),
    ),
    CategorySpec(
        key="lamp",
        nouns=("lamp", "table lamp", "light", "accent lamp"),
        seo_tail="Lamp Table Lamp Light LED Lamp Home Decor Lamp",
        price=(25.0, 260.0),
        colors=("white", "black", "beige", "grey", "yellow", "green", "orange", "navy", "pink"),
        patterns=("solid", "solid", "solid", "striped", "checked"),
        styles=("scandinavian", "industrial", "retro", "minimalist"),
        scenarios=("reading", "bedroom", "desk", "living_room"),
        features=("dimmable", "usb", "adjustable", "warm_light"),
        materials=("metal", "wood", "rattan", "ceramic"),
        brands=("Nordhem", "Lumen House", "Ember Goods", "Forge & Filament", "Solvik"),
    ),
    CategorySpec(
        key="tshirt",
        nouns=("t-shirt", "tee", "top", "crew-neck tee", "shirt", "graphic tee"),
        seo_tail="T-Shirt Men Women Tee Shirt Cotton T-Shirt Top",
        price=(12.0, 59.0),
        colors=("white", "black", "grey", "navy", "red", "green", "yellow", "pink", "blue"),
        patterns=("solid", "solid", "solid", "striped", "striped", "floral"),
        styles=("retro", "minimalist", "streetwear", "sporty", "classic"),
        scenarios=("gym", "beach", "everyday", "festival"),
        features=("moisture_wicking", "quick_dry", "uv", "stretch"),
        materials=("cotton", "linen", "polyester"),
        brands=("Urban Thread", "Kinetic", "Verano", "Coastline", "Paceline"),
    ),
)

CATEGORY_BY_KEY: Final = {spec.key: spec for spec in CATEGORIES}


def category(key: str) -> CategorySpec:
    """The spec of a category key; a clear error for an unknown one."""
    try:
        return CATEGORY_BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown category {key!r}; known: {sorted(CATEGORY_BY_KEY)}") from None
