"""The sidecar in front of a real OpenSearch and a real Redis, driven by opensearch-py.

One sidecar (MiniLM, real weights) serves the module; a second one on the tiny
Qwen2.5-VL checkpoint (it reads images) serves the SSRF probes.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from opensearchpy import OpenSearch, helpers

from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from sidecar.app import create_app
from sidecar.server_thread import ServerThread
from sidecar.settings import CacheSettings, ImageFetchSettings, IndexConfig, Settings
from tests.integration.conftest import CountingScorer
from tests.service_procs import RedisServer, free_port

pytestmark = pytest.mark.integration

WINDOW = 20
# Generous: CI machines are busy, and the degraded test waits this long once.
DEADLINE_MS = 10_000
PRODUCTS = [
    ("Ceramic coffee mug", ["350 ml", "dishwasher safe", "matte glaze"]),
    ("Stainless steel travel mug", ["keeps coffee hot 6 hours", "leak proof lid"]),
    ("Espresso cup set", ["4 porcelain cups", "with saucers"]),
    ("Large tea mug with infuser", ["500 ml", "ceramic", "loose leaf tea"]),
    ("Coffee grinder", ["burr grinder", "15 settings"]),
    ("French press coffee maker", ["1 litre", "borosilicate glass"]),
    ("Mens trail running shoes", ["grippy outsole", "waterproof upper"]),
    ("Womens road running shoes", ["lightweight foam", "breathable mesh"]),
    ("Leather office chair", ["lumbar support", "adjustable height"]),
    ("Standing desk", ["electric lift", "memory presets"]),
    ("LED desk lamp", ["dimmable", "USB charging port"]),
    ("Wool hiking socks", ["merino wool", "cushioned sole"]),
    ("Canvas tote bag", ["organic cotton", "inner pocket"]),
    ("Insulated water bottle", ["750 ml", "stainless steel", "keeps drinks cold"]),
    ("Mug warmer plate", ["keeps coffee warm", "auto shut-off"]),
    ("Kids ceramic cereal bowl", ["microwave safe", "dinosaur print"]),
    ("Cast iron skillet", ["pre-seasoned", "oven safe"]),
    ("Bluetooth speaker", ["12 hour battery", "waterproof"]),
    ("Noise cancelling headphones", ["over-ear", "30 hour battery"]),
    ("Yoga mat", ["6 mm thick", "non-slip"]),
    ("Coffee beans dark roast", ["1 kg", "whole bean arabica"]),
    ("Glass coffee mug double wall", ["heat resistant", "250 ml"]),
    ("Camping enamel mug", ["lightweight", "campfire safe"]),
    ("Ceramic vase", ["hand painted", "30 cm"]),
    ("Cotton bath towel", ["600 gsm", "quick dry"]),
    ("Pour over coffee dripper", ["ceramic cone", "size 02"]),
]


@pytest.fixture(scope="module")
def catalog(opensearch_client: OpenSearch, os_index: str) -> str:
    actions = [
        {
            "_index": os_index,
            "_id": f"p{i}",
            "_source": {
                "id": f"p{i}",
                "title": title,
                "selling_points": points,
                "image_url": f"https://images.example.com/p{i}.jpg",
                "price": 10 + i,
            },
        }
        for i, (title, points) in enumerate(PRODUCTS)
    ]
    helpers.bulk(opensearch_client, actions, refresh=True)
    return os_index


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text("min_score: 0.0\n")
    return path


@pytest.fixture(scope="module")
def counting_scorer() -> Iterator[CountingScorer]:
    yield CountingScorer(load_scorer("minilm", EngineOptions(device="cpu")))


@pytest.fixture(scope="module")
def sidecar(
    serve_sidecar: Any,
    opensearch_url: str,
    _redis_session_server: RedisServer,
    rules_file: Path,
    counting_scorer: CountingScorer,
) -> ServerThread:
    settings = Settings(
        opensearch_url=opensearch_url,
        rules_path=str(rules_file),
        model_deadline_ms=DEADLINE_MS,
        cache=CacheSettings(redis_url=_redis_session_server.url, ttl_s=3600),
        default_index=IndexConfig(window=WINDOW),
    )
    server: ServerThread = serve_sidecar(create_app(settings, scorer=counting_scorer))
    return server


@pytest.fixture(scope="module")
def via_sidecar(sidecar: ServerThread) -> Iterator[OpenSearch]:
    client = OpenSearch(hosts=[sidecar.url], timeout=60)
    yield client
    client.close()


def _search(client: OpenSearch, index: str, text: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": {"multi_match": {"query": text, "fields": ["title", "selling_points"]}}
    }
    body.update(extra)
    response: dict[str, Any] = client.search(index=index, body=body)
    return response


def _ids(response: dict[str, Any]) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


def test_the_proxy_answers_like_opensearch(
    catalog: str, opensearch_client: OpenSearch, via_sidecar: OpenSearch
) -> None:
    assert via_sidecar.info() == opensearch_client.info()
    assert via_sidecar.count(index=catalog)["count"] == len(PRODUCTS)
    assert via_sidecar.indices.get_mapping(index=catalog) == opensearch_client.indices.get_mapping(
        index=catalog
    )
    created = via_sidecar.index(
        index=catalog, id="tmp-1", body={"title": "Temporary thing"}, refresh=True
    )
    assert created["result"] == "created"
    assert opensearch_client.get(index=catalog, id="tmp-1")["_source"]["title"] == "Temporary thing"
    via_sidecar.delete(index=catalog, id="tmp-1", refresh=True)
    with pytest.raises(Exception) as missing:
        via_sidecar.get(index=catalog, id="tmp-1")
    assert getattr(missing.value, "status_code", None) == 404


def test_search_gives_the_same_hits_reranked(
    catalog: str, opensearch_client: OpenSearch, via_sidecar: OpenSearch
) -> None:
    direct = _search(opensearch_client, catalog, "ceramic coffee mug", size=WINDOW)
    reranked = _search(
        via_sidecar, catalog, "ceramic coffee mug", size=WINDOW, ext={"rerank": {"explain": True}}
    )
    assert reranked.pop("rerank")["status"] == "ok"
    assert reranked["hits"]["total"] == direct["hits"]["total"]
    assert reranked["_shards"] == direct["_shards"]
    assert sorted(_ids(reranked)) == sorted(_ids(direct))
    sources = {h["_id"]: h["_source"] for h in direct["hits"]["hits"]}
    assert {h["_id"]: h["_source"] for h in reranked["hits"]["hits"]} == sources
    scores = [h["_score"] for h in reranked["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert reranked["hits"]["max_score"] == scores[0]
    assert _ids(reranked) != _ids(direct)  # the model reorders BM25
    assert "mug" in reranked["hits"]["hits"][0]["_source"]["title"].lower()


def test_pages_continue_without_duplicates(catalog: str, via_sidecar: OpenSearch) -> None:
    whole = _ids(_search(via_sidecar, catalog, "coffee", size=15))
    pages = [
        _ids(_search(via_sidecar, catalog, "coffee", size=5, **{"from": f})) for f in (0, 5, 10)
    ]
    joined = [doc for page in pages for doc in page]
    assert len(joined) == len(set(joined))
    assert joined == whole[: len(joined)]


def test_a_repeated_query_is_served_from_the_cache(
    catalog: str, via_sidecar: OpenSearch, sidecar: ServerThread, counting_scorer: CountingScorer
) -> None:
    explain = {"ext": {"rerank": {"explain": True}}}
    first = _search(via_sidecar, catalog, "insulated steel bottle", **explain)
    calls = counting_scorer.calls
    assert first["rerank"]["status"] == "ok"
    second = _search(via_sidecar, catalog, "insulated steel bottle", **explain)
    assert counting_scorer.calls == calls  # no model call
    assert second["rerank"]["cache_hits"] > 0
    assert all(hit["_rerank"]["cached"] for hit in second["hits"]["hits"])
    assert _ids(second) == _ids(first)
    metrics = httpx.get(f"{sidecar.url}/metrics").text
    hits_line = next(x for x in metrics.splitlines() if x.startswith("lychee_cache_hits_total"))
    assert float(hits_line.split()[-1]) >= second["rerank"]["cache_hits"]


def test_redis_down_still_answers(
    catalog: str, via_sidecar: OpenSearch, redis_server: RedisServer
) -> None:
    with redis_server.stopped():
        response = _search(
            via_sidecar, catalog, "wool socks for hiking", ext={"rerank": {"explain": True}}
        )
        assert response["rerank"]["status"] == "ok"
        assert response["hits"]["hits"][0]["_rerank"]["model_score"] is not None


def test_a_slow_model_degrades_to_opensearch_order(
    catalog: str,
    opensearch_client: OpenSearch,
    sidecar: ServerThread,
    counting_scorer: CountingScorer,
) -> None:
    body = {
        "query": {"multi_match": {"query": "running shoes", "fields": ["title", "selling_points"]}},
        "ext": {"rerank": {"explain": True}},
    }
    counting_scorer.delay_s = 120.0
    try:
        started = time.monotonic()
        response = httpx.post(f"{sidecar.url}/{catalog}/_search", json=body, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        counting_scorer.delay_s = 0.0
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "degraded"
    assert elapsed < DEADLINE_MS / 1000 + 5
    result = response.json()
    assert result["rerank"]["reason"] == "timeout"
    direct = opensearch_client.search(index=catalog, body={"query": body["query"]})
    assert _ids(result) == _ids(direct)
    assert [h["_score"] for h in result["hits"]["hits"]] == [
        h["_score"] for h in direct["hits"]["hits"]
    ]


def test_an_edited_rules_file_applies_to_the_next_request(
    catalog: str, via_sidecar: OpenSearch, rules_file: Path
) -> None:
    body = {"query": {"match_all": {}}, "ext": {"rerank": {"query_text": "ceramic coffee mug"}}}
    before = via_sidecar.search(index=catalog, body=body)
    scores = [h["_score"] for h in before["hits"]["hits"]]
    assert len(scores) == 10 and min(scores) < 0.5 < max(scores)
    rules_file.write_text("min_score: 0.5\n")
    try:
        time.sleep(1.2)  # the store checks the file at most once a second
        after = via_sidecar.search(index=catalog, body=body)
    finally:
        rules_file.write_text("min_score: 0.0\n")
    shown = [h["_score"] for h in after["hits"]["hits"]]
    kept = [s for s in shown if s >= 0.5]
    assert kept == [s for s in scores if s >= 0.5][: len(kept)]
    # The page fills up with the hits beyond the window, below the lowest kept score
    # (README "Paging"); the window hits under 0.5 left the result list and its total.
    assert kept and all(s <= kept[-1] / 2 + 1e-6 for s in shown[len(kept) :])
    assert len(shown) == 10
    assert after["hits"]["total"]["value"] < before["hits"]["total"]["value"]


class _ProbeHandler(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []
    port: ClassVar[int] = 0

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.port}/secret.jpg")
            self.end_headers()
            return
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def probe_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", free_port()), _ProbeHandler)
    _ProbeHandler.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_ssrf_probes_are_never_fetched(
    tmp_path: Path,
    serve_sidecar: Any,
    opensearch_url: str,
    opensearch_client: OpenSearch,
    os_index: str,
    probe_server: http.server.HTTPServer,
    rules_file: Path,
) -> None:
    from lychee_engine.tiny import write_tiny_checkpoint

    port = probe_server.server_port
    probes = {
        "loopback": f"http://127.0.0.1:{port}/loopback.jpg",
        "metadata": "http://169.254.169.254/latest/meta-data/iam.jpg",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/mapped.jpg",
        "redirect": f"http://localhost:{port}/redirect",
    }
    index = f"{os_index}-ssrf"
    actions = [
        {
            "_index": index,
            "_id": name,
            "_source": {"title": f"ceramic mug {name}", "image_url": url},
        }
        for name, url in probes.items()
    ]
    helpers.bulk(opensearch_client, actions, refresh=True)
    try:
        scorer = load_scorer(f"tiny:{write_tiny_checkpoint(tmp_path / 'tiny')}")
        settings = Settings(
            opensearch_url=opensearch_url,
            rules_path=str(rules_file),  # min_score 0: random weights score anywhere
            model_deadline_ms=20000,
            # `localhost` is trusted so its redirect is followed, and must then be refused.
            images=ImageFetchSettings(allow_private_hosts=["localhost"]),
        )
        server = serve_sidecar(create_app(settings, scorer=scorer))
        body = {"query": {"match": {"title": "ceramic mug"}}, "ext": {"rerank": {"explain": True}}}
        response = httpx.post(f"{server.url}/{index}/_search", json=body, timeout=60)
    finally:
        opensearch_client.indices.delete(index=index, ignore_unavailable=True)
    assert response.status_code == 200
    result = response.json()
    assert result["rerank"]["status"] == "ok"
    errors = {h["_id"]: h["_rerank"].get("image_error") for h in result["hits"]["hits"]}
    assert set(errors) == set(probes)
    assert all(error and error.startswith("refused") for error in errors.values()), errors
    assert _ProbeHandler.seen in ([], ["/redirect"])  # only the trusted first hop
