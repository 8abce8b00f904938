"""`GET|POST /_search`: the index-less search, reranked like `/{index}/_search`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from sidecar.api import search as search_route
from sidecar.api.deps import ServicesDep

router = APIRouter(tags=["search"])
# No index is "" for the pipeline: the index config, hydrator and rules fall back to the
# defaults, and the search backend sends `index or None`, i.e. OpenSearch's `/_search`.
ALL_INDICES = ""


async def search_all(request: Request, services: ServicesDep) -> Response:
    """OpenSearch's search API over every index; the top window is reranked."""
    return await search_route.search(ALL_INDICES, request, services)


router.add_api_route("/_search", search_all, methods=["POST"], operation_id="search_all")
router.add_api_route("/_search", search_all, methods=["GET"], operation_id="search_all_get")
