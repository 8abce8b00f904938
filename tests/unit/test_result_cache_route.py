"""The search route's whole-response cache (`X-Rerank-Result-Cache: hit|miss|bypass`) with a
fake OpenSearch that tells index generations and a fake model."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from connectors.errors import UpstreamError
from connectors.score_cache import LruScoreCache
from connectors.search import SearchBackend
from sidecar.app import create_app
from sidecar.settings import ResultCacheSettings, Settings
from tests.unit.test_api import StaticSearch, Upstream, WordScorer

DOWN = UpstreamError(503, {"error": {"type": "upstream_unavailable"}, "status": 503})
QUERY = {"query": {"match": {"title": "red mug"}}}
HEADER = "X-Rerank-Result-Cache"


class CountingSearch(StaticSearch):
    calls = 0

    async def search(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return await super().search(*args, **kwargs)


class VersionedSearch(CountingSearch):
    """Tells index generations: `token`, or raises `generation_error`."""

    token = "g1"
    generation_error: Exception | None = None

    async def generation(self, index: str | None) -> str:
        if self.generation_error is not None:
            raise self.generation_error
        return self.token


class ForgetfulCache(LruScoreCache):
    """Keeps no scores, so every pipeline run reaches the scorer."""

    async def set_many(self, scores: dict[str, float]) -> None:
        return None


class SlowScorer(WordScorer):
    async def score(self, *args: Any, **kwargs: Any) -> list[float]:
        await asyncio.sleep(0.3)
        return await super().score(*args, **kwargs)


def _client(search: SearchBackend, scorer: WordScorer | None = None, **settings: Any) -> TestClient:
    app = create_app(
        Settings(**settings),
        scorer=scorer or WordScorer(),
        cache=ForgetfulCache(),
        search=search,
        upstream_transport=httpx.MockTransport(Upstream().handle),
    )
    return TestClient(app)


def _twice(client: TestClient, body: dict[str, Any] = QUERY, **kw: Any) -> list[str]:
    """The result-cache header of the same search sent twice."""
    responses = [client.post("/products/_search", json=body, **kw) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    return [r.headers[HEADER] for r in responses]


def test_a_repeat_is_served_from_the_cache_without_search_or_model() -> None:
    search, scorer = VersionedSearch(), WordScorer()
    with _client(search, scorer, result_cache=ResultCacheSettings(poll_s=0.05)) as client:
        first = client.post("/products/_search", json=QUERY)
        second = client.post("/products/_search", json=QUERY)
        assert (first.headers[HEADER], second.headers[HEADER]) == ("miss", "hit")
        assert second.headers["X-Rerank-Status"] == "ok"
        assert second.content == first.content
        assert (search.calls, len(scorer.calls)) == (1, 1)
        assert _twice(client, params={"size": "1"}) == ["miss", "hit"]
        assert _twice(client, headers={"Authorization": "Basic YTpi"}) == ["miss", "hit"]
        search.token = "g2"  # the index changed: the next poll sees it
        time.sleep(0.06)
        assert _twice(client) == ["miss", "hit"]
        assert search.calls == 4
        metrics = client.get("/metrics").text
    assert 'lychee_result_cache_total{outcome="hit"} 4.0' in metrics
    assert 'lychee_result_cache_total{outcome="miss"} 4.0' in metrics


def test_credentials_smuggled_into_a_param_do_not_reach_a_cached_response() -> None:
    with _client(VersionedSearch()) as client:
        assert _twice(client, headers={"Authorization": "Basic YTpi"}) == ["miss", "hit"]
        url = "/products/_search?size=10%00authorization:Basic%20YTpi"
        assert client.post(url, json=QUERY).status_code == 400  # not the cached 200


@pytest.mark.parametrize(
    ("case", "status"), [("explain", "ok"), ("raises", "degraded"), ("deadline", "degraded")]
)
def test_explained_or_degraded_responses_are_not_stored(case: str, status: str) -> None:
    search = VersionedSearch()
    scorer = SlowScorer() if case == "deadline" else WordScorer()
    scorer.overloaded = case == "raises"
    body = {**QUERY, "ext": {"rerank": {"explain": case == "explain"}}}
    with _client(search, scorer, model_deadline_ms=50) as client:
        responses = [client.post("/products/_search", json=body) for _ in range(2)]
    assert [r.headers["X-Rerank-Status"] for r in responses] == [status] * 2
    assert [r.headers[HEADER] for r in responses] == ["miss"] * 2
    assert search.calls == 2


@pytest.mark.parametrize(
    "case", ["no_generation", "generation_fails", "disabled", "env_disabled", "zero_bytes"]
)
def test_bypass_still_answers_and_never_hits(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYCHEE_RESULT_CACHE__ENABLED", "false" if case == "env_disabled" else "1")
    search = CountingSearch() if case == "no_generation" else VersionedSearch()
    if case == "generation_fails":
        search.generation_error = DOWN  # type: ignore[attr-defined]
    config: dict[str, Any] = {
        "disabled": {"result_cache": ResultCacheSettings(enabled=False)},
        "zero_bytes": {"result_cache": ResultCacheSettings(max_bytes=0)},
    }.get(case, {})
    with _client(search, **config) as client:
        assert _twice(client) == ["bypass"] * 2
        results = client.app.state.services.results  # type: ignore[attr-defined]
        assert (results is None) == (case != "generation_fails")
        counted = 'lychee_result_cache_total{outcome="bypass"} 2.0' in client.get("/metrics").text
    assert counted == (case == "generation_fails")  # a read failure counts, "off" does not
    assert search.calls == 2


def test_a_rules_edit_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("min_score: 0.4\n")
    with _client(VersionedSearch(), rules_path=str(path)) as client:
        rules = client.app.state.services.rules  # type: ignore[attr-defined]
        first = client.post("/products/_search", json=QUERY)
        assert [h["_id"] for h in first.json()["hits"]["hits"]] == ["1", "2"]
        rules.reload()  # unchanged content: same version, still a hit
        assert _twice(client) == ["hit", "hit"]
        path.write_text("min_score: 0.0\n")
        rules.reload()
        edited = client.post("/products/_search", json=QUERY)
    assert edited.headers[HEADER] == "miss"
    assert [h["_id"] for h in edited.json()["hits"]["hits"]] == ["1", "2", "0"]


def test_msearch_items_share_the_result_cache_with_single_searches() -> None:
    search = VersionedSearch()
    scorer = WordScorer()
    ndjson = "".join(json.dumps(line) + "\n" for line in [{"index": "products"}, QUERY])
    with _client(search, scorer) as client:
        single = client.post("/products/_search", json=QUERY)
        assert single.headers[HEADER] == "miss"
        calls = (search.calls, len(scorer.calls))
        multi = client.post(
            "/_msearch", content=ndjson, headers={"Content-Type": "application/x-ndjson"}
        )
    assert multi.status_code == 200
    item = multi.json()["responses"][0]
    assert item.pop("status") == 200
    assert item == single.json()  # the cached answer of the identical search
    assert (search.calls, len(scorer.calls)) == calls  # neither OpenSearch nor the model ran
