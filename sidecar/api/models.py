"""Request and response models of the rerank APIs.

The size limits come from `settings.limits`, which are only known when the app is built,
so the request models are made by `build_models(limits)`; the OpenAPI schema then shows
the limits the running service enforces.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sidecar.settings import LimitSettings

# An image as base64 (optionally a data: URI) or an http(s) URL; ~4/3 of the byte cap.
IMAGE_CHARS = 16 * 1024 * 1024


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="the error kind, e.g. invalid_request, overloaded")
    reason: str = Field(description="what was wrong, naming the field when there is one")


class ErrorBody(BaseModel):
    """The body of every error our own routes answer (sidecar/api/errors.py)."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


# Declared on our API routes so the OpenAPI spec shows the error body we really send
# (it also replaces FastAPI's default 422 `{"detail": [...]}`).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Malformed request, or an input that cannot be used (names the field)",
        401: "Missing or wrong API key",
        413: "Request body over the size limit",
        422: "A field fails validation (names the field)",
        429: "Too many requests in flight or the model queue is full; retry later",
        503: "The model is unavailable or missed its deadline",
    }.items()
}


class RerankResult(BaseModel):
    index: int = Field(description="position of the document in the request")
    document: str | dict[str, Any] = Field(description="the document as sent")
    score: float = Field(ge=0.0, le=1.0, description="relevance in [0, 1], 3 decimals")
    band: str = Field(description="strong | medium | weak (rule-file thresholds)")


class RerankResponse(BaseModel):
    results: list[RerankResult]
    model: str


class CohereDocument(BaseModel):
    text: str


class CohereResult(BaseModel):
    index: int
    relevance_score: float
    document: CohereDocument | None = None


class CohereResponse(BaseModel):
    id: str
    results: list[CohereResult]
    model: str
    usage: dict[str, int] | None = None


class Fragment(BaseModel):
    text: str
    start: int = Field(description="offset of the fragment in the document text")
    end: int
    impact: float = Field(description="score(full) - score(without this fragment)")


class ScoreResponse(BaseModel):
    score: float
    band: str
    model: str
    fragments: list[Fragment]


@dataclass(frozen=True, slots=True)
class RequestModels:
    """The request models, constrained by one service's limits."""

    rerank: type[BaseModel]
    cohere: type[BaseModel]
    score: type[BaseModel]


def build_models(limits: LimitSettings) -> RequestModels:
    """Request models whose bounds are this service's limits."""
    # Aliases get distinct names: a class body cannot see a function local it shadows.
    text_t = Annotated[str, StringConstraints(max_length=limits.max_text_chars)]
    query_t = Annotated[str, StringConstraints(min_length=1, max_length=limits.max_query_chars)]
    image_t = Annotated[str, StringConstraints(min_length=1, max_length=IMAGE_CHARS)]

    class _Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class QueryInput(_Strict):
        text: query_t | None = None
        image: image_t | None = Field(None, description="base64, data: URI or http(s) URL")

    class DocumentInput(_Strict):
        text: text_t | None = None
        image: image_t | None = Field(None, description="base64, data: URI or http(s) URL")

    documents_t = Annotated[
        list[text_t | DocumentInput], Field(min_length=1, max_length=limits.max_documents)
    ]
    top_n_t = Annotated[int | None, Field(None, ge=1, le=limits.max_documents)]
    instruction_t = Annotated[str | None, Field(None, max_length=limits.max_query_chars)]

    class RerankRequest(_Strict):
        query: query_t | QueryInput
        documents: documents_t
        instruction: instruction_t = None
        top_n: top_n_t = None

    class CohereRequest(BaseModel):
        # Clients of Cohere/Jina send fields we do not use (rank_fields, max_chunks_per_doc).
        model_config = ConfigDict(extra="ignore")
        model: str | None = None
        query: query_t
        # `{text, image}` items are our extension (used by lychee_engine's remote backend).
        documents: Annotated[
            list[text_t | DocumentInput], Field(min_length=1, max_length=limits.max_documents)
        ]
        top_n: top_n_t = None
        return_documents: bool = False
        instruction: instruction_t = None

    class ScoreRequest(_Strict):
        query: query_t | QueryInput
        document: text_t | DocumentInput
        instruction: instruction_t = None

    return RequestModels(rerank=RerankRequest, cohere=CohereRequest, score=ScoreRequest)
