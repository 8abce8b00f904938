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


@dataclass(frozen=True, slots=True)
class ScorerCapabilities:
    """What a backend can judge; the service steps aside for everything else.

    `images`: it reads document images; `query_images`: it reads a query image;
    `scripts`: the Unicode scripts it reads (e.g. {"Latin"}), None for all of them;
    `languages`: what it was trained on, for people (None: multilingual);
    `instruction`: an instruction changes how it scores; `name`: how people call the model
    (in the reasons the service gives for stepping aside; the model id when None).
    """

    images: bool
    query_images: bool
    scripts: frozenset[str] | None = None
    languages: tuple[str, ...] | None = None
    instruction: bool = True
    name: str | None = None

    def reads_script(self, script: str) -> bool:
        return self.scripts is None or script in self.scripts

    def as_dict(self) -> dict[str, object]:
        """The JSON form `/readyz` publishes."""
        return {
            "images": self.images,
            "query_images": self.query_images,
            "scripts": "all" if self.scripts is None else sorted(self.scripts),
            "languages": "multilingual" if self.languages is None else list(self.languages),
            "instruction": self.instruction,
        }


def capabilities_of(scorer: object) -> ScorerCapabilities:
    """The scorer's capabilities; one that does not describe itself is assumed to read
    every script and to read images exactly when it says `supports_images`."""
    declared = getattr(scorer, "capabilities", None)
    if isinstance(declared, ScorerCapabilities):
        return declared
    images = bool(getattr(scorer, "supports_images", False))
    return ScorerCapabilities(images=images, query_images=images)


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

    @property
    def capabilities(self) -> ScorerCapabilities:
        """What it can judge (images, scripts, instructions): see `capabilities_of`."""
        ...

    async def score(
        self,
        query: Query,
        documents: list[Document],
        instruction: str | None = None,
    ) -> list[float]:
        """Return one score per document, in input order."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Warmable(Protocol):
    """A scorer that can fill its per-document caches ahead of the first query: what it
    keeps for a document does not depend on the query (a bi-encoder's embedding, Lychee's
    preprocessed image and vision-tower output)."""

    async def warm(self, documents: list[Document]) -> int:
        """Fill what the caches lack for `documents`; returns how many needed work."""
        ...
