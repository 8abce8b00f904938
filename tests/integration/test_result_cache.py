"""The whole-response result cache against a real OpenSearch: repeats are served from it, and
an index change (a refresh, a recreated index) turns the next search into a miss within
`poll_s`. The sidecar runs MiniLM (real weights) in a background thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opensearchpy import OpenSearch, helpers

from connectors.errors import UpstreamError
from connectors.search import OpenSearchSearch
from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from sidecar.app import create_app
from sidecar.server_thread import ServerThread
from sidecar.settings import IndexConfig, ResultCacheSettings, Settings
from tests.integration.conftest import CountingScorer

pytestmark = pytest.mark.integration

POLL_S = 0.2
SETTLE_S = POLL_S + 0.3  # a generation read older than poll_s is redone by the next search
DEADLINE_MS = 20_000  # generous: a degraded answer is not stored and would fail the hit checks
HEADER = "X-Rerank-Result-Cache"
PRODUCTS = [
    "Ceramic coffee mug",
    "Stainless steel travel mug",
    "Espresso cup set",
    "Coffee grinder",
    "French press coffee maker",
    "Insulated water bottle",
    "Wool hiking socks",
    "Glass coffee mug double wall",
]


def _index(client: OpenSearch, name: str, titles: list[str]) -> None:
    actions = [
        {"_index": name, "_id": f"p{i}", "_source": {"title": title}}
        for i, title in enumerate(titles)
    ]
    helpers.bulk(client, actions, refresh=True)


@pytest.fixture(scope="module")
def catalog(opensearch_client: OpenSearch, os_index: str) -> str:
    _index(opensearch_client, os_index, PRODUCTS)
    return os_index


@pytest.fixture(scope="module")
def scorer() -> CountingScorer:
    return CountingScorer(load_scorer("minilm", EngineOptions(device="cpu")))


@pytest.fixture(scope="module")
def sidecar(
    serve_sidecar: Any,
    opensearch_url: str,
    scorer: CountingScorer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[httpx.Client]:
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text("min_score: 0.0\n")  # keep every hit: the new document must show
    settings = Settings(
        opensearch_url=opensearch_url,
        rules_path=str(rules),
        model_deadline_ms=DEADLINE_MS,
        default_index=IndexConfig(window=20),
        result_cache=ResultCacheSettings(poll_s=POLL_S),
    )
    server: ServerThread = serve_sidecar(create_app(settings, scorer=scorer))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _search(client: httpx.Client, index: str, text: str, auth: str | None = None) -> httpx.Response:
    headers = {"Authorization": auth} if auth else {}
    body = {"query": {"match": {"title": text}}, "size": 20}
    response = client.post(f"/{index}/_search", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["X-Rerank-Status"] == "ok"
    return response


def _generation(url: str, index: str) -> str:
    async def read() -> str:
        search = OpenSearchSearch(url, 10.0)
        try:
            return await search.generation(index)
        finally:
            await search.close()

    return asyncio.run(read())


def _ids(response: httpx.Response) -> list[str]:
    return [hit["_id"] for hit in response.json()["hits"]["hits"]]


def test_a_repeat_is_a_hit_with_the_same_body(
    catalog: str, sidecar: httpx.Client, scorer: CountingScorer
) -> None:
    first = _search(sidecar, catalog, "ceramic coffee mug")
    calls = scorer.calls
    second = _search(sidecar, catalog, "ceramic coffee mug")
    assert (first.headers[HEADER], second.headers[HEADER]) == ("miss", "hit")
    assert second.content == first.content
    assert scorer.calls == calls  # the model was not asked again
    assert _ids(first)[0] == "p0"


def test_a_refreshed_new_document_is_a_miss_within_poll_s(
    catalog: str, sidecar: httpx.Client, opensearch_client: OpenSearch
) -> None:
    before = _search(sidecar, catalog, "insulated flask")
    assert _search(sidecar, catalog, "insulated flask").headers[HEADER] == "hit"
    assert "new" not in _ids(before)
    opensearch_client.index(
        index=catalog, id="new", body={"title": "Vacuum insulated flask"}, refresh=True
    )
    time.sleep(SETTLE_S)
    after = _search(sidecar, catalog, "insulated flask")
    assert after.headers[HEADER] == "miss"
    assert "new" in _ids(after)
    assert _search(sidecar, catalog, "insulated flask").headers[HEADER] == "hit"


def test_a_recreated_index_has_a_new_generation(
    opensearch_url: str, opensearch_client: OpenSearch, os_index: str, sidecar: httpx.Client
) -> None:
    name = f"{os_index}-again"
    try:
        _index(opensearch_client, name, PRODUCTS)
        first = _generation(opensearch_url, name)
        assert _generation(opensearch_url, name) == first  # nothing changed: stable
        assert [_search(sidecar, name, "mug").headers[HEADER] for _ in range(2)] == [
            "miss",
            "hit",
        ]
        opensearch_client.indices.delete(index=name)
        _index(opensearch_client, name, PRODUCTS)  # the same documents, a new index UUID
        second = _generation(opensearch_url, name)
        time.sleep(SETTLE_S)
        assert _search(sidecar, name, "mug").headers[HEADER] == "miss"
    finally:
        opensearch_client.indices.delete(index=name, ignore_unavailable=True)
    assert second != first
    assert second.split("/")[0] != first.split("/")[0]  # the UUID leads the token


def test_each_authorization_value_is_its_own_entry(catalog: str, sidecar: httpx.Client) -> None:
    alice, bob = "Basic YWxpY2U6eA==", "Basic Ym9iOng="
    assert _search(sidecar, catalog, "espresso cup", alice).headers[HEADER] == "miss"
    assert _search(sidecar, catalog, "espresso cup", alice).headers[HEADER] == "hit"
    assert _search(sidecar, catalog, "espresso cup", bob).headers[HEADER] == "miss"
    assert _search(sidecar, catalog, "espresso cup").headers[HEADER] == "miss"  # no credentials
    assert _search(sidecar, catalog, "espresso cup", bob).headers[HEADER] == "hit"


def test_a_missing_index_is_opensearchs_404(opensearch_url: str, sidecar: httpx.Client) -> None:
    with pytest.raises(UpstreamError) as raised:
        _generation(opensearch_url, "no-such-index-result-cache")
    assert raised.value.status == 404
    assert raised.value.body["error"]["type"] == "index_not_found_exception"
    body = {"query": {"match": {"title": "mug"}}}
    response = sidecar.post("/no-such-index-result-cache/_search", json=body)
    assert response.status_code == 404
    error = response.json()
    assert error["status"] == 404
    assert error["error"]["type"] == "index_not_found_exception"
    assert error["error"]["root_cause"][0]["index"] == "no-such-index-result-cache"
    metrics = sidecar.get("/metrics").text
    assert 'lychee_result_cache_total{outcome="bypass"}' in metrics
