"""Hostile images at the request level: a search whose hits point at bombs, truncated
files, wrong magic bytes, a slow-drip server, a huge Content-Length or a redirect loop
still answers 200 within its budget (each bad image scored as text, with its reason), and
the rerank API refuses such images with a 4xx that names the field, just as fast.

The fetcher-level behaviour of each attack is in tests/unit/test_safe_fetch.py; this
module checks that the sidecar as a whole stays inside its time budget around them.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from opensearchpy import OpenSearch, helpers
from PIL import Image

from lychee_engine import load_scorer
from lychee_engine.options import EngineOptions
from sidecar.app import create_app
from sidecar.server_thread import ServerThread
from sidecar.settings import ImageFetchSettings, Settings
from tests.hostile_images import huge, redirect, serve_bytes, slow_drip
from tests.unit.image_bytes import encoded, png_claiming_size, truncated_png

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FETCH_BUDGET_S = 1.0  # connect, read and total deadline of one image
REQUEST_BUDGET_S = 8.0  # the fetch budget + tiny-model scoring + a loaded machine's slack
MAX_PIXELS = 1_000_000
# hit id -> (path on the hostile server, the image_error prefix the hit must carry)
ATTACKS = {
    "bomb": ("/bomb.png", "too_large"),
    "truncated": ("/truncated.png", "undecodable"),
    "magic": ("/page.png", "not_an_image"),
    "drip": ("/slow.png", "timeout"),
    "huge": ("/huge.png", "too_large"),
    "loop": ("/loop-a.png", "refused"),
    "big": ("/big.png", "too_large"),  # a real image over the pixel cap
}


def _big_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1500, 1000), "white").save(buffer, "PNG")  # 1.5 Mpx, a few KB
    return buffer.getvalue()


@pytest.fixture
async def hostile() -> AsyncIterator[str]:
    """A server of hostile images on loopback; yields its base URL."""
    app = web.Application()
    routes = {
        "/ok.png": serve_bytes(encoded("PNG", (32, 32))),
        "/bomb.png": serve_bytes(png_claiming_size(50_000, 50_000)),
        "/truncated.png": serve_bytes(truncated_png()),
        "/page.png": serve_bytes(b"<html><body>not a picture</body></html>"),
        "/slow.png": slow_drip,
        "/huge.png": huge,
        "/loop-a.png": redirect("/loop-b.png"),
        "/loop-b.png": redirect("/loop-a.png"),
        "/big.png": serve_bytes(_big_png()),
    }
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture(scope="module")
def sidecar(
    tmp_path_factory: pytest.TempPathFactory, opensearch_url: str, serve_sidecar: Any
) -> ServerThread:
    from lychee_engine.tiny import write_tiny_checkpoint

    checkpoint = write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny")
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text("min_score: 0.0\n")  # random tiny scores must not hide hits
    scorer = load_scorer(f"tiny:{checkpoint}", EngineOptions(device="cpu"))
    settings = Settings(
        opensearch_url=opensearch_url,
        rules_path=str(rules),
        model_deadline_ms=30_000,
        images=ImageFetchSettings(
            allow_private_hosts=["127.0.0.1"],
            connect_timeout_s=FETCH_BUDGET_S,
            read_timeout_s=FETCH_BUDGET_S,
            total_timeout_s=FETCH_BUDGET_S,
            max_bytes=256 * 1024,
            max_pixels=MAX_PIXELS,
        ),
    )
    return serve_sidecar(create_app(settings, scorer=scorer))  # type: ignore[no-any-return]


@pytest.fixture
def hostile_index(opensearch_client: OpenSearch, os_index: str, hostile: str) -> Iterator[str]:
    """Products whose image URLs point at the hostile server (ports change per test)."""
    index = f"{os_index}-images-{int(time.time() * 1000) % 100000}"
    items = {"fine": "/ok.png", **{name: path for name, (path, _) in ATTACKS.items()}}
    actions = [
        {
            "_index": index,
            "_id": name,
            "_source": {"title": f"ceramic mug {name}", "image_url": hostile + path},
        }
        for name, path in items.items()
    ]
    helpers.bulk(opensearch_client, actions, refresh=True)
    yield index
    opensearch_client.indices.delete(index=index, ignore_unavailable=True)


async def test_a_search_over_hostile_images_answers_within_budget(
    sidecar: ServerThread, hostile_index: str
) -> None:
    body = {"query": {"match": {"title": "ceramic mug"}}, "ext": {"rerank": {"explain": True}}}
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.monotonic()
        response = await client.post(f"{sidecar.url}/{hostile_index}/_search", json=body)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["rerank"]["status"] == "ok"
    assert elapsed < REQUEST_BUDGET_S
    hits = {hit["_id"]: hit["_rerank"] for hit in result["hits"]["hits"]}
    assert set(hits) == {"fine", *ATTACKS}
    assert hits["fine"].get("image_error") is None
    for name, (_, prefix) in ATTACKS.items():
        error = hits[name].get("image_error") or ""
        assert error.startswith(prefix), (name, error)
        assert hits[name]["model_score"] is not None  # scored on its text alone


@pytest.mark.parametrize("name", ["bomb", "truncated", "magic", "drip", "huge", "loop"])
async def test_the_rerank_api_answers_fast_around_a_hostile_image_url(
    sidecar: ServerThread, hostile: str, name: str
) -> None:
    path, prefix = ATTACKS[name]
    document = {"text": "a cup", "image": hostile + path}
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.monotonic()
        response = await _rerank(client, sidecar, {"text": "mug"}, document)
        elapsed = time.monotonic() - started
        text_only = await _rerank(client, sidecar, {"text": "mug"}, {"text": "a cup"})
    assert elapsed < FETCH_BUDGET_S + 3.0
    if name == "truncated":
        # The header passes the pixel cap; the engine refuses to decode the rest and scores
        # the document on its text alone (DESIGN §5: an unusable image is not an error).
        assert response.status_code == 200, response.text
        assert _score(response) == _score(text_only)
    else:
        assert response.status_code == 400, response.text
        reason = response.json()["error"]["reason"]
        assert "documents.1.image" in reason and prefix in reason


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("bomb", png_claiming_size(50_000, 50_000)),
        ("truncated", truncated_png()),
        ("magic", b"GIF89a" + b"\0" * 64),
    ],
)
async def test_hostile_base64_query_images_are_refused_fast(
    sidecar: ServerThread, name: str, image: bytes
) -> None:
    data = base64.b64encode(image).decode()
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.monotonic()
        response = await _rerank(client, sidecar, {"text": "mug", "image": data}, "a cup")
        elapsed = time.monotonic() - started
        text_only = await _rerank(client, sidecar, {"text": "mug"}, "a cup")
        health = await client.get(f"{sidecar.url}/healthz")
    assert elapsed < 5.0
    assert health.status_code == 200
    assert text_only.status_code == 200
    if name in ("magic", "bomb"):  # refused by the API's magic-byte or pixel-cap check
        assert response.status_code == 400
        assert "query.image" in response.json()["error"]["reason"]
    else:  # refused by the engine's decoder: a query cannot lose its image silently
        assert response.status_code == 422, response.text
        assert response.json()["error"]["type"] == "unsupported_input"


async def _rerank(
    client: httpx.AsyncClient, sidecar: ServerThread, query: Any, document: Any
) -> httpx.Response:
    payload = {"query": query, "documents": ["a mug", document]}
    return await client.post(f"{sidecar.url}/api/rerank", json=payload)


def _score(response: httpx.Response) -> float:
    return next(r["score"] for r in response.json()["results"] if r["index"] == 1)


@pytest.mark.parametrize("source", ["base64", "url"])
async def test_the_rerank_api_applies_the_pixel_cap(
    sidecar: ServerThread, hostile: str, source: str
) -> None:
    image = base64.b64encode(_big_png()).decode() if source == "base64" else hostile + "/big.png"
    payload = {"query": "mug", "documents": [{"text": "a mug", "image": image}]}
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"{sidecar.url}/api/rerank", json=payload)
    assert response.status_code == 400, response.text
    reason = response.json()["error"]["reason"]
    assert "documents.0.image" in reason and f"{MAX_PIXELS}-pixel cap" in reason
