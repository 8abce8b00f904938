"""Product photos drawn with Pillow: the category's silhouette in the listing's colour and pattern.

The body of the item is painted in the product colour with the pattern in a contrasting
tone covering well under half of it, so the most common non-background pixel is always
the product colour - what makes image-text matching checkable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from PIL import Image, ImageDraw

from sidecar.sample_catalog.vocabulary import color_rgb

SIZE: Final = 256
BACKGROUND: Final = (228, 234, 242)
HARDWARE: Final = (70, 70, 74)  # soles' rims, lamp stems and bases, zips
RGB = tuple[int, int, int]
Shape = Callable[[ImageDraw.ImageDraw], None]


def pattern_ink(base: RGB) -> RGB:
    """The contrasting tone a pattern is printed in: white on dark, a deep shade on light."""
    luminance = 0.299 * base[0] + 0.587 * base[1] + 0.114 * base[2]
    if luminance < 140:
        return (245, 245, 245)
    return (int(base[0] * 0.45), int(base[1] * 0.45), int(base[2] * 0.45))


def _paint_pattern(draw: ImageDraw.ImageDraw, pattern: str, base: RGB) -> None:
    ink = pattern_ink(base)
    if pattern == "striped":
        for y in range(0, SIZE, 24):
            draw.rectangle((0, y, SIZE, y + 7), fill=ink)
    elif pattern == "checked":
        for v in range(0, SIZE, 26):
            draw.rectangle((v, 0, v + 4, SIZE), fill=ink)
            draw.rectangle((0, v, SIZE, v + 4), fill=ink)
    elif pattern == "dotted":
        for row, y in enumerate(range(6, SIZE, 22)):
            for x in range(6 + 11 * (row % 2), SIZE, 22):
                draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=ink)
    elif pattern == "floral":
        heart = (250, 200, 40) if base != color_rgb("yellow") else (200, 60, 40)
        for row, y in enumerate(range(16, SIZE, 40)):
            for x in range(16 + 20 * (row % 2), SIZE, 40):
                for dx, dy in ((0, -6), (6, -2), (4, 5), (-4, 5), (-6, -2)):
                    draw.ellipse((x + dx - 5, y + dy - 5, x + dx + 5, y + dy + 5), fill=ink)
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=heart)
    elif pattern != "solid":
        raise ValueError(f"unknown pattern {pattern!r}")


def _jacket(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((80, 58, 176, 222), fill=255)
    d.polygon([(80, 58), (44, 90), (34, 206), (62, 206), (80, 110)], fill=255)
    d.polygon([(176, 58), (212, 90), (222, 206), (194, 206), (176, 110)], fill=255)


def _tshirt(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((84, 66, 172, 222), fill=255)
    d.polygon([(84, 66), (40, 96), (58, 132), (84, 116)], fill=255)
    d.polygon([(172, 66), (216, 96), (198, 132), (172, 116)], fill=255)


def _dress(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((104, 44, 152, 112), fill=255)
    d.polygon([(104, 112), (152, 112), (206, 228), (50, 228)], fill=255)


def _sneaker(d: ImageDraw.ImageDraw) -> None:
    d.polygon(
        [
            (28, 186),
            (34, 150),
            (70, 128),
            (118, 116),
            (146, 84),
            (186, 88),
            (200, 136),
            (232, 158),
            (232, 186),
        ],
        fill=255,
    )


def _handbag(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(58, 112), (198, 112), (218, 222), (38, 222)], fill=255)
    d.arc((84, 52, 172, 156), start=180, end=360, fill=255, width=10)


def _backpack(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle((68, 52, 188, 226), radius=34, fill=255)
    d.arc((104, 30, 152, 70), start=180, end=360, fill=255, width=8)


def _mug(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle((62, 78, 170, 212), radius=10, fill=255)
    d.ellipse((144, 104, 208, 180), outline=255, width=14)


def _lamp(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(86, 38), (170, 38), (204, 132), (52, 132)], fill=255)


def _details(d: ImageDraw.ImageDraw, key: str, base: RGB) -> None:
    """Neutral parts that are not the product colour (kept small on purpose)."""
    if key == "sneaker":
        sole = (238, 238, 238) if base != color_rgb("white") else (150, 150, 150)
        d.rectangle((26, 186, 234, 204), fill=sole)
    elif key == "lamp":
        d.rectangle((123, 132, 133, 204), fill=HARDWARE)
        d.ellipse((88, 198, 168, 222), fill=HARDWARE)
    elif key in ("jacket", "backpack"):
        d.line((128, 60 if key == "jacket" else 100, 128, 222), fill=HARDWARE, width=3)


SHAPES: Final[dict[str, Shape]] = {
    "jacket": _jacket,
    "tshirt": _tshirt,
    "dress": _dress,
    "sneaker": _sneaker,
    "handbag": _handbag,
    "backpack": _backpack,
    "mug": _mug,
    "lamp": _lamp,
}


def draw_product(category: str, color: str, pattern: str) -> Image.Image:
    """A SIZE x SIZE RGB picture of a product of this category, colour and pattern."""
    if category not in SHAPES:
        raise ValueError(f"no silhouette for category {category!r}")
    base = color_rgb(color)
    mask = Image.new("L", (SIZE, SIZE), 0)
    SHAPES[category](ImageDraw.Draw(mask))
    fabric = Image.new("RGB", (SIZE, SIZE), base)
    _paint_pattern(ImageDraw.Draw(fabric), pattern, base)
    picture = Image.composite(fabric, Image.new("RGB", (SIZE, SIZE), BACKGROUND), mask)
    _details(ImageDraw.Draw(picture), category, base)
    return picture


def dominant_color(picture: Image.Image) -> RGB:
    """The most common pixel colour that is not the background."""
    counts = picture.convert("RGB").getcolors(maxcolors=SIZE * SIZE) or []
    foreground = [(n, rgb) for n, rgb in counts if rgb != BACKGROUND]
    if not foreground:
        raise ValueError("the picture is only background")
    rgb = max(foreground)[1]
    if not isinstance(rgb, tuple):
        raise ValueError("expected an RGB picture")
    return (int(rgb[0]), int(rgb[1]), int(rgb[2]))
