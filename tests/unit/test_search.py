"""OpenSearchSearch against a fake OpenSearch on loopback: results and errors pass through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from connectors.errors import UpstreamError
from connectors.search import OpenSearchSearch

HITS = {
    "took": 3,
    "timed_out": False,
    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    "hits": {"total": {"value": 1, "relation": "eq"}, "max_score": 1.5, "hits": []},
}
NOT_FOUND = {
    "error": {
        "root_cause": [{"type": "index_not_found_exception", "reason": "no such index [nope]"}],
        "type": "index_not_found_exception",
        "reason": "no such index [nope]",
        "index": "nope",
    },
    "status": 404,
}


@pytest.fixture
async def fake_opensearch() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def search(request: web.Request) -> web.Response:
        index = request.match_info["index"]
        seen.append({"index": index, "query": dict(request.query), "body": await request.json()})
        if index == "nope":
            return web.json_response(NOT_FOUND, status=404)
        if index == "proxy":
            return web.Response(status=502, text="bad gateway")
        if index == "slow":
            await asyncio.sleep(2)
        return web.json_response(HITS)

    app = web.Application()
    app.router.add_post("/{index}/_search", search)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_search_returns_the_response_and_forwards_params(
    fake_opensearch: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = fake_opensearch
    client = OpenSearchSearch(url, request_timeout=1.0)
    body = {"query": {"match": {"title": "shoes"}}, "size": 10}
    assert await client.search("products", body, {"timeout": "500ms", "routing": "a"}) == HITS
    await client.close()
    assert seen == [
        {"index": "products", "query": {"timeout": "500ms", "routing": "a"}, "body": body}
    ]


async def test_opensearch_error_keeps_status_and_body(
    fake_opensearch: tuple[str, list[dict[str, Any]]],
) -> None:
    client = OpenSearchSearch(fake_opensearch[0], request_timeout=1.0)
    with pytest.raises(UpstreamError) as caught:
        await client.search("nope", {"query": {"match_all": {}}})
    assert (caught.value.status, caught.value.body) == (404, NOT_FOUND)
    with pytest.raises(UpstreamError) as caught:
        await client.search("proxy", {})
    assert caught.value.status == 502
    assert caught.value.body["error"]["type"] == "upstream_error"
    await client.close()


async def test_timeout_is_504(fake_opensearch: tuple[str, list[dict[str, Any]]]) -> None:
    client = OpenSearchSearch(fake_opensearch[0], request_timeout=0.3)
    with pytest.raises(UpstreamError) as caught:
        await client.search("slow", {})
    assert caught.value.status == 504
    assert caught.value.body["error"]["type"] == "upstream_timeout"
    await client.close()


async def test_unreachable_opensearch_is_503() -> None:
    client = OpenSearchSearch("http://127.0.0.1:1", request_timeout=1.0)
    with pytest.raises(UpstreamError) as caught:
        await client.search("products", {})
    assert caught.value.status == 503
    assert caught.value.body == {
        "error": {"type": "upstream_unavailable", "reason": "cannot connect to OpenSearch"},
        "status": 503,
    }
    await client.close()
