"""`POST /api/score`: one pair, with the fragments of the document that drove the score.

Each fragment's impact is measured by the model: score(full document) minus score(the
document without that fragment), all variants scored in ONE batched call.
"""

from typing import Any

from fastapi import APIRouter

from lychee_engine.types import Document
from sidecar.api import service
from sidecar.api.deps import API_GUARDS, ServicesDep
from sidecar.api.fragments import fragment_spans, without
from sidecar.api.models import ERROR_RESPONSES, Fragment, ScoreResponse


def score_router(request_model: type[Any]) -> APIRouter:
    router = APIRouter(dependencies=API_GUARDS, tags=["rerank"], responses=ERROR_RESPONSES)

    @router.post("/api/score", response_model=ScoreResponse)
    async def score_pair(services: ServicesDep, body: request_model) -> ScoreResponse:  # type: ignore[valid-type]
        """Score one (query, document) pair and explain it fragment by fragment."""
        return await run_score(services, body)

    return router


async def run_score(services: ServicesDep, request: Any) -> ScoreResponse:
    query = await service.to_query(services, request.query)
    (document,) = await service.to_documents(services, [request.document], "document")
    text = document.text or ""
    spans = fragment_spans(text) if text else []
    # With a single fragment and no image, "without it" is an empty document: skip it.
    if len(spans) == 1 and document.image is None:
        spans = []
    variants = [
        Document(text=without(text, spans, k) or None, image=document.image)
        for k in range(len(spans))
    ]
    scores = await service.score(services, query, [document, *variants], request.instruction)
    full = scores[0]
    fragments = [
        Fragment(
            text=text[span.start : span.end],
            start=span.start,
            end=span.end,
            impact=round(full - value, 3),
        )
        for span, value in zip(spans, scores[1:], strict=True)
    ]
    return ScoreResponse(
        score=service.rounded(full),
        band=service.band(services, full),
        model=services.scorer.model_id,
        fragments=fragments,
    )
