"""The product as shipped, as a storefront sees it (issue 13): the sample catalog in a real
OpenSearch, a real Redis, the sidecar with config/sidecar.yaml, config/rules.example.yaml
and MiniLM, driven page by page through opensearch-py.

The paging contract (README "Paging") must hold for every query: no duplicates across
pages, no empty page while `from < hits.total.value`, the pages add up to the total, the
same total on every page, and `_score` never rising from one page to the next.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opensearchpy import OpenSearch
from PIL import Image

from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from sidecar.app import create_app
from sidecar.rules import load_rules_file
from sidecar.rules.engine import MIN_SCORE_RULE
from sidecar.sample_catalog import generate_catalog, index_catalog, load_queries
from sidecar.server_thread import ServerThread
from sidecar.settings import CacheSettings, Settings
from tests.integration.conftest import CountingScorer
from tests.service_procs import ROOT

pytestmark = pytest.mark.integration

INDEX = "products"  # the name config/sidecar.yaml and the rules file speak of
FIELDS = ["title^2", "selling_points"]
# Broad and narrow queries beside the 48 judged ones: 0 to ~200 hits.
EXTRA_QUERIES = [
    "denim jacket",  # the example rules pin two jackets and hide a shoe for it
    "leather knapsack",  # ... and hide a recalled backpack
    "dress",
    "jacket",
    "black",
    "cotton",
    "washed",
    "raffia",  # narrow: a word of one listing
    "nooks",
    "dress jacket mug lamp",
    "gift mug lamp backpack sneakers tee",
]


@pytest.fixture(scope="module")
def catalog(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    root = generate_catalog(tmp_path_factory.mktemp("shipped-catalog")).root
    index_catalog(opensearch_url, INDEX, root)
    yield [q.text for q in load_queries(root)]
    OpenSearch(hosts=[opensearch_url]).indices.delete(index=INDEX, ignore_unavailable=True)


@pytest.fixture(scope="module")
def counting_scorer() -> CountingScorer:
    return CountingScorer(load_scorer("minilm", EngineOptions(device="cpu")))


@pytest.fixture(scope="module")
def shipped(
    serve_sidecar: Any,
    opensearch_url: str,
    redis_url: str,
    catalog: list[str],
    counting_scorer: CountingScorer,
) -> ServerThread:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LYCHEE_CONFIG", str(ROOT / "config" / "sidecar.yaml"))
        settings = Settings(
            opensearch_url=opensearch_url,
            rules_path=str(ROOT / "config" / "rules.example.yaml"),
            model_deadline_ms=120_000,  # two loaded cores: never degrade to BM25 here
            cache=CacheSettings(redis_url=redis_url, ttl_s=3600),
        )
    assert INDEX in settings.indices  # the shipped YAML was read
    server: ServerThread = serve_sidecar(create_app(settings, scorer=counting_scorer))
    return server


@pytest.fixture(scope="module")
def client(shipped: ServerThread) -> Iterator[OpenSearch]:
    client = OpenSearch(hosts=[shipped.url], timeout=120)
    yield client
    client.close()


def _body(text: str, **extra: Any) -> dict[str, Any]:
    return {"query": {"multi_match": {"query": text, "fields": FIELDS}}, **extra}


def _pages(client: OpenSearch, text: str, size: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of `text` until `from` reaches the total (and one more, which is empty)."""
    pages = [client.search(index=INDEX, body=_body(text, size=size), params=params)]
    total = pages[0]["hits"]["total"]["value"]
    for from_ in range(size, total + size, size):
        pages.append(client.search(index=INDEX, body=_body(text, size=size, **{"from": from_})))
    return pages


def _check_contract(text: str, pages: list[dict[str, Any]], size: int) -> tuple[int, int]:
    """Assert the paging contract over the pages of one query; (total, window kept)."""
    total = pages[0]["hits"]["total"]
    assert total["relation"] == "eq", text
    seen: list[str] = []
    last_score = float("inf")
    for number, page in enumerate(pages):
        assert page["hits"]["total"] == total, f"{text!r}: total changed on page {number + 1}"
        hits = page["hits"]["hits"]
        from_ = number * size
        expected = max(0, min(size, total["value"] - from_))
        assert len(hits) == expected, f"{text!r} page {number + 1}: {len(hits)} != {expected}"
        for hit in hits:
            assert hit["_score"] <= last_score, f"{text!r}: _score rose on page {number + 1}"
            last_score = hit["_score"]
        seen.extend(hit["_id"] for hit in hits)
    assert len(seen) == len(set(seen)), f"{text!r}: a hit appears twice"
    assert len(seen) == total["value"]
    return total["value"], len(seen)


def test_the_paging_contract_holds_for_every_query(
    catalog: list[str], client: OpenSearch, opensearch_client: OpenSearch
) -> None:
    queries = [*catalog, *EXTRA_QUERIES]
    upstream: dict[str, int] = {}
    for text in queries:
        total = _check_contract(text, _pages(client, text, 10), 10)[0]
        direct = opensearch_client.search(index=INDEX, body=_body(text, size=0))
        upstream[text] = direct["hits"]["total"]["value"]
        # The rules remove hits, and those leave the total: never more than OpenSearch has.
        assert total <= upstream[text]
    assert len(upstream) >= 20
    # Breadth as OpenSearch sees it: from a handful of hits to about 200.
    assert min(upstream.values()) <= 3 and max(upstream.values()) >= 150, upstream


def test_odd_page_sizes_tile_the_same_list(client: OpenSearch) -> None:
    text = "retro denim jacket"
    by_ten = [h["_id"] for p in _pages(client, text, 10) for h in p["hits"]["hits"]]
    by_seven = _pages(client, text, 7)
    _check_contract(text, by_seven, 7)
    assert [h["_id"] for p in by_seven for h in p["hits"]["hits"]] == by_ten


def test_total_hit_options_behave_as_opensearch(client: OpenSearch) -> None:
    text = "dress"
    exact = client.search(index=INDEX, body=_body(text))["hits"]["total"]["value"]
    untracked = client.search(index=INDEX, body=_body(text, track_total_hits=False))
    assert "total" not in untracked["hits"]
    assert untracked["hits"]["hits"]
    as_int = client.search(index=INDEX, body=_body(text), params={"rest_total_hits_as_int": "true"})
    assert as_int["hits"]["total"] == exact
    bounded = client.search(index=INDEX, body=_body(text, track_total_hits=5))
    assert bounded["hits"]["total"] == {"value": 5, "relation": "gte"}  # as OpenSearch said
    generous = client.search(index=INDEX, body=_body(text, track_total_hits=10_000))
    assert generous["hits"]["total"] == {"value": exact, "relation": "eq"}


def test_explain_lists_the_window_hits_the_rules_removed(client: OpenSearch) -> None:
    # The example rules hide products from "denim jacket" (README "Rules on the sample
    # catalog"); min_score may drop more.
    rules = load_rules_file(ROOT / "config" / "rules.example.yaml")
    removing = {hide.id for hide in rules.hides} | {MIN_SCORE_RULE}
    ext = {"rerank": {"explain": True}}
    response = client.search(index=INDEX, body=_body("denim jacket", size=50, ext=ext))
    rerank = response["rerank"]
    assert rerank["status"] == "ok"
    removed = rerank["removed"]
    assert removed
    kept_ids = {h["_id"] for h in response["hits"]["hits"]}
    for entry in removed:
        assert set(entry) >= {"_id", "_index", "model_score", "final_score", "rules_fired"}
        assert entry["_index"] == INDEX and entry["title"]
        assert entry["_id"] not in kept_ids
        assert entry["rules_fired"][-1] in removing
        if entry["rules_fired"][-1] == MIN_SCORE_RULE:
            assert entry["final_score"] < rules.min_score
    page_2 = client.search(index=INDEX, body=_body("denim jacket", size=10, **{"from": 10}))
    assert page_2["hits"]["total"] == response["hits"]["total"]


def _png_base64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _ids(response: dict[str, Any]) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


def test_readyz_publishes_what_minilm_reads(shipped: ServerThread) -> None:
    ready = httpx.get(f"{shipped.url}/readyz", timeout=30).json()
    assert ready["capabilities"] == {
        "images": False,
        "query_images": False,
        "scripts": ["Latin"],
        "languages": ["en"],
        "instruction": False,
    }


@pytest.mark.parametrize("text", ["复古风牛仔外套", "牛仔外套", "iPhone 15 手机壳"])
def test_a_query_minilm_cannot_read_is_passed_through(
    text: str,
    shipped: ServerThread,
    client: OpenSearch,
    opensearch_client: OpenSearch,
    counting_scorer: CountingScorer,
) -> None:
    calls = counting_scorer.calls
    body = _body(text, size=20, ext={"rerank": {"explain": True}})
    response = httpx.post(f"{shipped.url}/{INDEX}/_search", json=body, timeout=60)
    assert response.headers["X-Rerank-Status"] == "skipped"
    rerank = response.json()["rerank"]
    assert rerank["reason"] == "unreadable_script"
    assert rerank["detail"] == "the query is mostly in Han script; MiniLM reads Latin only"
    direct = opensearch_client.search(index=INDEX, body=_body(text, size=20))
    through = client.search(index=INDEX, body=_body(text, size=20))
    assert _ids(through) == _ids(direct)
    assert through["hits"]["total"] == direct["hits"]["total"]
    assert counting_scorer.calls == calls  # nothing reached the model


def test_a_mixed_query_is_scored_on_its_readable_part(client: OpenSearch) -> None:
    mixed = client.search(
        index=INDEX, body=_body("牛仔外套 denim jacket", ext={"rerank": {"explain": True}})
    )
    assert mixed["rerank"]["status"] == "ok"
    assert mixed["rerank"]["query_scored_as"] == "denim jacket"
    assert mixed["hits"]["hits"], "the readable part still finds and ranks denim jackets"
    top = mixed["hits"]["hits"][0]
    assert top["_rerank"]["model_score"] >= 0.4
    assert "denim" in top["_source"]["title"].lower() or "jacket" in top["_source"]["title"].lower()
    _check_contract("牛仔外套 denim jacket", _pages(client, "牛仔外套 denim jacket", 10), 10)


@pytest.mark.parametrize("with_text", [False, True])
def test_a_query_image_on_minilm_steps_aside(
    with_text: bool,
    shipped: ServerThread,
    opensearch_client: OpenSearch,
    counting_scorer: CountingScorer,
) -> None:
    calls = counting_scorer.calls
    query = _body("red mug")["query"] if with_text else {"match_all": {}}
    body = {"query": query, "ext": {"rerank": {"query_image": _png_base64(), "explain": True}}}
    response = httpx.post(f"{shipped.url}/{INDEX}/_search", json=body, timeout=60)
    assert response.status_code == 200
    assert response.headers["X-Rerank-Status"] == "skipped"
    assert response.headers["X-Rerank-Reason"] == "query_image_unsupported"
    payload = response.json()
    assert payload["rerank"]["reason"] == "query_image_unsupported"
    assert payload["rerank"]["detail"] == "MiniLM cannot read a query image"
    direct = opensearch_client.search(index=INDEX, body={"query": query})
    assert _ids(payload) == _ids(direct)
    assert counting_scorer.calls == calls


def test_an_instruction_minilm_ignores_is_reported(client: OpenSearch) -> None:
    ext = {"rerank": {"explain": True, "instruction": "Prefer gifts."}}
    response = client.search(index=INDEX, body=_body("cute mug", ext=ext))
    assert response["rerank"]["status"] == "ok"
    assert response["rerank"]["instruction_ignored"] == (
        "MiniLM does not read instructions; it had no effect"
    )


def test_full_width_text_finds_what_ascii_finds(
    client: OpenSearch, opensearch_client: OpenSearch
) -> None:
    wide = client.search(index=INDEX, body=_body("ｒｅｔｒｏ　ｄｅｎｉｍ　ｊａｃｋｅｔ", size=20))
    plain = client.search(index=INDEX, body=_body("retro denim jacket", size=20))
    assert wide["hits"]["total"] == plain["hits"]["total"]
    assert wide["hits"]["total"]["value"] > 0
    assert _ids(wide) == _ids(plain)
