"""Searches nested deeper than the sidecar can process go to OpenSearch untouched.

OpenSearch parses requests up to 1,000 levels deep. The sidecar cannot re-serialise that
(orjson stops at 254 levels) nor walk it recursively (Python's recursion limit), so a
search deeper than `limits.max_json_depth` is not reranked: its bytes are sent to
OpenSearch as the client sent them and OpenSearch's answer comes back as it sent it. The
rerank steps aside; OpenSearch decides whether the query is acceptable (issue 14, item 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from connectors.errors import UpstreamError
from connectors.search import error_body
from sidecar.errors import InvalidRequest


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, `{}` and `[]` are 1); iterative,
    so any depth orjson can parse is measured without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def too_deep(value: Any, limit: int) -> bool:
    return json_depth(value) > limit


def check_answer_depth(answer: Any, limit: int) -> None:
    """InvalidRequest naming the limit when an answer is too deep for the sidecar to embed."""
    if too_deep(answer, limit):
        raise InvalidRequest(
            f"the answer is nested deeper than limits.max_json_depth ({limit} levels), "
            "more than the sidecar can embed in a multi-search response; send this search "
            "on its own to _search"
        )


async def search_untouched(
    upstream: httpx.AsyncClient,
    index: str,
    raw: bytes,
    params: Mapping[str, str],
    headers: Mapping[str, str],
) -> bytes:
    """OpenSearch's answer to the search exactly as the client sent it; its errors as
    UpstreamError with OpenSearch's status and body."""
    path = f"/{quote(index, safe=',*')}/_search" if index else "/_search"
    sent = {**headers, "content-type": "application/json"}
    try:
        response = await upstream.post(path, content=raw, params=dict(params), headers=sent)
    except httpx.TimeoutException as exc:
        reason = "OpenSearch did not answer in time"
        raise UpstreamError(504, error_body(504, "upstream_timeout", reason)) from exc
    except httpx.RemoteProtocolError as exc:
        reason = "OpenSearch closed the connection without answering"
        raise UpstreamError(502, error_body(502, "upstream_error", reason)) from exc
    except httpx.HTTPError as exc:
        reason = "cannot connect to OpenSearch"
        raise UpstreamError(503, error_body(503, "upstream_unavailable", reason)) from exc
    if response.is_success:
        return response.content
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        reason = f"HTTP {response.status_code}"
        body = error_body(response.status_code, "upstream_error", reason)
    raise UpstreamError(response.status_code, body)
