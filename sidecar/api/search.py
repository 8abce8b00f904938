"""`GET|POST /{index}/_search`: the reranked search route, in OpenSearch's shape."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from sidecar.api.deps import ServicesDep
from sidecar.api.errors import json_response
from sidecar.errors import InvalidRequest, PayloadTooLarge

router = APIRouter(tags=["search"])
STATUS_HEADER = "X-Rerank-Status"
FORWARDED_HEADERS = frozenset({"authorization", "x-opaque-id"})


async def search(index: str, request: Request, services: ServicesDep) -> Response:
    """OpenSearch's search API; the top window is reranked (options in `ext.rerank`)."""
    body = await _read_json(request, services.settings.limits.max_body_bytes)
    params = dict(request.query_params)
    # The caller's own credentials reach OpenSearch as they would without the sidecar.
    headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
    # Past the in-flight bound the search still answers, in OpenSearch's order (fail open).
    with services.limiter.slot() as acquired:
        result = await services.pipeline.run(
            index, body, params, allow_rerank=acquired, headers=headers
        )
    return json_response(result.response, headers={STATUS_HEADER: result.status})


# Two registrations so each method gets its own OpenAPI operation id.
router.add_api_route("/{index}/_search", search, methods=["POST"], operation_id="search")
router.add_api_route("/{index}/_search", search, methods=["GET"], operation_id="search_get")


async def _read_json(request: Request, limit: int) -> dict[str, Any] | None:
    raw = await request.body()
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate") and raw:
        raw = _decompress(raw, encoding, limit)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return body


def _decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    decoder = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = decoder.decompress(raw, limit + 1)  # bounded: no zip bombs
    except (zlib.error, gzip.BadGzipFile):
        raise InvalidRequest(f"the request body is not valid {encoding}") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    return out
