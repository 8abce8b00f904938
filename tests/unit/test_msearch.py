"""`/_msearch`, `/{index}/_msearch` and the index-less `/_search`, with a fake scorer and a
fake OpenSearch search backend (the pass-through proxy must never see these requests)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from connectors.errors import UpstreamError
from connectors.score_cache import LruScoreCache
from lychee_engine.types import Document, Query
from sidecar.api.msearch import MAX_SEARCHES
from sidecar.app import create_app
from sidecar.settings import IndexConfig, LimitSettings, Settings

NDJSON = {"Content-Type": "application/x-ndjson"}
# Per index, the hits in "OpenSearch's" order: the best match for its query comes last.
CATALOGS = {
    "mugs": ["blue mug", "red mug", "red ceramic mug"],
    "lamps": ["red lamp", "blue lamp", "blue desk lamp"],
    "plain": ["red lamp", "blue lamp", "blue desk lamp"],  # rerank disabled in settings
}
MISSING = {"error": {"type": "index_not_found_exception", "reason": "no such index [nope]"}}


class WordScorer:
    """Score = share of query words found in the document (deterministic, instant)."""

    model_id = "word-overlap"
    revision = "1"
    supports_images = False

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        words = set((query.text or "").lower().split())
        return [
            len(words & set((d.text or "").lower().split())) / max(len(words), 1) for d in documents
        ]

    async def close(self) -> None:
        return None


class CatalogSearch:
    """A fake OpenSearch: one catalog per index, `None` searches them all; records calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.delay_s = 0.0
        self.running = 0
        self.most_running = 0

    async def search(
        self,
        index: str | None,
        body: dict[str, Any],
        params: dict[str, Any] | None = None,
        headers: Any = None,
    ) -> dict[str, Any]:
        self.calls.append({"index": index, "params": dict(params or {}), "headers": headers})
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.running -= 1
        if index == "nope":
            raise UpstreamError(404, {**MISSING, "status": 404})
        names = [index] if index else ["mugs", "lamps"]
        hits = [
            {"_index": name, "_id": f"{name}-{i}", "_score": 3.0 - i, "_source": {"title": t}}
            for name in names
            for i, t in enumerate(CATALOGS[name])
        ]
        total = {"value": len(hits), "relation": "eq"}
        return {"took": 1, "timed_out": False, "hits": {"total": total, "hits": hits}}

    async def close(self) -> None:
        return None


def _no_proxy(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"{request.method} {request.url} fell through to the proxy")


@pytest.fixture
def search() -> CatalogSearch:
    return CatalogSearch()


def _app(search: CatalogSearch, max_inflight: int = 64) -> FastAPI:
    settings = Settings(
        indices={"plain": IndexConfig(rerank=False)},
        limits=LimitSettings(max_body_bytes=64 * 1024, max_inflight=max_inflight),
    )
    return create_app(
        settings,
        scorer=WordScorer(),
        cache=LruScoreCache(100),
        search=search,
        upstream_transport=httpx.MockTransport(_no_proxy),
    )


@pytest.fixture
def client(search: CatalogSearch) -> Iterator[TestClient]:
    with TestClient(_app(search)) as test_client:
        yield test_client


def ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def query(text: str, **extra: Any) -> dict[str, Any]:
    return {"query": {"match": {"title": text}}, **extra}


def ids(response: dict[str, Any]) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


def error_reason(status: int, body: dict[str, Any]) -> str:
    """The reason of an error body in OpenSearch's shape, checking the shape on the way."""
    assert body["status"] == status
    assert body["error"]["root_cause"][0]["reason"] == body["error"]["reason"]
    reason: str = body["error"]["reason"]
    return reason


def test_two_searches_are_each_reranked(client: TestClient, search: CatalogSearch) -> None:
    explain = {"ext": {"rerank": {"explain": True}}}
    body = ndjson(
        {"index": "mugs"},
        query("red ceramic mug", **explain),
        {"index": "lamps"},
        query("blue desk lamp", **explain),
    )
    response = client.post(
        "/_msearch", content=body, headers={**NDJSON, "Authorization": "Basic YWxpY2U6cw=="}
    )
    assert response.status_code == 200
    assert "X-Rerank-Status" not in response.headers
    result = response.json()
    assert isinstance(result["took"], int)
    mugs, lamps = result["responses"]
    # OpenSearch's order is reversed: the best match comes first only after the rerank.
    assert ids(mugs)[:2] == ["mugs-2", "mugs-1"]
    assert ids(lamps)[:2] == ["lamps-2", "lamps-1"]
    for item in (mugs, lamps):
        assert item["status"] == 200
        assert item["rerank"]["status"] == "ok"
        assert item["rerank"]["model"] == "word-overlap"
    assert sorted(c["index"] for c in search.calls) == ["lamps", "mugs"]
    assert all(c["headers"] == {"authorization": "Basic YWxpY2U6cw=="} for c in search.calls)


def test_without_explain_an_item_carries_only_its_status(client: TestClient) -> None:
    response = client.post("/mugs/_msearch", content=ndjson({}, query("red ceramic mug")))
    (item,) = response.json()["responses"]
    assert item["status"] == 200
    assert "rerank" not in item
    assert ids(item)[0] == "mugs-2"


def test_header_index_wins_over_the_path_index(client: TestClient, search: CatalogSearch) -> None:
    body = ndjson(
        {},  # no index: the path's
        query("blue desk lamp"),
        {"index": "plain", "preference": "_local", "routing": ["a", "b"], "request_cache": True},
        query("blue desk lamp"),
    )
    response = client.post("/lamps/_msearch?typed_keys=true", content=body, headers=NDJSON)
    assert response.status_code == 200
    lamps, plain = response.json()["responses"]
    assert ids(lamps)[0] == "lamps-2"  # reranked: the `lamps` config
    # `plain` has rerank disabled: its own config applies, OpenSearch's order is kept.
    assert ids(plain) == ["plain-0", "plain-1", "plain-2"]
    assert plain["status"] == 200
    by_index = {c["index"]: c["params"] for c in search.calls}
    assert by_index["lamps"]["typed_keys"] == "true"
    assert "preference" not in by_index["lamps"]
    assert by_index["plain"] == {
        "typed_keys": "true",
        "preference": "_local",
        "routing": "a,b",
        "request_cache": "true",
    }


def test_one_failing_search_does_not_fail_the_others(
    client: TestClient, search: CatalogSearch
) -> None:
    too_deep = query("red mug", ext={"rerank": {"window": 100_000}})
    body = ndjson(
        {"index": "nope"},
        query("red mug"),
        {"index": "mugs"},
        query("red ceramic mug"),
        {"index": "mugs"},
        too_deep,
    )
    response = client.post("/_msearch", content=body, headers=NDJSON)
    assert response.status_code == 200
    missing, mugs, invalid = response.json()["responses"]
    assert missing == {**MISSING, "status": 404}  # OpenSearch's own error, unchanged
    assert mugs["status"] == 200
    assert ids(mugs)[0] == "mugs-2"
    assert invalid["status"] == 400
    assert invalid["error"]["type"] == "invalid_request"
    assert "limits.max_window" in invalid["error"]["reason"]
    assert invalid["error"]["root_cause"][0]["type"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "content_type", "named"),
    [
        (b"", "application/x-ndjson", "the msearch body is empty"),
        (b'{"index": "mugs"}\n', "application/x-ndjson", "1 lines, an odd number"),
        (b'{}\n{"query": {}}\n{}\n', "application/x-ndjson", "3 lines, an odd number"),
        (b'{}\n{"query": \n', "application/x-ndjson", "line 2 (a search body) is not valid JSON"),
        (b'["mugs"]\n{}\n', "application/x-ndjson", "line 1 (a header) must be a JSON object"),
        (b'{}\n"all"\n', "application/json", "line 2 (a search body) must be a JSON object"),
        (b"{}\n \n{}\n{}\n", "application/x-ndjson", "line 2 is blank"),
        (b'{"idx": "mugs"}\n{}\n', "application/x-ndjson", "key [idx] is not supported"),
        (b'{"routing": {"a": 1}}\n{}\n', "application/x-ndjson", "line 1: [routing] must be"),
        (b"{}\n{}\n", "text/plain", "Content-Type [text/plain] is not supported"),
        (b"\xff\xfe{}\n{}\n", "application/x-ndjson", "line 1 (a header) is not valid JSON"),
    ],
)
def test_a_malformed_msearch_is_a_400_naming_the_problem(
    client: TestClient, search: CatalogSearch, body: bytes, content_type: str, named: str
) -> None:
    response = client.post("/_msearch", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert named in error_reason(response.status_code, response.json())
    assert response.json()["error"]["type"] == "invalid_request"
    assert search.calls == []  # nothing half-run


def test_a_bad_max_concurrent_searches_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/_msearch?max_concurrent_searches=0", content=ndjson({}, {}), headers=NDJSON
    )
    assert response.status_code == 400
    assert "max_concurrent_searches" in error_reason(response.status_code, response.json())


def test_too_many_searches_is_a_400(client: TestClient, search: CatalogSearch) -> None:
    lines = [{"index": "mugs"}, query("mug")] * (MAX_SEARCHES + 1)
    response = client.post("/_msearch", content=ndjson(*lines), headers=NDJSON)
    assert response.status_code == 400
    assert f"{MAX_SEARCHES + 1} searches; at most {MAX_SEARCHES}" in error_reason(
        response.status_code, response.json()
    )
    assert search.calls == []


def test_a_body_that_inflates_past_the_limit_is_refused(client: TestClient) -> None:
    inflated = ndjson(*[{"index": "mugs"}, query("mug " * 50)] * 400)  # > 64 KiB
    response = client.post(
        "/_msearch",
        content=gzip.compress(inflated),
        headers={**NDJSON, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert "larger than 65536 bytes" in error_reason(response.status_code, response.json())


def test_searches_run_concurrently_within_the_bound(
    client: TestClient, search: CatalogSearch
) -> None:
    search.delay_s = 0.05
    body = ndjson(*[{"index": "mugs"}, query("red mug")] * 6)
    response = client.post("/_msearch?max_concurrent_searches=2", content=body, headers=NDJSON)
    assert [item["status"] for item in response.json()["responses"]] == [200] * 6
    assert search.most_running == 2
    search.most_running = 0
    unbounded = client.post("/_msearch", content=body, headers=NDJSON)  # default: 8 at once
    assert unbounded.status_code == 200
    assert search.most_running == 6
    search.most_running = 0
    wide = ndjson(*[{"index": "mugs"}, query("red mug")] * 12)
    lowered = client.post("/_msearch?max_concurrent_searches=500", content=wide, headers=NDJSON)
    assert [item["status"] for item in lowered.json()["responses"]] == [200] * 12
    assert search.most_running == 8  # a larger maximum is lowered to limits.max_msearch_concurrency


def test_each_search_takes_an_inflight_slot_and_fails_open(search: CatalogSearch) -> None:
    search.delay_s = 0.05
    explain = query("red ceramic mug", ext={"rerank": {"explain": True}})
    body = ndjson({"index": "mugs"}, explain, {"index": "mugs"}, explain)
    with TestClient(_app(search, max_inflight=1)) as client:
        response = client.post("/_msearch", content=body, headers=NDJSON)
    first, second = response.json()["responses"]
    assert (first["status"], second["status"]) == (200, 200)
    assert first["rerank"]["status"] == "ok"
    # The one slot is held by the first search: the second answers in OpenSearch's order.
    assert second["rerank"]["status"] == "skipped"
    assert second["rerank"]["reason"] == "overloaded"
    assert ids(second) == ["mugs-0", "mugs-1", "mugs-2"]


def test_get_msearch_with_a_crlf_body_and_a_blank_header(client: TestClient) -> None:
    body = b'\r\n{"query": {"match": {"title": "red ceramic mug"}}}\r\n'
    response = client.request("GET", "/mugs/_msearch", content=body, headers=NDJSON)
    assert response.status_code == 200
    (item,) = response.json()["responses"]
    assert ids(item)[0] == "mugs-2"


def test_search_without_an_index_is_reranked(client: TestClient, search: CatalogSearch) -> None:
    body = query("red ceramic mug", size=6, ext={"rerank": {"explain": True}})
    response = client.post("/_search", json=body)
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "ok"
    result = response.json()
    assert result["rerank"]["status"] == "ok"
    assert ids(result)[:2] == ["mugs-2", "mugs-1"]  # across indices, best first
    # No index; the real backend sends `index or None`, i.e. OpenSearch's own `/_search`.
    assert search.calls[-1]["index"] == ""
    get = client.request("GET", "/_search", json=query("blue desk lamp"))
    assert get.status_code == 200
    assert ids(get.json())[0] == "lamps-2"


def test_msearch_item_without_any_index_searches_all(
    client: TestClient, search: CatalogSearch
) -> None:
    response = client.post("/_msearch", content=ndjson({}, query("blue desk lamp")))
    (item,) = response.json()["responses"]
    assert item["status"] == 200
    assert ids(item)[0] == "lamps-2"
    assert search.calls[-1]["index"] == ""


def test_the_window_pairs_of_one_request_are_bounded(search: CatalogSearch) -> None:
    settings = Settings(limits=LimitSettings(max_msearch_window_pairs=100, max_window=1000))
    app = create_app(
        settings, scorer=WordScorer(), cache=LruScoreCache(100), search=search,
        upstream_transport=httpx.MockTransport(_no_proxy),
    )  # fmt: skip
    wide = query("mug", ext={"rerank": {"window": 60}})
    sorted_ = query("mug", sort=[{"price": "asc"}], ext={"rerank": {"window": 60}})
    with TestClient(app) as client:
        over = client.post("/_msearch", content=ndjson({}, wide, {}, wide), headers=NDJSON)
        assert search.calls == []  # refused before any search ran
        # A search that passes through (sorted by a field) asks the model for nothing.
        fits = client.post("/_msearch", content=ndjson({}, wide, {}, sorted_), headers=NDJSON)
    assert over.status_code == 400
    reason = error_reason(400, over.json())
    assert "120 hits" in reason and "max_msearch_window_pairs is 100" in reason
    assert fits.status_code == 200
    assert [item["status"] for item in fits.json()["responses"]] == [200, 200]
