"""What the rerank APIs share: request inputs -> engine inputs, one bounded score call."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.errors import ImageFetchError
from lychee_engine.types import Document, Query
from sidecar.errors import InvalidRequest, ModelUnavailable
from sidecar.services import Services

# The API waits longer than a search does (no OpenSearch order to fall back to), but not
# forever: a stuck model must not hold connections open.
API_DEADLINE_S = 60.0


async def to_query(services: Services, value: Any) -> Query:
    """A query from `str` or `{text, image}`."""
    if isinstance(value, str):
        return Query(text=value)
    image = await _image(services, value.image, "query.image")
    if not value.text and image is None:
        raise InvalidRequest("query: give text, an image, or both")
    return Query(text=value.text, image=image)


async def to_documents(services: Services, values: list[Any], field: str) -> list[Document]:
    """Documents from `str`, `{text}` or `{text, image}` items; images fetched concurrently."""
    images = await asyncio.gather(
        *(
            _image(services, getattr(v, "image", None), f"{field}.{i}.image")
            for i, v in enumerate(values)
        )
    )
    documents = []
    for i, (value, image) in enumerate(zip(values, images, strict=True)):
        text = value if isinstance(value, str) else value.text
        if not text and image is None:
            raise InvalidRequest(f"{field}.{i}: give text, an image, or both")
        documents.append(Document(text=text or None, image=image))
    return documents


async def score(
    services: Services, query: Query, documents: list[Document], instruction: str | None
) -> list[float]:
    """Scores in input order; engine errors map through the error table (429/422/503)."""
    timeout = max(API_DEADLINE_S, services.settings.model_deadline_ms / 1000.0)
    try:
        async with asyncio.timeout(timeout):
            values = await services.scorer.score(
                query, documents, instruction or services.settings.default_instruction
            )
    except TimeoutError:
        raise ModelUnavailable(f"the model did not answer within {timeout:.0f} s") from None
    return [float(v) for v in values]


def band(services: Services, value: float) -> str:
    return services.rules.current().bands.band(value)


def rounded(value: float) -> float:
    return round(min(max(value, 0.0), 1.0), 3)


async def _image(services: Services, value: str | None, field: str) -> bytes | None:
    if value is None:
        return None
    if not services.scorer.supports_images:
        raise InvalidRequest(
            f"{field}: the loaded model ({services.scorer.model_id}) reads text only"
        )
    try:
        return await services.images.resolve(value)
    except ImageFetchError as exc:
        raise InvalidRequest(f"{field}: {exc.describe()}") from None
