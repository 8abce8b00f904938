"""A `Scorer` that calls another sidecar (or any Cohere-compatible server) over HTTP.

This is how the model scales out: the service keeps its pipeline and sends the scoring to
`POST {base_url}/v1/rerank`. Connect errors are retried; 429 becomes `Overloaded`; every
other failure becomes `EngineError`, and scores come back in input order.
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
from pathlib import Path
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from lychee_engine.errors import EngineError, Overloaded, UnsupportedInput
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query, ScorerCapabilities

CONNECT_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 5.0


class RemoteScorer:
    """Scores through a remote `/v1/rerank`; the query must be text (the API takes a string)."""

    def __init__(
        self,
        base_url: str,
        options: EngineOptions | None = None,
        *,
        model_id: str | None = None,
        revision: str = "remote",
        supports_images: bool = True,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"remote base URL must start with http:// or https://: {base_url!r}")
        options = options or EngineOptions()
        self._base_url = base_url.rstrip("/")
        self._model_id = model_id or f"remote:{self._base_url}"
        self._revision = revision
        self._supports_images = supports_images
        timeout = httpx.Timeout(
            options.request_timeout_s, connect=min(CONNECT_TIMEOUT_S, options.request_timeout_s)
        )
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._client = httpx.AsyncClient(
            base_url=self._base_url, timeout=timeout, headers=headers, transport=transport
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def revision(self) -> str:
        return self._revision

    @property
    def supports_images(self) -> bool:
        return self._supports_images

    @property
    def capabilities(self) -> ScorerCapabilities:
        # The remote model is not asked: assumed to read every script and the instruction
        # (it is passed on); `/v1/rerank` takes the query as a string, so no query image.
        return ScorerCapabilities(images=self._supports_images, query_images=False)

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        """Return one score per document, in input order."""
        if query.image is not None or not query.text:
            raise UnsupportedInput("a query image is unsupported by this backend (remote)")
        if not documents:
            return []
        body: dict[str, Any] = {
            "query": query.text,
            "documents": [await _encode_document(doc) for doc in documents],
            "return_documents": False,
        }
        if instruction is not None:
            body["instruction"] = instruction
        response = await self._post(body)
        return _parse_scores(response, len(documents))

    async def close(self) -> None:
        await self._client.aclose()

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(httpx.ConnectError),
            stop=stop_after_attempt(CONNECT_ATTEMPTS),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._client.post("/v1/rerank", json=body)
        except httpx.TimeoutException as exc:
            raise EngineError(f"remote scorer at {self._base_url} timed out") from exc
        except httpx.HTTPError as exc:
            raise EngineError(
                f"remote scorer at {self._base_url} unreachable ({type(exc).__name__})"
            ) from exc
        if response.status_code == 429:
            raise Overloaded(f"remote scorer at {self._base_url} is overloaded")
        if response.status_code != 200:
            raise EngineError(
                f"remote scorer at {self._base_url} answered HTTP {response.status_code}"
            )
        return response


async def _encode_document(doc: Document) -> str | dict[str, str]:
    if doc.image is None:
        return doc.text or ""
    encoded: dict[str, str] = {"image": await asyncio.to_thread(_image_base64, doc.image)}
    if doc.text:
        encoded["text"] = doc.text
    return encoded


def _image_base64(image: object) -> str:
    if isinstance(image, bytes):
        data = image
    elif isinstance(image, str | Path):
        try:
            data = Path(image).read_bytes()
        except OSError as exc:
            raise UnsupportedInput(f"document image {image} cannot be read") from exc
    else:  # a decoded PIL image: send it losslessly
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")  # type: ignore[attr-defined]
        data = buffer.getvalue()
    return base64.b64encode(data).decode("ascii")


def _parse_scores(response: httpx.Response, count: int) -> list[float]:
    try:
        results = response.json()["results"]
        pairs = [(int(r["index"]), float(r["relevance_score"])) for r in results]
    except (ValueError, KeyError, TypeError) as exc:
        raise EngineError("remote scorer sent a malformed response") from exc
    scores: list[float | None] = [None] * count
    for index, value in pairs:
        if not 0 <= index < count or scores[index] is not None:
            raise EngineError(f"remote scorer sent a bad or repeated index {index}")
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise EngineError(f"remote scorer sent a score outside [0, 1]: {value}")
        scores[index] = value
    if any(s is None for s in scores):
        raise EngineError(f"remote scorer returned {len(pairs)} scores for {count} documents")
    return [s for s in scores if s is not None]
