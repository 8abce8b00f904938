"""`POST /api/warm` on a sidecar serving the tiny Lychee checkpoint, against a real
OpenSearch: the serving process walks the index and fills its own image caches, so a
never-seen query then preprocesses and encodes none of its window's images."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opensearchpy import OpenSearch, helpers
from PIL import Image

from lychee_engine import load_scorer
from lychee_engine.errors import EngineError
from lychee_engine.options import EngineOptions
from lychee_engine.remote import RemoteScorer
from lychee_engine.types import Document
from sidecar.app import create_app
from sidecar.server_thread import ServerThread
from sidecar.settings import ImageFetchSettings, IndexConfig, ResultCacheSettings, Settings
from sidecar.warm_via import warm_via
from tests.integration.conftest import CountingScorer

pytestmark = pytest.mark.integration

WITH_IMAGES = 10
PRODUCTS = [
    {"id": f"p{i}", "title": f"product canvas tote {i}", "image_url": f"p{i}.png"}
    for i in range(WITH_IMAGES)
] + [{"id": "t1", "title": "product plain text only"}, {"id": "t2", "title": "product mug"}]


def _png(i: int) -> bytes:
    image = Image.new("RGB", (56 + 28 * (i % 3), 56), (20 * i, 120, 250 - 20 * i))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog-images")
    for i in range(WITH_IMAGES + 1):  # one more for the document written through the proxy
        (root / f"p{i}.png").write_bytes(_png(i))
    return root


@pytest.fixture(scope="module")
def catalog(opensearch_client: OpenSearch, os_index: str) -> str:
    actions = [{"_index": os_index, "_id": p["id"], "_source": p} for p in PRODUCTS]
    helpers.bulk(opensearch_client, actions, refresh=True)
    return os_index


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lychee_engine.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture(scope="module")
def settings(
    opensearch_url: str, images: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text("min_score: 0.0\n")  # random tiny scores must not hide hits
    return Settings(
        opensearch_url=opensearch_url,
        rules_path=str(rules),
        result_cache=ResultCacheSettings(enabled=False),  # every search runs the pipeline
        default_index=IndexConfig(window=len(PRODUCTS)),
        model_deadline_ms=60_000,
        images=ImageFetchSettings(local_root=str(images)),
    )


@pytest.fixture(scope="module")
def sidecar(settings: Settings, checkpoint: Path, serve_sidecar: Any) -> ServerThread:
    scorer = load_scorer(f"tiny:{checkpoint}", EngineOptions(device="cpu"))
    return serve_sidecar(create_app(settings, scorer=scorer))  # type: ignore[no-any-return]


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


async def _warm(client: httpx.AsyncClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await client.post("/api/warm", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in answer.text.splitlines()]


async def test_warm_fills_the_serving_process_so_a_new_query_encodes_no_image(
    sidecar: ServerThread, catalog: str
) -> None:
    async with httpx.AsyncClient(base_url=sidecar.url, timeout=120) as client:
        lines = await _warm(client, {"index": catalog, "page_size": 5})
        progress, report = lines[:-1], lines[-1]["report"]
        assert progress == [
            {"done": 5, "total": 12, "warmed": 5},
            {"done": 10, "total": 12, "warmed": 10},
            {"done": 12, "total": 12, "warmed": 10},
        ]
        assert (report["documents"], report["warmed"], report["unscorable"]) == (12, 10, 0)
        metrics = (await client.get("/metrics")).text
        assert _metric(metrics, 'lychee_warm_documents_total{outcome="warmed"}') == 10
        assert _metric(metrics, 'lychee_warm_documents_total{outcome="cached"}') == 2
        assert _metric(metrics, "lychee_image_preprocess_warmed") == 10
        assert _metric(metrics, "lychee_vision_images_encoded") == 10
        before = {
            name: _metric(metrics, name)
            for name in (
                "lychee_image_preprocess_misses",
                "lychee_image_preprocess_hits",
                "lychee_vision_tower_calls",
                "lychee_vision_cache_misses",
                "lychee_vision_cache_hits",
            )
        }

        never_seen = f"product canvas tote {uuid.uuid4().hex}"  # no score cached for it
        body = {"query": {"match": {"title": never_seen}}, "size": len(PRODUCTS)}
        answer = await client.post(f"/{catalog}/_search", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Rerank-Status"] == "ok"
        assert len(answer.json()["hits"]["hits"]) == len(PRODUCTS)
        after = (await client.get("/metrics")).text

        assert (
            _metric(after, "lychee_image_preprocess_misses")
            == before["lychee_image_preprocess_misses"]
        )
        assert _metric(after, "lychee_vision_tower_calls") == before["lychee_vision_tower_calls"]
        assert _metric(after, "lychee_vision_cache_misses") == before["lychee_vision_cache_misses"]
        hits = _metric(after, "lychee_image_preprocess_hits")
        assert hits - before["lychee_image_preprocess_hits"] == WITH_IMAGES
        vision_hits = _metric(after, "lychee_vision_cache_hits")
        assert vision_hits - before["lychee_vision_cache_hits"] == WITH_IMAGES

        again = await _warm(client, {"index": catalog, "page_size": 1000})
        assert again[-1]["report"]["warmed"] == 0 and again[-1]["report"]["documents"] == 12


async def test_the_command_warms_via_the_sidecar(
    sidecar: ServerThread, catalog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.to_thread(warm_via, sidecar.url, catalog, page_size=5, progress=False)
    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith(f"warm: 12 documents of {catalog!r} in ")
    assert out.endswith("; 0 warmed now, 12 already warm, 0 the model cannot read\n")


async def test_one_warm_at_a_time(sidecar: ServerThread, catalog: str) -> None:
    async with httpx.AsyncClient(base_url=sidecar.url, timeout=120) as client:
        slow = {"index": catalog, "page_size": 1, "rate": 4.0}  # 12 documents: ~3 s
        async with client.stream("POST", "/api/warm", json=slow) as first:
            assert first.status_code == 200
            lines = first.aiter_lines()
            assert orjson.loads(await anext(lines))["done"] == 1
            second = await client.post("/api/warm", json={"index": catalog})
            assert second.status_code == 409
            assert "already running" in second.json()["error"]["reason"]
            rest = [orjson.loads(line) async for line in lines if line]
        assert rest[-1]["report"]["documents"] == 12
        assert rest[-1]["report"]["seconds"] >= 11 / 4.0 - 0.5  # the rate held
        after = await client.post("/api/warm", json={"index": catalog})
        assert after.status_code == 200  # the gate opened again


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({}, 422, "index"),
        ({"index": ""}, 422, "index"),
        ({"index": "a,b"}, 422, "index"),
        ({"index": "x", "rate": 0}, 422, "rate"),
        ({"index": "x", "rate": -1.5}, 422, "rate"),
        ({"index": "x", "page_size": 0}, 422, "page_size"),
        ({"index": "x", "page_size": 1001}, 422, "page_size"),
        ({"index": "x", "pages": 3}, 422, "pages"),
        ({"index": "no-such-index-here"}, 404, "no-such-index-here"),
    ],
)
async def test_bad_requests_get_a_clear_4xx(
    sidecar: ServerThread, body: dict[str, Any], status: int, names: str
) -> None:
    async with httpx.AsyncClient(base_url=sidecar.url, timeout=60) as client:
        answer = await client.post("/api/warm", json=body)
        assert answer.status_code == status, answer.text
        assert names in answer.json()["error"]["reason"]


async def test_a_body_that_is_not_json_gets_400(sidecar: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=sidecar.url, timeout=60) as client:
        answer = await client.post(
            "/api/warm", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert answer.status_code == 400, answer.text
    assert "JSON" in answer.json()["error"]["reason"]


async def test_a_scorer_with_nothing_to_warm_is_refused_by_name(
    settings: Settings, serve_sidecar: Any, catalog: str
) -> None:
    remote = RemoteScorer("http://127.0.0.1:9", EngineOptions(), model_id="far-away")
    server = serve_sidecar(create_app(settings, scorer=remote))
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        answer = await client.post("/api/warm", json={"index": catalog})
    assert answer.status_code == 409
    assert "far-away scores on another server" in answer.json()["error"]["reason"]


class _FailingOnPage2(CountingScorer):
    """The tiny scorer whose warm fails on its second call (a model error midway)."""

    warms = 0

    async def warm(self, documents: list[Document]) -> int:
        self.warms += 1
        if self.warms == 2:
            raise EngineError("forward pass failed (RuntimeError)")
        return await self.inner.warm(documents)  # type: ignore[attr-defined,no-any-return]


async def test_an_error_midway_ends_the_stream_with_an_error_line(
    settings: Settings, checkpoint: Path, serve_sidecar: Any, catalog: str
) -> None:
    scorer = _FailingOnPage2(load_scorer(f"tiny:{checkpoint}", EngineOptions(device="cpu")))
    server = serve_sidecar(create_app(settings, scorer=scorer))
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        lines = await _warm(client, {"index": catalog, "page_size": 4})
        assert lines[0]["done"] == 4
        assert lines[-1] == {
            "error": {"type": "model_error", "reason": "forward pass failed (RuntimeError)"},
            "done": 4,
        }
        retried = await _warm(client, {"index": catalog, "page_size": 4})  # gate released
        assert retried[-1]["report"]["documents"] == 12


async def test_documents_written_through_the_proxy_get_their_image_warmed(
    sidecar: ServerThread, catalog: str
) -> None:
    async with httpx.AsyncClient(base_url=sidecar.url, timeout=60) as client:
        before = _metric((await client.get("/metrics")).text, "lychee_image_preprocess_warmed")
        doc = {"title": "product new arrival", "image_url": f"p{WITH_IMAGES}.png"}
        written = await client.put(f"/{catalog}/_doc/new1", json=doc)
        assert written.status_code in (200, 201), written.text
        for _ in range(300):  # warmed in the background, after OpenSearch acknowledged
            metrics = (await client.get("/metrics")).text
            if _metric(metrics, "lychee_embedding_warmed_on_write") >= 1:
                break
            await asyncio.sleep(0.1)
        assert _metric(metrics, "lychee_embedding_warmed_on_write") == 1
        assert _metric(metrics, "lychee_image_preprocess_warmed") == before + 1


@pytest.fixture(autouse=True)
def _no_leftover_document(opensearch_client: OpenSearch, catalog: str) -> Iterator[None]:
    yield
    opensearch_client.delete(index=catalog, id="new1", ignore=[404], refresh=True)
