"""`POST /v1/rerank`: the Cohere/Jina rerank API, for existing clients and OpenSearch
ML-Commons remote connectors. Documents may also be `{text, image}` (our extension, used
by lychee_engine's remote backend). Scores are not rounded: callers may rank by them."""

import uuid
from typing import Any

from fastapi import APIRouter

from sidecar.api import service
from sidecar.api.deps import API_GUARDS, ServicesDep
from sidecar.api.models import ERROR_RESPONSES, CohereDocument, CohereResponse, CohereResult


def cohere_router(request_model: type[Any]) -> APIRouter:
    router = APIRouter(dependencies=API_GUARDS, tags=["rerank"], responses=ERROR_RESPONSES)

    @router.post("/v1/rerank", response_model=CohereResponse, response_model_exclude_none=True)
    async def rerank_v1(services: ServicesDep, body: request_model) -> CohereResponse:  # type: ignore[valid-type]
        """Cohere-compatible rerank; `model` is accepted and ignored (one model per service)."""
        return await run_cohere(services, body)

    return router


async def run_cohere(services: ServicesDep, request: Any) -> CohereResponse:
    texts = [d if isinstance(d, str) else (d.text or "") for d in request.documents]
    # An empty document (Cohere clients send them) matches nothing: score 0, not a 400.
    present = [i for i, d in enumerate(request.documents) if _has_content(d)]
    query = await service.to_query(services, request.query)
    documents = await service.to_documents(
        services, [request.documents[i] for i in present], "documents"
    )
    values = await service.score(services, query, documents, request.instruction)
    scores = [0.0] * len(texts)
    for i, value in zip(present, values, strict=True):
        scores[i] = min(max(value, 0.0), 1.0)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[: request.top_n]
    results = [
        CohereResult(
            index=i,
            relevance_score=scores[i],
            document=CohereDocument(text=texts[i]) if request.return_documents else None,
        )
        for i in order
    ]
    return CohereResponse(id=str(uuid.uuid4()), results=results, model=services.scorer.model_id)


def _has_content(document: Any) -> bool:
    if isinstance(document, str):
        return bool(document.strip())
    return bool(document.text) or document.image is not None
