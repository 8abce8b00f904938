"""The search pipeline with fakes for OpenSearch, the model and the cache."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import FetchRefused
from connectors.hydrate import FieldMapping, Hydrator
from lychee_engine.errors import EngineError
from lychee_engine.types import Document, Query, ScorerCapabilities
from sidecar.breaker import BreakerState, CircuitBreaker
from sidecar.errors import InvalidRequest
from sidecar.image_input import ImageResolver
from sidecar.metrics import Metrics
from sidecar.rules import RulesStore
from sidecar.search_pipeline import SearchPipeline
from sidecar.settings import IndexConfig, Settings
from sidecar.window_scoring import WindowScorer, WindowScores

WORDS = ["red", "blue", "green", "shoe", "mug", "lamp", "desk", "sock", "hat", "bag"]


class FakeSearch:
    """OpenSearch with N hits in BM25 order; honours from/size like OpenSearch."""

    def __init__(self, n: int = 20) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.hits = [
            {
                "_index": "products",
                "_id": f"d{i}",
                "_score": float(100 - i),
                "_source": {"title": f"{WORDS[i % 10]} item {i}", "image_url": f"/img/{i}.jpg"},
            }
            for i in range(n)
        ]

    async def search(
        self,
        index: str | None,
        body: dict[str, Any],
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.calls.append((index or "", body, params or {}))
        start, size = body.get("from", 0), body.get("size", 10)
        return {
            "took": 3,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(self.hits), "relation": "eq"},
                "max_score": 100.0,
                "hits": self.hits[start : start + size],
            },
            "aggregations": {"a": {"value": 1}},
        }

    async def close(self) -> None:
        return None


class FakeScorer:
    """Scores 0.9 when the document mentions the query's first word, else by item number."""

    model_id = "fake"
    revision = "r1"
    supports_images = False

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.delay_s = delay_s
        self.fail = fail

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        self.calls.append(len(documents))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise EngineError("boom")
        word = (query.text or "").split()[0]
        return [0.9 if word in (d.text or "") else 0.5 + _item(d) / 100 for d in documents]

    async def close(self) -> None:
        return None


class ImageFakeScorer(FakeScorer):
    """FakeScorer on a backend that reads query images (it scores the text as before)."""

    supports_images = True


def _item(document: Document) -> int:
    return int((document.text or "0").split()[-1])


class FakeCache:
    def __init__(self, broken: bool = False) -> None:
        self.data: dict[str, float] = {}
        self.broken = broken
        self.gets = 0

    async def get_many(self, keys: list[str]) -> list[float | None]:
        self.gets += 1
        if self.broken:
            raise ConnectionError("redis is down")
        return [self.data.get(k) for k in keys]

    async def set_many(self, values: dict[str, float]) -> None:
        if self.broken:
            raise ConnectionError("redis is down")
        self.data.update(values)

    async def close(self) -> None:
        return None


class NoFetch:
    """Refuses every URL, as the SSRF guard does for private addresses."""

    def __init__(self) -> None:
        self.refs: list[str] = []

    async def fetch(self, ref: str) -> bytes:
        self.refs.append(ref)
        raise FetchRefused("private address")


def _pipeline(
    scorer: FakeScorer,
    search: FakeSearch,
    cache: FakeCache | None = None,
    *,
    window: int = 10,
    rules_path: Path | None = None,
    deadline_ms: int = 1000,
    breaker: CircuitBreaker | None = None,
    chunk: int = 1000,
) -> SearchPipeline:
    settings = Settings(
        default_index=IndexConfig(window=window),
        model_deadline_ms=deadline_ms,
        rules_path=str(rules_path) if rules_path else None,
    )
    metrics = Metrics()
    window_scorer = WindowScorer(
        scorer,
        cache or FakeCache(),  # type: ignore[arg-type]
        breaker or CircuitBreaker(3, 30.0),
        deadline_ms / 1000,
        "p1",
        metrics,
        chunk=chunk,  # one model call per window unless a test scores in chunks
    )
    hydrator = Hydrator(FieldMapping(), None, 512)
    return SearchPipeline(
        settings,
        search,
        window_scorer,
        lambda index: hydrator,
        ImageResolver(NoFetch(), 1024, 1_000_000),
        RulesStore(rules_path),
        metrics,
    )


def _lenient_rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("min_score: 0.0\n")
    return path


def _body(text: str, frm: int = 0, size: int = 5, **rerank: Any) -> dict[str, Any]:
    return {
        "query": {"match": {"title": text}},
        "from": frm,
        "size": size,
        "ext": {"rerank": {"explain": True, **rerank}},
    }


def _ids(result: Any) -> list[str]:
    return [h["_id"] for h in result.response["hits"]["hits"]]


async def test_reranks_the_window_and_pages_continue(tmp_path: Path) -> None:
    search, scorer = FakeSearch(), FakeScorer()
    pipeline = _pipeline(scorer, search, rules_path=_lenient_rules(tmp_path))
    page1 = await pipeline.run("products", _body("mug"), {})
    page2 = await pipeline.run("products", _body("mug", frm=5), {})
    # d4 mentions "mug" (0.9); the rest rank by item number, best last in BM25 order.
    assert _ids(page1) == ["d4", "d9", "d8", "d7", "d6"]
    assert _ids(page2) == ["d5", "d3", "d2", "d1", "d0"]
    assert page1.status == page2.status == "ok"
    index, sent, _ = search.calls[0]
    assert index == "products"
    # The window and one hit past it (the list's best score when the rules keep nothing).
    assert (sent["from"], sent["size"]) == (0, 11)
    assert "ext" not in sent
    response = page1.response
    assert response["hits"]["total"] == {"value": 20, "relation": "eq"}
    assert response["aggregations"] == {"a": {"value": 1}}
    assert response["hits"]["max_score"] == 0.9
    assert response["hits"]["hits"][0]["_rerank"]["original_score"] == 96.0
    assert response["rerank"]["status"] == "ok"
    assert {"retrieve", "hydrate", "score", "rules"} <= set(response["rerank"]["timings_ms"])


async def test_a_repeated_query_comes_from_the_cache(tmp_path: Path) -> None:
    scorer, cache = FakeScorer(), FakeCache()
    pipeline = _pipeline(scorer, FakeSearch(), cache, rules_path=_lenient_rules(tmp_path))
    first = await pipeline.run("products", _body("mug"), {})
    second = await pipeline.run("products", _body("mug"), {})
    assert scorer.calls == [10]
    assert _ids(first) == _ids(second)
    assert second.response["rerank"]["cache_hits"] == 10
    assert all(h["_rerank"]["cached"] for h in second.response["hits"]["hits"])
    assert "score" not in second.response["rerank"]["timings_ms"]
    # Another instruction is another key.
    await pipeline.run("products", _body("mug", instruction="Find mugs."), {})
    assert scorer.calls == [10, 10]


async def test_model_past_its_deadline_keeps_opensearch_order() -> None:
    pipeline = _pipeline(FakeScorer(delay_s=1.0), FakeSearch(), deadline_ms=50)
    result = await pipeline.run("products", _body("mug"), {})
    assert result.status == "degraded"
    assert result.response["rerank"]["reason"] == "timeout"
    assert _ids(result) == ["d0", "d1", "d2", "d3", "d4"]
    assert [h["_score"] for h in result.response["hits"]["hits"]] == [100, 99, 98, 97, 96]
    assert result.response["hits"]["hits"][0]["_rerank"]["band"] is None


async def test_engine_errors_open_the_breaker() -> None:
    scorer = FakeScorer(fail=True)
    breaker = CircuitBreaker(2, 60.0)
    pipeline = _pipeline(scorer, FakeSearch(), breaker=breaker)
    reasons = []
    for _ in range(3):
        result = await pipeline.run("products", _body("mug"), {})
        reasons.append(result.response["rerank"]["reason"])
        assert _ids(result) == ["d0", "d1", "d2", "d3", "d4"]
    assert reasons == ["engine_error", "engine_error", "breaker_open"]
    assert len(scorer.calls) == 2
    assert breaker.state is BreakerState.OPEN


async def test_source_filters_do_not_starve_the_reranker(tmp_path: Path) -> None:
    search = FakeSearch()
    pipeline = _pipeline(FakeScorer(), search, rules_path=_lenient_rules(tmp_path))
    result = await pipeline.run("products", {**_body("mug"), "_source": ["image_url"]}, {})
    assert "_source" not in search.calls[0][1]
    assert _ids(result)[0] == "d4"
    assert result.response["hits"]["hits"][0]["_source"] == {"image_url": "/img/4.jpg"}


async def test_a_broken_cache_still_answers(tmp_path: Path) -> None:
    scorer = FakeScorer()
    pipeline = _pipeline(
        scorer, FakeSearch(), FakeCache(broken=True), rules_path=_lenient_rules(tmp_path)
    )
    result = await pipeline.run("products", _body("mug"), {})
    assert result.status == "ok"
    assert _ids(result)[0] == "d4"


@pytest.mark.parametrize(
    ("body", "params", "reason"),
    [
        ({"query": {"match": {"title": "mug"}}, "sort": [{"price": "asc"}]}, {}, "sorted"),
        ({"query": {"match": {"title": "mug"}}}, {"scroll": "1m"}, "scroll"),
    ],
)
async def test_pass_through_reaches_opensearch_untouched(
    body: dict[str, Any], params: dict[str, str], reason: str
) -> None:
    search, scorer = FakeSearch(), FakeScorer()
    pipeline = _pipeline(scorer, search)
    sent_body = {**body, "ext": {"rerank": {"explain": True}}}
    result = await pipeline.run("products", sent_body, params)
    assert result.status == "skipped"
    assert result.response["rerank"]["reason"] == reason
    assert search.calls == [("products", body, params)]
    assert scorer.calls == []


async def test_overload_passes_through() -> None:
    pipeline = _pipeline(FakeScorer(), FakeSearch())
    result = await pipeline.run("products", _body("mug"), {}, allow_rerank=False)
    assert (result.status, result.response["rerank"]["reason"]) == ("skipped", "overloaded")


async def test_a_page_straddling_the_window_continues_in_opensearch_order(
    tmp_path: Path,
) -> None:
    search = FakeSearch()
    pipeline = _pipeline(FakeScorer(), search, window=4, rules_path=_lenient_rules(tmp_path))
    result = await pipeline.run("products", _body("lamp", frm=2, size=4), {})
    assert (search.calls[0][1]["from"], search.calls[0][1]["size"]) == (0, 6)
    # window d0..d3 reranked: d3 d2 d1 d0; the page is [2:6] -> d1 d0 then d4 d5 as is.
    assert _ids(result) == ["d1", "d0", "d4", "d5"]
    hits = result.response["hits"]["hits"]
    beyond = hits[2]
    assert beyond["_rerank"]["beyond_window"] is True
    assert beyond["_rerank"]["original_score"] == 96.0
    # Below the lowest window score, in OpenSearch's order: floor * s / (s + best).
    assert beyond["_score"] == pytest.approx(hits[1]["_score"] * 96 / (96 + 100), abs=1e-6)
    assert hits[3]["_score"] < beyond["_score"] < hits[1]["_score"]


async def test_a_page_past_the_window_computes_the_window_and_resumes_opensearch(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("min_score: 0.52\n")  # drops d0 and d1 (0.50, 0.51) from the window
    search, scorer = FakeSearch(), FakeScorer()
    pipeline = _pipeline(scorer, search, window=4, rules_path=rules)
    pages = [await pipeline.run("products", _body("lamp", frm=f, size=3), {}) for f in (0, 3, 6)]
    ids = [_ids(page) for page in pages]
    # Kept: d3 d2 (2 of 4); then OpenSearch from position 4 on.
    assert ids == [["d3", "d2", "d4"], ["d5", "d6", "d7"], ["d8", "d9", "d10"]]
    assert all(p.response["hits"]["total"] == {"value": 18, "relation": "eq"} for p in pages)
    scores = [h["_score"] for p in pages for h in p.response["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)
    # The last page asked OpenSearch for positions [8, 11): the window's 4 plus 6 - 2.
    assert (search.calls[-1][1]["from"], search.calls[-1][1]["size"]) == (8, 3)
    removed = pages[0].response["rerank"]["removed"]
    assert [(r["_id"], r["rules_fired"]) for r in removed] == [
        ("d0", ["min_score"]),
        ("d1", ["min_score"]),
    ]
    assert removed[0]["title"] == "red item 0"
    assert scorer.calls == [4]  # later pages are scored from the cache


async def test_the_rules_threshold_applies(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("min_score: 0.85\n")
    pipeline = _pipeline(FakeScorer(), FakeSearch(), rules_path=rules)
    result = await pipeline.run("products", _body("mug"), {})
    # d4 alone passes; the page fills up with the hits beyond the window, in OpenSearch
    # order, and the 9 removed hits leave the total.
    assert _ids(result) == ["d4", "d10", "d11", "d12", "d13"]
    assert result.response["hits"]["hits"][0]["_rerank"]["band"] == "strong"
    assert result.response["hits"]["total"]["value"] == 11


async def test_an_unfetchable_query_image_fails_open(tmp_path: Path) -> None:
    scorer = ImageFakeScorer()
    pipeline = _pipeline(scorer, FakeSearch(), rules_path=_lenient_rules(tmp_path))
    url = "http://169.254.169.254/latest/meta-data"
    with_text = await pipeline.run("products", _body("mug", query_image=url), {})
    assert with_text.status == "ok"
    assert with_text.response["rerank"]["query_image_error"] == "refused: private address"
    assert _ids(with_text)[0] == "d4"
    image_only = {"query": {"match_all": {}}, "ext": {"rerank": {"query_image": url}}}
    result = await pipeline.run("products", image_only, {})
    assert result.status == "degraded"
    assert _ids(result) == [f"d{i}" for i in range(10)]
    assert scorer.calls == [10]


async def test_malformed_base64_query_image_is_a_client_error() -> None:
    pipeline = _pipeline(ImageFakeScorer(), FakeSearch())
    with pytest.raises(InvalidRequest, match="query_image"):
        await pipeline.run("products", _body("mug", query_image="%%%not-base64"), {})


async def test_a_window_over_the_limit_is_a_client_error() -> None:
    search = FakeSearch()
    pipeline = _pipeline(FakeScorer(), search)
    limit = Settings().limits.max_window
    with pytest.raises(InvalidRequest, match=f"limits.max_window is {limit}"):
        await pipeline.run("products", _body("mug", window=limit + 1), {})
    assert search.calls == []  # refused before OpenSearch is asked
    at_limit = await pipeline.run("products", _body("mug", window=limit), {})
    assert at_limit.status == "ok"


def test_breaker_half_opens_after_reset() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    now[0] = 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # one trial at a time
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    now[0] = 20.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


@pytest.mark.parametrize("text", [None, "mug"])
async def test_a_query_image_on_a_text_only_backend_steps_aside(text: str | None) -> None:
    search, scorer = FakeSearch(), FakeScorer()  # supports_images = False
    pipeline = _pipeline(scorer, search)
    body: dict[str, Any] = {
        "query": {"match_all": {}} if text is None else {"match": {"title": text}}
    }
    body["ext"] = {"rerank": {"explain": True, "query_image": "aGVsbG8="}}
    result = await pipeline.run("products", body, {})
    assert result.status == "skipped"
    rerank = result.response["rerank"]
    assert rerank["reason"] == "query_image_unsupported"
    assert rerank["detail"] == "fake cannot read a query image"
    assert _ids(result) == [f"d{i}" for i in range(10)]  # OpenSearch's order and page
    assert scorer.calls == []  # never reaches the model (nor its breaker)


async def test_a_query_in_a_script_the_backend_does_not_read_steps_aside() -> None:
    class LatinOnly(FakeScorer):
        capabilities = ScorerCapabilities(False, False, frozenset({"Latin"}), ("en",), False)

    search, scorer = FakeSearch(), LatinOnly()
    pipeline = _pipeline(scorer, search)
    skipped = await pipeline.run("products", _body("复古风牛仔外套"), {})
    assert skipped.status == "skipped"
    assert skipped.response["rerank"]["reason"] == "unreadable_script"
    assert scorer.calls == []
    mixed = await pipeline.run("products", _body("牛仔外套 mug thing", instruction="Be nice."), {})
    assert mixed.status == "ok"
    rerank = mixed.response["rerank"]
    assert rerank["query_scored_as"] == "mug thing"
    assert "does not read instructions" in rerank["instruction_ignored"]
    # OpenSearch searched for the whole (normalized) query.
    assert search.calls[-1][1]["query"] == {"match": {"title": "牛仔外套 mug thing"}}


async def test_opensearch_searches_for_the_normalized_text(tmp_path: Path) -> None:
    search = FakeSearch()
    pipeline = _pipeline(FakeScorer(), search, rules_path=_lenient_rules(tmp_path))
    await pipeline.run(
        "products", _body("ｒｅｔｒｏ　ｄｅｎｉｍ　ｍｕｇ"), {"q": "title:ｍｕｇ iphone15"}
    )
    sent_body, sent_params = search.calls[-1][1], search.calls[-1][2]
    assert sent_body["query"] == {"match": {"title": "retro denim mug"}}
    assert sent_params["q"] == "title:mug iPhone 15"


async def test_the_normalization_switch_is_per_index() -> None:
    search = FakeSearch()
    settings = Settings(indices={"raw": IndexConfig(normalize_retrieval=False)})
    pipeline = _pipeline(FakeScorer(), search)
    pipeline._settings = settings  # the same pipeline, another index configuration
    await pipeline.run("raw", _body("ｍｕｇ"), {})
    assert search.calls[-1][1]["query"] == {"match": {"title": "ｍｕｇ"}}


async def test_a_partial_window_reranks_the_scored_part_only(tmp_path: Path) -> None:
    class ShedScorer(WindowScorer):
        async def score(self, *args: Any, **kwargs: Any) -> WindowScores:
            scores = await super().score(*args, **kwargs)
            depth = 4  # as if load shedding stopped after 4 hits
            n = len(scores.scores)
            return WindowScores(
                scores.scores[:depth] + [None] * (n - depth),
                scores.cached,
                scores.image_errors,
                "shed",
                depth,
            )

    search = FakeSearch()
    pipeline = _pipeline(FakeScorer(), search, rules_path=_lenient_rules(tmp_path))
    pipeline._window_scorer = ShedScorer(
        FakeScorer(),
        FakeCache(),
        CircuitBreaker(3, 30.0),
        1.0,
        "p1",
        Metrics(),  # type: ignore[arg-type]
    )
    result = await pipeline.run("products", _body("lamp", size=8), {})
    assert result.status == "partial"
    assert result.response["rerank"]["depth"] == 4
    # d0..d3 reranked (best last in BM25 order), then d4.. in OpenSearch's order.
    assert _ids(result) == ["d3", "d2", "d1", "d0", "d4", "d5", "d6", "d7"]
    scores = [h["_score"] for h in result.response["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)


async def test_hides_leave_the_list_and_its_total(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "min_score: 0.0\nhides:\n  - {id: no-d3, match: any, ids: [d3]}\n"
        "pins:\n  - {id: d0-first, match: any, ids: [d0], position: 1}\n"
    )
    pipeline = _pipeline(FakeScorer(), FakeSearch(), window=4, rules_path=rules)
    pages = [
        await pipeline.run("products", _body("lamp", frm=f, size=4), {}) for f in range(0, 20, 4)
    ]
    ids = [i for p in pages for i in _ids(p)]
    assert ids[:3] == ["d0", "d2", "d1"]  # pinned d0 first, hidden d3 gone
    assert ids == ["d0", "d2", "d1", *[f"d{i}" for i in range(4, 20)]]
    assert {p.response["hits"]["total"]["value"] for p in pages} == {19}
    scores = [h["_score"] for p in pages for h in p.response["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)  # the pinned d0 shows d2's score
    pinned = pages[0].response["hits"]["hits"][0]
    assert pinned["_score"] == pages[0].response["hits"]["hits"][1]["_score"]
    assert pinned["_rerank"]["final_score"] == 0.5  # its own, reported beside the shown one
    removed = pages[0].response["rerank"]["removed"]
    assert [(r["_id"], r["rules_fired"]) for r in removed] == [("d3", ["no-d3"])]


async def test_a_window_the_rules_empty_pages_on_in_opensearch_order(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("min_score: 0.95\n")  # above every score FakeScorer gives
    pipeline = _pipeline(FakeScorer(), FakeSearch(), window=4, rules_path=rules)
    first = await pipeline.run("products", _body("lamp", size=5), {})
    assert _ids(first) == ["d4", "d5", "d6", "d7", "d8"]
    hits = first.response["hits"]
    assert hits["total"]["value"] == 16
    # Below the threshold that emptied the window, in OpenSearch's order.
    scores = [h["_score"] for h in hits["hits"]]
    assert scores == sorted(scores, reverse=True) and scores[0] < 0.95 / 2 + 1e-9
    assert hits["max_score"] == scores[0]


async def test_degraded_pages_keep_opensearch_scores_and_still_drop_hidden_hits(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("hides:\n  - {id: no-d1, match: any, ids: [d1]}\n")
    pipeline = _pipeline(FakeScorer(fail=True), FakeSearch(), window=4, rules_path=rules)
    pages = [await pipeline.run("products", _body("lamp", frm=f, size=3), {}) for f in (0, 3)]
    assert [p.status for p in pages] == ["degraded", "degraded"]
    assert [_ids(p) for p in pages] == [["d0", "d2", "d3"], ["d4", "d5", "d6"]]
    assert [h["_score"] for h in pages[1].response["hits"]["hits"]] == [96.0, 95.0, 94.0]
    assert {p.response["hits"]["total"]["value"] for p in pages} == {19}
