"""Hydration: OpenSearch hits -> scoreable documents (capped text + fetched image)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from connectors.errors import ImageFetchError
from connectors.hashing import content_hash
from connectors.image_decode import decode_image
from connectors.safe_fetch import ImageFetcher
from lychee_engine.types import Document

logger = logging.getLogger(__name__)

SEPARATOR = " | "


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """Which `_source` fields hold the id, the text parts, the images and rule inputs.

    Field names may be dotted paths into nested objects (`attrs.title`). Text and image
    fields may hold a string or a list of strings.
    """

    id_field: str = "id"
    title: str = "title"
    selling_points: tuple[str, ...] = ("selling_points",)
    image_fields: tuple[str, ...] = ("image_url",)
    rule_fields: tuple[str, ...] = ("sales", "rating", "price")


@dataclass(frozen=True, slots=True)
class HydratedDoc:
    """One hit made ready for scoring.

    `scorable` is False when the hit had neither text nor a usable image: its document
    then carries the id as text only so it is still a valid Document, and callers should
    not score it but keep it where OpenSearch put it.
    """

    doc_id: str
    document: Document
    text: str
    image_bytes: bytes | None
    image_error: str | None
    content_hash: str
    scorable: bool = True
    rule_values: dict[str, Any] = field(default_factory=dict)


def get_field(source: dict[str, Any], path: str, default: Any = None) -> Any:
    """The value at a dotted path ("a.b" walks nested objects; a literal dotted key wins),
    or `default` when it is absent."""
    if path in source:
        return source[path]
    value: Any = source
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def _strings(value: Any) -> Iterator[str]:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            text = str(item).strip()
            if text:
                yield text


class _ImageLoader:
    """Loads images for one hydrate call: bounded concurrency, each reference once."""

    def __init__(self, fetcher: ImageFetcher, max_pixels: int, concurrency: int) -> None:
        self._fetcher = fetcher
        self._max_pixels = max_pixels
        self._limiter = asyncio.Semaphore(concurrency)
        # Hits often share an image (variants of one product): fetch each reference once.
        self._loads: dict[str, asyncio.Task[tuple[bytes, Image.Image]]] = {}

    async def first(self, refs: list[str]) -> tuple[bytes | None, Image.Image | None, str | None]:
        """Bytes and decoded image of the first reference that works, else the first error."""
        first_error: str | None = None
        for ref in refs:
            if ref not in self._loads:
                self._loads[ref] = asyncio.ensure_future(self._load(ref))
            try:
                data, image = await self._loads[ref]
                return data, image, None
            except ImageFetchError as exc:
                first_error = first_error or exc.describe()
            except Exception:  # an image is optional: a bug here must not fail the search
                logger.exception("unexpected error loading image %r", ref)
                first_error = first_error or "failed: internal error"
        return None, None, first_error

    async def _load(self, ref: str) -> tuple[bytes, Image.Image]:
        async with self._limiter:
            data = await self._fetcher.fetch(ref)
        image = await asyncio.to_thread(decode_image, data, self._max_pixels)
        return data, image


class Hydrator:
    """Builds documents from hits; image failures degrade to text-only, never raise."""

    def __init__(
        self,
        mapping: FieldMapping,
        fetcher: ImageFetcher | None,
        max_chars: int = 512,
        *,
        max_pixels: int = 40_000_000,
        concurrency: int = 16,
    ) -> None:
        """`fetcher=None` skips images entirely (for text-only scorers)."""
        if max_chars < 1 or concurrency < 1:
            raise ValueError("max_chars and concurrency must be positive")
        self._mapping = mapping
        self._fetcher = fetcher
        self._max_chars = max_chars
        self._max_pixels = max_pixels
        self._concurrency = concurrency

    def text_of(self, source: dict[str, Any]) -> str:
        """Title and selling points joined with " | ", capped at `max_chars`."""
        parts = list(_strings(get_field(source, self._mapping.title)))
        for name in self._mapping.selling_points:
            parts.extend(_strings(get_field(source, name)))
        return SEPARATOR.join(parts)[: self._max_chars].rstrip()

    async def hydrate(self, hits: list[dict[str, Any]]) -> list[HydratedDoc]:
        """One HydratedDoc per hit, in order; images are fetched concurrently."""
        loader = None
        if self._fetcher is not None:
            loader = _ImageLoader(self._fetcher, self._max_pixels, self._concurrency)
        docs = [self._hydrate_one(hit, n, loader) for n, hit in enumerate(hits)]
        return list(await asyncio.gather(*docs))

    async def _hydrate_one(
        self, hit: dict[str, Any], position: int, loader: _ImageLoader | None
    ) -> HydratedDoc:
        source = hit.get("_source") or {}
        doc_id = self._doc_id(hit, source, position)
        text = self.text_of(source)
        image_bytes, image, error = None, None, None
        if loader is not None:
            refs = [
                ref
                for name in self._mapping.image_fields
                for ref in _strings(get_field(source, name))
            ]
            image_bytes, image, error = await loader.first(refs)
        rules = {name: get_field(source, name) for name in self._mapping.rule_fields}
        scorable = bool(text) or image is not None
        if not scorable:
            text = doc_id  # a valid Document needs something; callers skip unscorable docs
        return HydratedDoc(
            doc_id=doc_id,
            document=Document(text=text or None, image=image),
            text=text,
            image_bytes=image_bytes,
            image_error=error,
            content_hash=content_hash(text, image_bytes),
            scorable=scorable,
            rule_values=rules,
        )

    def _doc_id(self, hit: dict[str, Any], source: dict[str, Any], position: int) -> str:
        for value in (get_field(source, self._mapping.id_field), hit.get("_id")):
            if value is not None and str(value):
                return str(value)
        return f"#{position}"
