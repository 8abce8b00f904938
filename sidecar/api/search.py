"""`GET|POST /{index}/_search`: the reranked search route, in OpenSearch's shape."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from sidecar.api.deps import ServicesDep
from sidecar.api.search_common import answer_search, forwarded_headers, read_body

router = APIRouter(tags=["search"])
STATUS_HEADER = "X-Rerank-Status"
RESULT_CACHE_HEADER = "X-Rerank-Result-Cache"  # hit | miss | bypass (sidecar/result_cache.py)


async def search(index: str, request: Request, services: ServicesDep) -> Response:
    """OpenSearch's search API; the top window is reranked (options in `ext.rerank`)."""
    raw = await read_body(request, services.settings.limits.max_body_bytes)
    params = dict(request.query_params)
    answer = await answer_search(services, index, raw, params, forwarded_headers(request))
    return _json_bytes(answer.content, answer.status, answer.result_cache, services.product_headers)


def _json_bytes(
    content: bytes, status: str, result_cache: str, product: dict[str, str]
) -> Response:
    headers = {**product, STATUS_HEADER: status, RESULT_CACHE_HEADER: result_cache}
    return Response(content, media_type="application/json", headers=headers)


# Two registrations so each method gets its own OpenAPI operation id.
router.add_api_route("/{index}/_search", search, methods=["POST"], operation_id="search")
router.add_api_route("/{index}/_search", search, methods=["GET"], operation_id="search_get")
