"""`GET|POST /_msearch` and `/{index}/_msearch`: several searches in one call, each reranked.

The body is NDJSON as OpenSearch reads it: a header line (index, routing, preference, ...;
blank for none) and a body line per search. Every search runs through the same pipeline as
`/{index}/_search`, a few at a time, and answers its own item: one failing search gives an
error item with its status while the others still answer. Problems with the request as a
whole (not NDJSON, a missing body line, too many searches) are a 400 for all of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from connectors.errors import UpstreamError
from sidecar.api.deps import ServicesDep
from sidecar.api.errors import json_response, opensearch_error_body
from sidecar.api.search_common import (
    answer_search,
    forwarded_headers,
    parse_json_object,
    read_body,
)
from sidecar.errors import InvalidRequest, SidecarError, to_sidecar_error
from sidecar.filter_path import compile_filter_path
from sidecar.json_depth import check_answer_depth, too_deep
from sidecar.query_extract import parse_search_request
from sidecar.services import Services
from sidecar.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["search"])

MAX_SEARCHES = 100
DEFAULT_CONCURRENCY = 8
# URL parameters of the multi-search itself, never passed on to one of its searches.
# (filter_path names paths of the whole answer, `responses.hits.hits._id`: applied to it.)
MSEARCH_ONLY_PARAMS = frozenset({"max_concurrent_searches", "filter_path"})
# The metadata keys OpenSearch accepts in a header line (camelCase aliases included), each
# mapped to the `_search` URL parameter it stands for.
HEADER_PARAMS: dict[str, str] = {
    "index": "index",
    "indices": "index",
    "search_type": "search_type",
    "searchType": "search_type",
    "ccs_minimize_roundtrips": "ccs_minimize_roundtrips",
    "ccsMinimizeRoundtrips": "ccs_minimize_roundtrips",
    "request_cache": "request_cache",
    "requestCache": "request_cache",
    "preference": "preference",
    "routing": "routing",
    "allow_partial_search_results": "allow_partial_search_results",
    "expand_wildcards": "expand_wildcards",
    "expandWildcards": "expand_wildcards",
    "ignore_unavailable": "ignore_unavailable",
    "ignoreUnavailable": "ignore_unavailable",
    "allow_no_indices": "allow_no_indices",
    "allowNoIndices": "allow_no_indices",
    "ignore_throttled": "ignore_throttled",
    "ignoreThrottled": "ignore_throttled",
    "cancel_after_time_interval": "cancel_after_time_interval",
    "cancelAfterTimeInterval": "cancel_after_time_interval",
    "phase_took": "phase_took",
}
# Elasticsearch 8 clients send `application/vnd.elasticsearch+x-ndjson; compatible-with=8`.
MEDIA_TYPES = ("application/x-ndjson", "application/json")
MEDIA_SUFFIXES = ("+x-ndjson", "+json")


@dataclass(frozen=True, slots=True)
class SearchItem:
    """One search of the multi-search, as the pipeline takes it ("" = every index)."""

    index: str
    body: dict[str, Any] | None
    params: dict[str, str]
    raw: bytes  # the body line as sent: the result-cache key, and what deep searches send


async def msearch(request: Request, services: ServicesDep) -> Response:
    """OpenSearch's multi-search API; each search's top window is reranked."""
    return await _msearch("", request, services)


async def msearch_index(index: str, request: Request, services: ServicesDep) -> Response:
    """Multi-search with `index` as the default for header lines that name none."""
    return await _msearch(index, request, services)


# Two registrations per path so each method gets its own OpenAPI operation id.
router.add_api_route("/_msearch", msearch, methods=["POST"], operation_id="msearch")
router.add_api_route("/_msearch", msearch, methods=["GET"], operation_id="msearch_get")
router.add_api_route(
    "/{index}/_msearch", msearch_index, methods=["POST"], operation_id="msearch_index"
)
router.add_api_route(
    "/{index}/_msearch", msearch_index, methods=["GET"], operation_id="msearch_index_get"
)


async def _msearch(default_index: str, request: Request, services: Services) -> Response:
    started = time.perf_counter()
    _check_media_type(request.headers.get("content-type"))
    url_params = dict(request.query_params)
    limits = services.settings.limits
    # At most that many at once: fewer still honours the client's maximum.
    asked = _concurrency(url_params.get("max_concurrent_searches"))
    concurrency = min(asked, limits.max_msearch_concurrency)
    raw = await read_body(request, services.settings.limits.max_body_bytes)
    defaults = {k: v for k, v in url_params.items() if k not in MSEARCH_ONLY_PARAMS}
    spec = url_params.get("filter_path")
    path_filter = compile_filter_path(spec) if spec else None  # a bad spec fails early
    items = parse_msearch(raw, default_index, defaults)
    _check_window_pairs(services.settings, items)
    responses = await _run_all(services, items, forwarded_headers(request), concurrency)
    took = int((time.perf_counter() - started) * 1000)
    answer: dict[str, Any] = {"took": took, "responses": responses}
    if path_filter is not None:  # it names paths of the whole answer (`responses.hits...`)
        answer = path_filter.apply(answer)
    return json_response(answer, headers=dict(services.product_headers))


def parse_msearch(raw: bytes, default_index: str, defaults: dict[str, str]) -> list[SearchItem]:
    """The searches of an NDJSON body; InvalidRequest naming the line for anything else."""
    lines = list(enumerate(raw.split(b"\n"), start=1))
    if lines and lines[0][1] == b"":
        lines.pop(0)  # OpenSearch still skips one empty first line (deprecated)
    while lines and not lines[-1][1].strip():
        lines.pop()  # the final newline, and any blank lines after it
    if not lines:
        raise InvalidRequest(
            "the msearch body is empty; send a header line and a body line per search"
        )
    if len(lines) % 2:
        raise InvalidRequest(
            f"the msearch body has {len(lines)} lines, an odd number: every search needs "
            "a header line and a body line"
        )
    count = len(lines) // 2
    if count > MAX_SEARCHES:
        raise InvalidRequest(
            f"the msearch has {count} searches; at most {MAX_SEARCHES} are allowed"
        )
    items = []
    for (header_no, header_line), (body_no, body_line) in zip(lines[::2], lines[1::2], strict=True):
        header = parse_json_object(header_line, f"line {header_no} (a header)") or {}
        body = parse_json_object(body_line, f"line {body_no} (a search body)")
        if body is None:
            raise InvalidRequest(
                f"line {body_no} is blank; every search needs a body line ({{}} matches all)"
            )
        items.append(_item(header, body, header_no, default_index, defaults, body_line))
    return items


def _item(
    header: dict[str, Any],
    body: dict[str, Any],
    line_no: int,
    default_index: str,
    defaults: dict[str, str],
    raw: bytes,
) -> SearchItem:
    index = default_index
    params = dict(defaults)
    for key, value in header.items():
        name = HEADER_PARAMS.get(key)
        if name is None:
            raise InvalidRequest(
                f"line {line_no}: key [{key}] is not supported in the metadata section"
            )
        if value is None:
            continue
        text = _param_text(value, key, line_no)
        if name == "index":
            index = text
        else:
            params[name] = text
    return SearchItem(index, body, params, raw)


def _param_text(value: Any, key: str, line_no: int) -> str:
    """A header value as its URL parameter spells it (lists comma-joined, booleans lowercase)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise InvalidRequest(
        f"line {line_no}: [{key}] must be a string, a number, a boolean or a list of strings"
    )


def _compact(item: SearchItem) -> bytes:
    """Compact bytes for the result-cache key, as `_search` clients send them (a repeated
    item hits, and shares entries with single searches); the line as sent when too deep."""
    try:
        return orjson.dumps(item.body)
    except orjson.JSONEncodeError:
        return item.raw


def _check_window_pairs(settings: Settings, items: list[SearchItem]) -> None:
    """One request may not ask the model for more than `max_msearch_window_pairs` pairs."""
    limit = settings.limits.max_msearch_window_pairs
    total = sum(_window_pairs(settings, item) for item in items)
    if total > limit:
        raise InvalidRequest(
            f"the msearch asks to rerank {total} hits in all (the sum of its searches' "
            f"windows); limits.max_msearch_window_pairs is {limit}: send fewer searches "
            "or a smaller ext.rerank.window"
        )


def _window_pairs(settings: Settings, item: SearchItem) -> int:
    """The hits the model may score for one search: its window, 0 when it passes through."""
    if item.body is None or too_deep(item.body, settings.limits.max_json_depth):
        return 0
    try:
        request = parse_search_request(item.body, item.params)
    except SidecarError:
        return 0  # answered as its own error item
    config = settings.index(item.index)
    if request.skip_reason is not None or not config.rerank:
        return 0
    return min(request.options.window or config.window, settings.limits.max_window)


def _check_media_type(content_type: str | None) -> None:
    if content_type is None:
        return  # a bare body: read as NDJSON, as curl --data-binary without -H sends it
    media = content_type.split(";", 1)[0].strip().lower()
    if media in MEDIA_TYPES or media.endswith(MEDIA_SUFFIXES):
        return
    raise InvalidRequest(
        f"Content-Type [{content_type[:100]}] is not supported for _msearch; "
        "send application/x-ndjson"
    )


def _concurrency(text: str | None) -> int:
    if text is None:
        return DEFAULT_CONCURRENCY
    if not text.isdigit() or int(text) < 1:
        raise InvalidRequest(
            f"max_concurrent_searches must be a positive integer, not {text[:40]!r}"
        )
    return int(text)


async def _run_all(
    services: Services, items: list[SearchItem], headers: Mapping[str, str], concurrency: int
) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(concurrency)

    async def run(item: SearchItem) -> dict[str, Any]:
        async with gate:
            return await _run_one(services, item, headers)

    return list(await asyncio.gather(*(run(item) for item in items)))


async def _run_one(
    services: Services, item: SearchItem, headers: Mapping[str, str]
) -> dict[str, Any]:
    """One search's response item; its failure is its own item, never the whole answer's."""
    limit = services.settings.limits.max_json_depth
    try:
        raw = _compact(item)
        answer = await answer_search(services, item.index, raw, item.params, headers, item.body)
        response: dict[str, Any] = orjson.loads(answer.content)
        check_answer_depth(response, limit - 2)  # the multi-search answer adds two levels
    except UpstreamError as exc:
        return {**exc.body, "status": exc.status}  # OpenSearch's own error, as it sent it
    except Exception as exc:
        err = to_sidecar_error(exc)  # internal text never reaches the client
        if err.status_code >= 500:
            log.warning("msearch search on %r failed: %s", item.index, err.reason, exc_info=exc)
        return opensearch_error_body(err.status_code, err.error_type, err.reason)
    return {**response, "status": 200}
