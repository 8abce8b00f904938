"""Inputs and the scoring contract shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image

# An image may arrive as encoded bytes, a local path, or an already decoded PIL image.
ImageInput = "bytes | str | Path | Image.Image"


@dataclass(frozen=True, slots=True)
class Query:
    """A search query: text, an image, or both."""

    text: str | None = None
    image: bytes | str | Path | Image.Image | None = None

    def __post_init__(self) -> None:
        if not self.text and self.image is None:
            raise ValueError("a query needs text, an image, or both")


@dataclass(frozen=True, slots=True)
class Document:
    """A candidate document: text, an image, or both."""

    text: str | None = None
    image: bytes | str | Path | Image.Image | None = None

    def __post_init__(self) -> None:
        if not self.text and self.image is None:
            raise ValueError("a document needs text, an image, or both")


@runtime_checkable
class Scorer(Protocol):
    """Scores (query, document) pairs: one probability-like float in [0, 1] per document."""

    @property
    def model_id(self) -> str:
        """Stable identifier of the model (used in cache keys and metrics)."""
        ...

    @property
    def revision(self) -> str:
        """Weights revision: changes whenever the same id would score differently."""
        ...

    @property
    def supports_images(self) -> bool: ...

    async def score(
        self,
        query: Query,
        documents: list[Document],
        instruction: str | None = None,
    ) -> list[float]:
        """Return one score per document, in input order."""
        ...

    async def close(self) -> None: ...
