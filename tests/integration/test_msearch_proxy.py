"""`_msearch` and the index-less `_search` through a real sidecar (MiniLM, real weights) in
front of a real OpenSearch, driven by opensearch-py like a storefront."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy import OpenSearch, helpers

from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from sidecar.app import create_app
from sidecar.server_thread import ServerThread
from sidecar.settings import IndexConfig, Settings

pytestmark = pytest.mark.integration

WINDOW = 20
DEADLINE_MS = 20_000  # generous: a degraded (unreranked) answer would fail the order checks
KITCHEN = [
    ("Ceramic coffee mug", ["350 ml", "dishwasher safe"]),
    ("Stainless steel travel mug", ["keeps coffee hot", "leak proof lid"]),
    ("Espresso cup set", ["4 porcelain cups", "with saucers"]),
    ("Coffee grinder", ["burr grinder", "15 settings"]),
    ("French press coffee maker", ["1 litre", "borosilicate glass"]),
    ("Mug warmer plate", ["keeps coffee warm", "auto shut-off"]),
    ("Coffee beans dark roast", ["1 kg", "whole bean arabica"]),
    ("Glass coffee mug double wall", ["heat resistant", "250 ml"]),
    ("Pour over coffee dripper", ["ceramic cone", "size 02"]),
    ("Cast iron skillet", ["pre-seasoned", "oven safe"]),
]
SPORT = [
    ("Mens trail running shoes", ["grippy outsole", "waterproof upper"]),
    ("Womens road running shoes", ["lightweight foam", "breathable mesh"]),
    ("Wool hiking socks", ["merino wool", "cushioned sole"]),
    ("Running shorts", ["quick dry", "zip pocket"]),
    ("Waterproof hiking boots", ["leather upper", "ankle support"]),
    ("Yoga mat", ["6 mm thick", "non-slip"]),
    ("Insulated water bottle", ["750 ml", "keeps drinks cold"]),
]


def _index(
    client: OpenSearch, name: str, suite: str, products: list[tuple[str, list[str]]]
) -> None:
    actions = [
        {
            "_index": name,
            "_id": f"p{i}",
            "_source": {"id": f"p{i}", "title": title, "selling_points": points, "suite": suite},
        }
        for i, (title, points) in enumerate(products)
    ]
    helpers.bulk(client, actions, refresh=True)


@pytest.fixture(scope="module")
def indices(opensearch_client: OpenSearch, os_index: str) -> Iterator[tuple[str, str]]:
    sport = f"{os_index}-sport"
    _index(opensearch_client, os_index, os_index, KITCHEN)
    _index(opensearch_client, sport, os_index, SPORT)
    yield os_index, sport
    opensearch_client.indices.delete(index=sport, ignore_unavailable=True)


@pytest.fixture(scope="module")
def via_sidecar(
    serve_sidecar: Any,
    opensearch_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OpenSearch]:
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text("min_score: 0.0\n")  # keep every hit: the id sets must match OpenSearch's
    settings = Settings(
        opensearch_url=opensearch_url,
        rules_path=str(rules),
        model_deadline_ms=DEADLINE_MS,
        default_index=IndexConfig(window=WINDOW),
    )
    scorer = load_scorer("minilm", EngineOptions(device="cpu"))
    server: ServerThread = serve_sidecar(create_app(settings, scorer=scorer))
    client = OpenSearch(hosts=[server.url], timeout=60)
    yield client
    client.close()


def _query(text: str) -> dict[str, Any]:
    match = {"multi_match": {"query": text, "fields": ["title", "selling_points"]}}
    return {"query": match, "size": WINDOW}


def _ids(response: dict[str, Any]) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


def _keys(response: dict[str, Any]) -> list[tuple[str, str]]:
    return [(hit["_index"], hit["_id"]) for hit in response["hits"]["hits"]]


def test_msearch_gives_the_same_hits_reranked(
    indices: tuple[str, str], opensearch_client: OpenSearch, via_sidecar: OpenSearch
) -> None:
    kitchen, sport = indices
    body: list[dict[str, Any]] = [
        {},  # the path's index
        _query("ceramic coffee mug"),
        {"index": sport, "preference": "_local"},
        _query("waterproof running shoes"),
        {"index": "no-such-index-msearch"},
        _query("mug"),
        {"index": kitchen},
        _query("coffee"),
    ]
    direct = opensearch_client.msearch(body=body, index=kitchen)["responses"]
    reranked = via_sidecar.msearch(body=body, index=kitchen)["responses"]
    assert len(reranked) == len(direct) == 4
    missing = reranked.pop(2)
    assert missing["status"] == direct.pop(2)["status"] == 404
    assert missing["error"]["type"] == "index_not_found_exception"
    reordered = 0
    for mine, theirs in zip(reranked, direct, strict=True):
        assert mine["status"] == theirs["status"] == 200
        assert mine["hits"]["total"] == theirs["hits"]["total"]
        assert set(_ids(mine)) == set(_ids(theirs)) and _ids(mine)
        scores = [hit["_score"] for hit in mine["hits"]["hits"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)  # model scores, not BM25's
        reordered += _ids(mine) != _ids(theirs)
    assert reordered >= 1  # the model reorders BM25
    mugs, shoes, _ = reranked
    assert "mug" in mugs["hits"]["hits"][0]["_source"]["title"].lower()
    assert "shoes" in shoes["hits"]["hits"][0]["_source"]["title"].lower()
    # Each item is reranked exactly as the single search route reranks it.
    single = via_sidecar.search(index=sport, body=_query("waterproof running shoes"))
    assert _ids(single) == _ids(shoes)


def test_search_without_an_index_is_reranked(
    indices: tuple[str, str], opensearch_client: OpenSearch, via_sidecar: OpenSearch
) -> None:
    kitchen, sport = indices
    # Every index is searched; the filter keeps other modules' leftovers out of the window.
    match = _query("waterproof coffee mug")["query"]
    ours = {"term": {"suite.keyword": kitchen}}
    query = {"query": {"bool": {"must": [match], "filter": [ours]}}, "size": WINDOW}
    reranked = via_sidecar.search(body={**query, "ext": {"rerank": {"explain": True}}})
    direct = opensearch_client.search(body=query)
    assert reranked.pop("rerank")["status"] == "ok"
    assert set(_keys(reranked)) == set(_keys(direct))
    assert {kitchen, sport} <= {index for index, _ in _keys(reranked)}  # both indices searched
    scores = [hit["_score"] for hit in reranked["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert all("_rerank" in hit for hit in reranked["hits"]["hits"])
