"""Writes through the proxy schedule embedding warm-up: which ids, bounded, best effort."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from sidecar.write_warming import WriteWarmer, written_ids


def _ndjson(*lines: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps(line) for line in lines) + b"\n"


def test_single_document_writes_name_their_id() -> None:
    assert written_ids("PUT", "/products/_doc/p1?refresh=true", None) == [("products", "p1")]
    assert written_ids("POST", "/products/_create/a%2Fb", None) == [("products", "a/b")]
    assert written_ids("POST", "/products/_update/p2", b'{"doc": {}}') == [("products", "p2")]
    assert written_ids("POST", "/products/_doc", b"{}") == []  # id chosen by OpenSearch
    assert written_ids("GET", "/products/_doc/p1", None) == []
    assert written_ids("DELETE", "/products/_doc/p1", None) == []
    assert written_ids("POST", "/products/_search", b"{}") == []


def test_bulk_writes_name_every_written_id() -> None:
    body = _ndjson(
        {"index": {"_id": "p1"}},
        {"title": "a"},
        {"delete": {"_id": "p0"}},
        {"create": {"_index": "other", "_id": 7}},
        {"title": "b"},
        {"update": {"_id": "p3"}},
        {"doc": {"title": "c"}},
        {"index": {}},  # no id: skipped
        {"title": "d"},
    )
    assert written_ids("POST", "/products/_bulk", body) == [
        ("products", "p1"), ("other", "7"), ("products", "p3"),
    ]  # fmt: skip
    assert written_ids("POST", "/_bulk", body) == [("other", "7")]  # no default index
    assert written_ids("POST", "/_bulk", b"not json\n") == []


async def test_warmer_fetches_and_warms_in_the_background_and_is_bounded() -> None:
    fetched: list[tuple[str, list[str], dict[str, str]]] = []
    warmed: list[tuple[str, int]] = []

    async def fetch(index: str, ids: list[str], auth: dict[str, str]) -> list[dict[str, Any]]:
        fetched.append((index, ids, auth))
        if index == "broken":
            raise RuntimeError("OpenSearch said no")
        return [{"_id": i, "_source": {"title": i}} for i in ids]

    async def warm(index: str, hits: list[dict[str, Any]]) -> int:
        warmed.append((index, len(hits)))
        return len(hits)

    warmer = WriteWarmer(fetch, warm, max_pending=3)
    auth = {"authorization": "Basic x"}
    warmer.written("POST", "/broken/_doc/x", None, {})
    warmer.written("POST", "/products/_bulk", _ndjson(*[
        line for i in range(4) for line in ({"index": {"_id": f"p{i}"}}, {"title": "t"})
    ]), auth)  # fmt: skip
    assert warmer.dropped == 2  # 3 pending at most: "x", "p0", "p1"
    await asyncio.wait_for(warmer.idle(), 5)
    assert fetched == [("broken", ["x"], {}), ("products", ["p0", "p1"], auth)]
    assert warmed == [("products", 2)] and warmer.warmed == 2  # the failure skipped one batch
    warmer.written("PUT", "/products/_doc/p9", None, {})  # the worker still runs
    await asyncio.wait_for(warmer.idle(), 5)
    assert warmed[-1] == ("products", 1)
    await warmer.close()
