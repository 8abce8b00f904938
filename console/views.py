"""Small drawing helpers shared by the pages: bands, errors, highlights, uploads, images."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from functools import lru_cache

import streamlit as st
from PIL import Image

from console.errors import ConsoleError, ErrorKind
from console.models import Fragment

BAND_COLOURS = {"strong": "green", "medium": "orange", "weak": "red"}
# Uploads beyond this are refused here rather than sent: the sidecar's default image cap.
MAX_UPLOAD_MB = 8
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]


def band_markdown(band: str) -> str:
    """Streamlit markdown for a band in its colour, e.g. `:green[**strong**]`."""
    colour = BAND_COLOURS.get(band, "gray")
    return f":{colour}[**{band or 'unknown'}**]"


def show_error(exc: ConsoleError) -> None:
    """Show a sidecar failure; a full queue is a warning, everything else an error."""
    if exc.kind is ErrorKind.OVERLOADED:
        st.warning(exc.message, icon=":material/hourglass_top:")
    elif exc.kind is ErrorKind.GPU_MEMORY:
        st.error(exc.message, icon=":material/memory:")
    elif exc.kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT):
        st.error(exc.message, icon=":material/cloud_off:")
    else:
        st.error(exc.message)


def highlight_html(text: str, fragments: Sequence[Fragment]) -> str:
    """The document text as HTML, each fragment shaded by its impact.

    Impact is the score change the fragment accounts for: green when it raised the score
    (removing it lowers the score), red when it lowered it; stronger shade, larger effect.
    """
    spans = sorted(
        (f for f in fragments if 0 <= f.start < f.end <= len(text)), key=lambda f: f.start
    )
    largest = max((abs(f.impact) for f in spans), default=0.0) or 1.0
    parts: list[str] = []
    cursor = 0
    for fragment in spans:
        if fragment.start < cursor:  # overlapping fragment: the earlier one wins
            continue
        parts.append(html.escape(text[cursor : fragment.start]))
        alpha = 0.15 + 0.55 * abs(fragment.impact) / largest
        rgb = _impact_rgb(fragment.impact)
        parts.append(
            f'<mark style="background: rgba({rgb},{alpha:.2f}); border-radius: 3px" '
            f'title="impact {fragment.impact:+.3f}">'
            f"{html.escape(text[fragment.start : fragment.end])}</mark>"
        )
        cursor = fragment.end
    parts.append(html.escape(text[cursor:]))
    body = "".join(parts).replace("\n", "<br>")
    return f'<div class="lychee-doc" style="line-height: 1.8">{body}</div>'


def _impact_rgb(impact: float) -> str:
    if abs(impact) < 0.0005:  # shows as 0.000: no effect, neither colour
        return "128,128,128"
    return "30,142,62" if impact > 0 else "217,48,37"


def read_upload(upload: object | None, label: str) -> bytes | None:
    """Bytes of an uploaded image; raises ConsoleError when it is over the size cap."""
    if upload is None:
        return None
    data: bytes = upload.getvalue()  # type: ignore[attr-defined]
    if len(data) > MAX_UPLOAD_BYTES:
        raise ConsoleError(
            ErrorKind.TOO_LARGE,
            f"Input too large: the {label} image is {len(data) / 2**20:.1f} MiB; "
            f"the limit is {MAX_UPLOAD_BYTES // 2**20} MiB.",
        )
    return data


def displayable(data: bytes | None) -> bytes:
    """The bytes if Pillow recognises them as an image, else the placeholder (a broken or
    non-image answer must not break the page)."""
    if not data:
        return placeholder_image()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (OSError, SyntaxError, ValueError):  # Pillow's ways of saying "not an image"
        return placeholder_image()
    return data


@lru_cache(maxsize=1)
def placeholder_image() -> bytes:
    """A plain grey square shown where a product image could not be fetched."""
    buffer = io.BytesIO()
    Image.new("RGB", (160, 160), (225, 225, 225)).save(buffer, format="PNG")
    return buffer.getvalue()
