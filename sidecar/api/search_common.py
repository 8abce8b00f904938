"""What the search routes (`_search`, `_msearch`) share: the body, the caller's headers, and
one search answered from the result cache or through the pipeline in an in-flight slot."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request

from sidecar.errors import InvalidRequest, PayloadTooLarge
from sidecar.json_depth import search_untouched, too_deep
from sidecar.services import Services

FORWARDED_HEADERS = frozenset({"authorization", "x-opaque-id"})
MAX_PARSE_DEPTH = 1024  # orjson's; OpenSearch itself refuses past 1,000 levels


def forwarded_headers(request: Request) -> dict[str, str]:
    """The caller's own credentials reach OpenSearch as they would without the sidecar."""
    return {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, inflated when gzip/deflate-encoded; PayloadTooLarge past `limit` bytes."""
    raw = await request.body()
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate") and raw:
        raw = _decompress(raw, encoding, limit)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    return raw


def parse_json_object(raw: bytes, what: str = "the request body") -> dict[str, Any] | None:
    """`raw` as a JSON object, None when blank; InvalidRequest naming `what` otherwise."""
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in exc.msg:
            raise InvalidRequest(f"{what} is nested deeper than {MAX_PARSE_DEPTH} levels") from None
        raise InvalidRequest(f"{what} is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    return body


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    content: bytes  # the JSON response body
    status: str  # X-Rerank-Status: ok | degraded | skipped
    result_cache: str  # X-Rerank-Result-Cache: hit | miss | bypass
    reason: str | None = None  # X-Rerank-Reason: why skipped, degraded or partial


async def answer_search(
    services: Services,
    index: str,
    raw: bytes,
    params: dict[str, str],
    headers: Mapping[str, str],
    body: dict[str, Any] | None = None,
) -> SearchAnswer:
    """One search from its raw body: from the result cache when it holds the answer, else
    through the pipeline (and into the cache when the answer may be reused). `body` is
    `raw` already parsed, when the caller has it (parsed here otherwise, on a miss only)."""
    results = services.results
    key = None
    if results is not None:
        auth = {k: v for k, v in headers.items() if k.lower() == "authorization"}
        key = await results.key_for(index, raw, params, auth)
        cached = await results.get(key) if key is not None else None
        if cached is not None:
            return SearchAnswer(cached, "ok", "hit")
    if body is None:
        body = parse_json_object(raw)
    if body is not None and too_deep(body, services.settings.limits.max_json_depth):
        # Deeper than the sidecar can process: OpenSearch answers it as sent, unreranked.
        content = await search_untouched(services.upstream, index, raw, params, headers)
        return SearchAnswer(content, "skipped", "bypass")
    # Past the in-flight bound the search still answers, in OpenSearch's order (fail open).
    with services.limiter.slot() as acquired:
        result = await services.pipeline.run(
            index, body, params, allow_rerank=acquired, headers=headers
        )
    content = orjson.dumps(result.response)
    if key is not None and results is not None and result.cacheable:
        await results.put(key, content)
    cache_outcome = "miss" if key is not None else "bypass"
    return SearchAnswer(content, result.status, cache_outcome, result.reason)


def _decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    decoder = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = decoder.decompress(raw, limit + 1)  # bounded: no zip bombs
    except (zlib.error, gzip.BadGzipFile):
        raise InvalidRequest(f"the request body is not valid {encoding}") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    return out
