"""`GET|POST /{index}/_search`: the reranked search route, in OpenSearch's shape.

A search whose answer a rerank cannot reproduce (another format, `stored_fields`,
`collapse`, `explain`: sidecar/query_extract.py) goes to OpenSearch untouched through the
pass-through, and OpenSearch's bytes come back. The answers the sidecar builds itself honour
`pretty` and `Accept-Encoding: gzip` as OpenSearch's would.
"""

from __future__ import annotations

import gzip

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from sidecar import proxy
from sidecar.api.deps import ServicesDep
from sidecar.api.search_common import answer_search, forwarded_headers, read_body
from sidecar.query_extract import body_verbatim_reason, request_verbatim_reason

router = APIRouter(tags=["search"])
STATUS_HEADER = "X-Rerank-Status"
RESULT_CACHE_HEADER = "X-Rerank-Result-Cache"  # hit | miss | bypass (sidecar/result_cache.py)
GZIP_MIN_BYTES = 1024  # smaller answers are not worth the CPU
GZIP_LEVEL = 3
REASON_HEADER = "X-Rerank-Reason"  # beside a status other than ok: the reason token


async def search(index: str, request: Request, services: ServicesDep) -> Response:
    """OpenSearch's search API; the top window is reranked (options in `ext.rerank`)."""
    raw = await read_body(request, services.settings.limits.max_body_bytes)
    params = dict(request.query_params)
    content_type = request.headers.get("content-type")
    if request_verbatim_reason(params, content_type) or body_verbatim_reason(raw):
        return await proxy.forward(request, services, raw)
    answer = await answer_search(services, index, raw, params, forwarded_headers(request))
    headers = {
        **services.product_headers,
        STATUS_HEADER: answer.status,
        RESULT_CACHE_HEADER: answer.result_cache,
    }
    if answer.reason:
        headers[REASON_HEADER] = answer.reason
    return _json_answer(answer.content, headers, params, request.headers.get("accept-encoding"))


def _json_answer(
    content: bytes, headers: dict[str, str], params: dict[str, str], accept_encoding: str | None
) -> Response:
    if params.get("pretty", "false").lower() != "false":
        content = orjson.dumps(orjson.loads(content), option=orjson.OPT_INDENT_2) + b"\n"
    if _accepts_gzip(accept_encoding) and len(content) >= GZIP_MIN_BYTES:
        content = gzip.compress(content, GZIP_LEVEL)
        headers = {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
    return Response(content, media_type="application/json", headers=headers)


def _accepts_gzip(accept_encoding: str | None) -> bool:
    for item in (accept_encoding or "").split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


# Two registrations so each method gets its own OpenAPI operation id.
router.add_api_route("/{index}/_search", search, methods=["POST"], operation_id="search")
router.add_api_route("/{index}/_search", search, methods=["GET"], operation_id="search_get")
