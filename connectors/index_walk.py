"""Every document of an index, in pages: a point-in-time and `search_after`.

The point-in-time pins one view of the index, so a walk that takes minutes neither skips
nor repeats documents while writes go on; `_doc` order is the cheapest sort there is, and
the point-in-time's own tie-breaker makes `search_after` exact across shards.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from opensearchpy import AsyncOpenSearch

from connectors.orjson_serializer import OrjsonSerializer
from connectors.search import upstream_errors


async def walk_index(
    url: str,
    index: str,
    *,
    page_size: int = 200,
    keep_alive: str = "2m",
    source: list[str] | None = None,
    request_timeout: float = 30.0,
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """Pages of hits (`_id`, `_index`, `_source` limited to `source` when given) until the
    index is exhausted. Raises UpstreamError when OpenSearch refuses or is unreachable."""
    client = AsyncOpenSearch(hosts=[url], timeout=request_timeout, serializer=OrjsonSerializer())
    pit_id: str | None = None
    try:
        with upstream_errors(request_timeout):
            created = await client.create_pit(index=index, params={"keep_alive": keep_alive})
        pit_id = str(created["pit_id"])
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": page_size,
                "pit": {"id": pit_id, "keep_alive": keep_alive},
                "sort": ["_doc"],
                "track_total_hits": False,
            }
            if source is not None:
                body["_source"] = source
            if after is not None:
                body["search_after"] = after
            with upstream_errors(request_timeout):
                page = await client.search(body=body)
            hits: list[dict[str, Any]] = page.get("hits", {}).get("hits", [])
            if not hits:
                return
            yield hits
            after = hits[-1]["sort"]
    finally:
        if pit_id is not None:
            with contextlib.suppress(Exception):  # it expires by itself after keep_alive
                await client.delete_pit(body={"pit_id": [pit_id]})
        await client.close()


async def index_size(url: str, index: str, request_timeout: float = 30.0) -> int:
    """The document count of `index` (for a progress bar's total)."""
    client = AsyncOpenSearch(hosts=[url], timeout=request_timeout, serializer=OrjsonSerializer())
    try:
        with upstream_errors(request_timeout):
            answer = await client.count(index=index)
        return int(answer.get("count", 0))
    finally:
        await client.close()
