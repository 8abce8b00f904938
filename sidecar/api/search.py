"""`GET|POST /{index}/_search`: the reranked search route, in OpenSearch's shape."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from sidecar.api.deps import ServicesDep
from sidecar.api.search_common import (
    forwarded_headers,
    limited_search,
    parse_json_object,
    read_body,
)

router = APIRouter(tags=["search"])
STATUS_HEADER = "X-Rerank-Status"
RESULT_CACHE_HEADER = "X-Rerank-Result-Cache"  # hit | miss | bypass (sidecar/result_cache.py)


async def search(index: str, request: Request, services: ServicesDep) -> Response:
    """OpenSearch's search API; the top window is reranked (options in `ext.rerank`)."""
    raw = await read_body(request, services.settings.limits.max_body_bytes)
    params = dict(request.query_params)
    headers = forwarded_headers(request)
    results = services.results
    key = None
    if results is not None:
        auth = {k: v for k, v in headers.items() if k.lower() == "authorization"}
        key = await results.key_for(index, raw, params, auth)
        cached = results.get(key) if key is not None else None
        if cached is not None:
            return _json_bytes(cached, "ok", "hit", services.product_headers)
    body = parse_json_object(raw)
    result = await limited_search(services, index, body, params, headers)
    content = orjson.dumps(result.response)
    if key is not None and results is not None and result.cacheable:
        results.put(key, content)
    cache_outcome = "miss" if key is not None else "bypass"
    return _json_bytes(content, result.status, cache_outcome, services.product_headers)


def _json_bytes(
    content: bytes, status: str, result_cache: str, product: dict[str, str]
) -> Response:
    headers = {**product, STATUS_HEADER: status, RESULT_CACHE_HEADER: result_cache}
    return Response(content, media_type="application/json", headers=headers)


# Two registrations so each method gets its own OpenAPI operation id.
router.add_api_route("/{index}/_search", search, methods=["POST"], operation_id="search")
router.add_api_route("/{index}/_search", search, methods=["GET"], operation_id="search_get")
