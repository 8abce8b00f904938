"""`GET /api/catalog-images/{name}`: serves catalog pictures from one directory, nothing else."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from connectors.score_cache import LruScoreCache
from lychee_engine.types import Document, Query
from sidecar.app import create_app
from sidecar.settings import ImageFetchSettings, Settings


class ConstantScorer:
    model_id = "constant"
    revision = "1"
    supports_images = False

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        return [0.5] * len(documents)

    async def close(self) -> None:
        return None


class NoSearch:
    async def search(
        self, index: str | None, body: object, params: object = None, headers: object = None
    ) -> object:
        raise AssertionError("the images route must not search")

    async def close(self) -> None:
        return None


def _upstream(request: httpx.Request) -> httpx.Response:
    # A request reaching the OpenSearch pass-through would be a routing bug here.
    return httpx.Response(599, json={"reached": "upstream", "path": request.url.path})


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """A catalog root: images/ with a PNG, a JPEG and a WEBP, plus a secret beside it."""
    images = tmp_path / "catalog" / "images"
    images.mkdir(parents=True)
    (images / "p0001.png").write_bytes(_png((200, 30, 30)))
    Image.new("RGB", (4, 4)).save(images / "p0002.jpg", format="JPEG")
    Image.new("RGB", (4, 4)).save(images / "p0003.webp", format="WEBP")
    (images / "notes.txt").write_text("not an image")
    (tmp_path / "catalog" / "secret.png").write_bytes(_png((0, 0, 0)))
    (tmp_path / "outside.png").write_bytes(_png((0, 0, 0)))
    (images / "link.png").symlink_to(tmp_path / "outside.png")
    return tmp_path / "catalog"


def _app_client(local_root: str | None) -> TestClient:
    app = create_app(
        Settings(images=ImageFetchSettings(local_root=local_root)),
        scorer=ConstantScorer(),
        cache=LruScoreCache(10),
        search=NoSearch(),  # type: ignore[arg-type]
        upstream_transport=httpx.MockTransport(_upstream),
    )
    return TestClient(app)


@pytest.fixture
def client_for() -> Iterator[Callable[[str | None], TestClient]]:
    opened: list[TestClient] = []

    def make(local_root: str | None) -> TestClient:
        client = _app_client(local_root).__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _assert_not_found(client: TestClient, name: str) -> None:
    response = client.get(f"/api/catalog-images/{name}")
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["type"] == "not_found"
    assert "catalog image" in error["reason"]
    assert set(error) == {"type", "reason"}  # our shape, not OpenSearch's root_cause one


def test_serves_png_with_type_and_cache_headers(
    catalog: Path, client_for: Callable[[str | None], TestClient]
) -> None:
    response = client_for(str(catalog)).get("/api/catalog-images/p0001.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.content == (catalog / "images" / "p0001.png").read_bytes()


@pytest.mark.parametrize(
    ("name", "media_type"), [("p0002.jpg", "image/jpeg"), ("p0003.webp", "image/webp")]
)
def test_jpeg_and_webp_content_types(
    catalog: Path, client_for: Callable[[str | None], TestClient], name: str, media_type: str
) -> None:
    response = client_for(str(catalog)).get(f"/api/catalog-images/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == (catalog / "images" / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "..%2fsecret.png",
        "..%2F..%2Foutside.png",
        "%2e%2e%2fsecret.png",
        "..%5csecret.png",
        "sub%2f..%2f..%2fsecret.png",
        "%2fetc%2fpasswd.png",
        "link.png",  # a symlink leading out of the directory
    ],
)
def test_traversal_is_refused(
    catalog: Path, client_for: Callable[[str | None], TestClient], path: str
) -> None:
    _assert_not_found(client_for(str(catalog)), path)


@pytest.mark.parametrize("name", ["notes.txt", "p0001.png.txt", "p0001.gif", "p0001", "p 1.png"])
def test_bad_extension_or_name(
    catalog: Path, client_for: Callable[[str | None], TestClient], name: str
) -> None:
    _assert_not_found(client_for(str(catalog)), name)


def test_missing_file(catalog: Path, client_for: Callable[[str | None], TestClient]) -> None:
    _assert_not_found(client_for(str(catalog)), "p9999.png")


def test_unset_root(client_for: Callable[[str | None], TestClient]) -> None:
    _assert_not_found(client_for(None), "p0001.png")
