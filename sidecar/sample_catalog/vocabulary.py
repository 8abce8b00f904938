"""Attribute values and the many ways a product listing words them.

Each attribute value maps to phrases; the first phrase is the canonical word a shopper
would type. Listings pick phrases at random, so the same intent shows up as "retro",
"vintage" or "90s-inspired" - which is exactly where lexical search stumbles and a
semantic model does not.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# name -> (RGB used by the image painter, phrases used by the text writer)
COLORS: Final = MappingProxyType(
    {
        "red": ((200, 30, 40), ("red", "crimson", "cherry red", "scarlet")),
        "blue": ((40, 90, 200), ("blue", "cobalt", "royal blue", "denim blue")),
        "navy": ((25, 35, 85), ("navy", "midnight blue", "dark navy", "ink blue")),
        "black": ((25, 25, 25), ("black", "jet black", "onyx", "all-black")),
        "white": ((250, 250, 250), ("white", "ivory", "snow white", "off-white")),
        "green": ((40, 140, 70), ("green", "forest green", "emerald", "pine green")),
        "yellow": ((240, 200, 40), ("yellow", "mustard", "sunflower yellow", "lemon")),
        "pink": ((240, 140, 180), ("pink", "blush", "rose", "pastel pink")),
        "beige": ((215, 195, 160), ("beige", "sand", "camel", "oatmeal")),
        "grey": ((130, 130, 135), ("grey", "heather grey", "slate", "ash grey")),
        "brown": ((120, 72, 40), ("brown", "chocolate", "cognac", "walnut brown")),
        "orange": ((240, 120, 30), ("orange", "burnt orange", "tangerine", "rust")),
    }
)

PATTERNS: Final = MappingProxyType(
    {
        "solid": ("solid", "plain", "block-colour", "single-tone"),
        "striped": ("striped", "breton-stripe", "stripe", "banded"),
        "checked": ("checked", "plaid", "gingham", "tartan"),
        "dotted": ("polka dot", "dotted", "spotted", "pin-dot"),
        "floral": ("floral", "flower-print", "botanical", "blossom print"),
    }
)

STYLES: Final = MappingProxyType(
    {
        "retro": ("retro", "vintage", "90s-inspired", "throwback", "old-school", "heritage"),
        "minimalist": ("minimalist", "clean-line", "understated", "pared-back", "essential"),
        "elegant": ("elegant", "refined", "sophisticated", "graceful", "polished"),
        "bohemian": ("bohemian", "boho", "free-spirited", "folk-inspired", "peasant-style"),
        "sporty": ("sporty", "athletic", "performance", "active", "training-ready"),
        "streetwear": ("streetwear", "urban", "skate-inspired", "oversized street", "hype"),
        "rustic": ("rustic", "farmhouse", "country-kitchen", "hand-thrown", "earthy"),
        "industrial": ("industrial", "loft-style", "exposed-bulb", "factory-inspired"),
        "scandinavian": ("scandinavian", "nordic", "scandi", "hygge", "danish-inspired"),
        "classic": ("classic", "timeless", "traditional", "evergreen", "signature"),
        "cute": ("cute", "playful", "whimsical", "kawaii", "charming"),
    }
)

# Scenario phrases read naturally after "for" / "made for".
SCENARIOS: Final = MappingProxyType(
    {
        "hiking": ("hiking", "trail days", "mountain treks", "trekking", "backcountry walks"),
        "commute": ("commuting", "the daily commute", "city cycling", "getting to work"),
        "ski": ("skiing", "the slopes", "ski trips", "snowboarding", "alpine holidays"),
        "festival": ("festivals", "music festivals", "open-air concerts", "festival season"),
        "everyday": ("everyday wear", "daily use", "lazy weekends", "running errands"),
        "beach_wedding": (
            "beach weddings",
            "seaside ceremonies",
            "destination weddings",
            "vows on the sand",
            "coastal wedding guests",
        ),
        "office": ("the office", "work days", "business meetings", "the boardroom", "9-to-5"),
        "cocktail": ("cocktail parties", "evening events", "date nights", "dinner parties"),
        "running": ("running", "marathon training", "jogging", "road races", "10k runs"),
        "gym": ("the gym", "workouts", "cross-training", "HIIT sessions", "weight training"),
        "travel": ("travel", "city breaks", "sightseeing", "long walks abroad", "vacations"),
        "school": ("school", "campus", "the classroom", "college", "students"),
        "camping": ("camping", "campfires", "outdoor cooking", "van life", "overnight trips"),
        "gift": ("gifts", "coffee lovers", "birthday presents", "housewarming gifts"),
        "reading": ("reading", "late-night reading", "book nooks", "curling up with a novel"),
        "bedroom": ("bedside tables", "the bedroom", "nightstands", "bedtime"),
        "desk": ("home office desks", "study desks", "working from home", "desk work"),
        "living_room": ("living rooms", "lounge corners", "sofa side", "family rooms"),
        "beach": ("the beach", "beach days", "poolside lounging", "seaside holidays"),
        "business_travel": ("business trips", "work travel", "airport lounges", "client visits"),
    }
)

FEATURES: Final = MappingProxyType(
    {
        "waterproof": ("waterproof", "rain-proof", "storm-proof", "seam-sealed storm shell"),
        "windproof": ("windproof", "wind-blocking", "gust-resistant", "stops chilly gusts"),
        "insulated": ("insulated", "thermal", "keeps heat in for hours", "heat-locking"),
        "packable": ("packable", "folds into its own pocket", "stuffs into a pouch"),
        "breathable": ("breathable", "airy mesh ventilation", "ventilated", "stays cool"),
        "cushioned": ("cushioned", "plush foam midsole", "springy cushioning", "shock-absorbing"),
        "lightweight": ("lightweight", "featherlight", "ultralight", "weighs almost nothing"),
        "non_slip": ("non-slip", "grippy outsole", "slip-resistant", "sure-footed tread"),
        "pockets": ("pockets", "side pockets", "hidden seam pockets", "deep pockets"),
        "wrinkle_free": ("wrinkle-resistant", "crease-free", "no ironing needed"),
        "stretch": ("stretch", "stretchy", "four-way stretch", "flexible fit"),
        "anti_theft": ("anti-theft", "lockable zippers", "RFID-blocking", "pickpocket-proof"),
        "laptop": ("laptop compartment", "padded 15-inch sleeve", "fits a 16-inch notebook"),
        "hydration": ("hydration-ready", "bladder sleeve", "water reservoir compatible"),
        "dishwasher_safe": ("dishwasher safe", "dishwasher-friendly", "goes in the dishwasher"),
        "microwave_safe": ("microwave safe", "microwave-friendly", "reheat in the microwave"),
        "spill_proof": ("spill-proof lid", "leak-proof", "sealed slider lid"),
        "dimmable": ("dimmable", "adjustable brightness", "stepless dimming", "touch dimmer"),
        "usb": ("USB charging port", "built-in USB port", "charges your phone"),
        "adjustable": ("adjustable arm", "swing arm", "tilting head", "articulated neck"),
        "warm_light": ("warm light", "cozy 2700K glow", "soft amber light"),
        "moisture_wicking": ("moisture-wicking", "sweat-wicking", "dry-fit"),
        "quick_dry": ("quick-dry", "fast-drying", "dries in minutes"),
        "uv": ("UV protection", "UPF 50+", "sun-protective"),
        "water_resistant": ("water-repellent", "shower-resistant", "splash-proof"),
    }
)

MATERIALS: Final = MappingProxyType(
    {
        "denim": ("denim", "washed denim", "selvedge denim", "jean"),
        "leather": ("leather", "full-grain leather", "nappa leather", "genuine leather"),
        "nylon": ("nylon", "ripstop nylon", "technical nylon"),
        "wool": ("wool", "merino wool", "wool-blend"),
        "cotton": ("cotton", "organic cotton", "cotton jersey"),
        "linen": ("linen", "washed linen", "linen-blend"),
        "silk": ("silk", "mulberry silk", "silk satin"),
        "chiffon": ("chiffon", "sheer chiffon", "georgette"),
        "mesh": ("mesh", "engineered knit", "knit mesh"),
        "canvas": ("canvas", "waxed canvas", "cotton canvas"),
        "suede": ("suede", "brushed suede", "nubuck"),
        "straw": ("straw", "woven raffia", "seagrass"),
        "ceramic": ("ceramic", "stoneware", "porcelain"),
        "steel": ("stainless steel", "steel", "brushed steel"),
        "enamel": ("enamel", "enamelware", "enamelled steel"),
        "glass": ("glass", "borosilicate glass", "clear glass"),
        "metal": ("metal", "powder-coated steel", "brass"),
        "wood": ("wood", "solid oak", "walnut wood"),
        "rattan": ("rattan", "wicker", "woven cane"),
        "polyester": ("polyester", "recycled polyester", "poly-blend"),
    }
)

# Attribute name -> phrase bank, for the text writer.
PHRASE_BANKS: Final = MappingProxyType(
    {
        "color": MappingProxyType({k: v[1] for k, v in COLORS.items()}),
        "pattern": PATTERNS,
        "style": STYLES,
        "scenario": SCENARIOS,
        "feature": FEATURES,
        "material": MATERIALS,
    }
)


def color_rgb(name: str) -> tuple[int, int, int]:
    """The painter's RGB for a colour name."""
    try:
        return COLORS[name][0]
    except KeyError:
        raise ValueError(f"unknown colour {name!r}") from None
