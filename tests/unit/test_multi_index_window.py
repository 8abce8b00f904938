"""A window whose hits come from several indices: each hit is read with its own index's
field mapping (a search over `a,b`, `prod*` or `/_search`)."""

from __future__ import annotations

from typing import Any

from lychee_engine.types import Document, Query
from sidecar.breaker import CircuitBreaker
from sidecar.image_input import ImageResolver
from sidecar.metrics import Metrics
from sidecar.rules import RulesStore
from sidecar.search_pipeline import SearchPipeline
from sidecar.services import _hydrators
from sidecar.settings import IndexConfig, IndexFields, Settings
from sidecar.window_scoring import WindowScorer
from tests.unit.test_pipeline import FakeCache, FakeSearch, NoFetch


class RecordingScorer:
    """Scores 0.9 for documents mentioning "boot", 0.1 otherwise; records every text."""

    model_id = "recording"
    revision = "1"
    supports_images = False

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        self.texts.extend(d.text or "" for d in documents)
        return [0.9 if "boot" in (d.text or "") else 0.1 for d in documents]

    async def close(self) -> None:
        return None


def _mixed_search() -> FakeSearch:
    search = FakeSearch(0)
    search.hits = [
        {"_index": "products", "_id": "p1", "_score": 9.0, "_source": {"title": "plain sock"}},
        {"_index": "legacy", "_id": "l1", "_score": 8.0, "_source": {"name": "hiking boot"}},
        {"_index": "products", "_id": "p2", "_score": 7.0, "_source": {"title": "rain boot"}},
        {"_index": "legacy", "_id": "l2", "_score": 6.0, "_source": {"name": "wool hat"}},
    ]
    return search


def _pipeline(scorer: RecordingScorer, search: FakeSearch, cache: FakeCache) -> SearchPipeline:
    legacy = IndexConfig(fields=IndexFields(title="name", selling_points=[], image_fields=[]))
    settings = Settings(default_index=IndexConfig(window=10), indices={"legacy": legacy})
    metrics = Metrics()
    window_scorer = WindowScorer(scorer, cache, CircuitBreaker(3, 30.0), 5.0, "p1", metrics)  # type: ignore[arg-type]
    return SearchPipeline(
        settings,
        search,
        window_scorer,
        _hydrators(settings, None),
        ImageResolver(NoFetch(), 1024, 1_000_000),
        RulesStore(None),
        metrics,
    )


def _body() -> dict[str, Any]:
    return {"query": {"match": {"title": "boot"}}, "size": 4, "ext": {"rerank": {"explain": True}}}


async def test_each_hit_is_read_with_its_own_index_fields() -> None:
    scorer, cache = RecordingScorer(), FakeCache()
    result = await _pipeline(scorer, _mixed_search(), cache).run("products,legacy", _body(), {})
    assert sorted(scorer.texts) == ["hiking boot", "plain sock", "rain boot", "wool hat"]
    ids = [hit["_id"] for hit in result.response["hits"]["hits"]]
    assert ids[:2] == ["l1", "p2"]  # both boots first, whichever index they came from
    assert result.status == "ok"
    assert [h["_rerank"]["model_score"] for h in result.response["hits"]["hits"][:2]] == [0.9, 0.9]


async def test_a_repeated_mixed_window_comes_from_the_cache() -> None:
    scorer, cache = RecordingScorer(), FakeCache()
    pipeline = _pipeline(scorer, _mixed_search(), cache)
    await pipeline.run("products,legacy", _body(), {})
    scored = len(scorer.texts)
    again = await pipeline.run("products,legacy", _body(), {})
    assert len(scorer.texts) == scored
    assert again.response["rerank"]["cache_hits"] == 4


async def test_hits_of_unconfigured_indices_use_the_searched_names_config() -> None:
    search = _mixed_search()
    for hit in search.hits:  # an alias over one concrete index the config does not name
        hit["_index"] = "products-v2"
        hit["_source"] = {"title": hit["_source"].get("title") or hit["_source"]["name"]}
    scorer = RecordingScorer()
    await _pipeline(scorer, search, FakeCache()).run("products", _body(), {})
    assert sorted(scorer.texts) == ["hiking boot", "plain sock", "rain boot", "wool hat"]
