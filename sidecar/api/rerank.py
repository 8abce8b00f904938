"""`POST /api/rerank`: score documents against a query, best first."""

from typing import Any

from fastapi import APIRouter

from sidecar.api import service
from sidecar.api.deps import API_GUARDS, ServicesDep
from sidecar.api.models import ERROR_RESPONSES, RerankResponse, RerankResult

# No `from __future__ import annotations` here: FastAPI reads the request model from the
# annotation, and the model is a local of the factory (built for this app's limits).


def rerank_router(request_model: type[Any]) -> APIRouter:
    """The route, typed with the request model built for this app's limits."""
    router = APIRouter(dependencies=API_GUARDS, tags=["rerank"], responses=ERROR_RESPONSES)

    @router.post("/api/rerank", response_model=RerankResponse)
    async def rerank(services: ServicesDep, body: request_model) -> RerankResponse:  # type: ignore[valid-type]
        """Score every document against the query; results best first (top_n of them)."""
        return await run_rerank(services, body)

    return router


async def run_rerank(services: ServicesDep, request: Any) -> RerankResponse:
    query = await service.to_query(services, request.query)
    documents = await service.to_documents(services, request.documents, "documents")
    scores = await service.score(services, query, documents, request.instruction)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[: request.top_n]
    results = [
        RerankResult(
            index=i,
            document=_as_sent(request.documents[i]),
            score=service.rounded(scores[i]),
            band=service.band(services, scores[i]),
        )
        for i in order
    ]
    return RerankResponse(results=results, model=services.scorer.model_id)


def _as_sent(value: Any) -> str | dict[str, Any]:
    return value if isinstance(value, str) else value.model_dump(exclude_none=True)
