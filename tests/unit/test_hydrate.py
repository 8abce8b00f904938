"""Hydration: hits -> capped text, first working image, failures degrade to text-only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PIL import Image

from connectors.errors import FetchRefused, FetchTimeout
from connectors.hashing import content_hash
from connectors.hydrate import FieldMapping, Hydrator, get_field
from tests.unit.image_bytes import encoded, truncated_png

PNG = encoded("PNG", (8, 6))
JPEG = encoded("JPEG", (5, 5))


class FakeFetcher:
    """Serves bytes or errors by reference; records calls and peak concurrency."""

    def __init__(self, answers: dict[str, bytes | Exception], delay: float = 0.0) -> None:
        self.answers = answers
        self.delay = delay
        self.calls: list[str] = []
        self.active = 0
        self.peak = 0

    async def fetch(self, ref: str) -> bytes:
        self.calls.append(ref)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            answer = self.answers.get(ref, FetchRefused("unknown reference"))
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            self.active -= 1


def hit(doc_id: str, **source: Any) -> dict[str, Any]:
    return {"_id": doc_id, "_score": 1.0, "_source": source}


MAPPING = FieldMapping(
    id_field="sku",
    title="title",
    selling_points=("selling_points", "attrs.material"),
    image_fields=("image_url", "gallery"),
    rule_fields=("price",),
)


async def test_text_is_title_and_selling_points_joined_and_capped() -> None:
    hydrator = Hydrator(MAPPING, fetcher=None, max_chars=40)
    source = {
        "sku": 17,
        "title": " Trail shoe ",
        "selling_points": ["light", "", "grippy sole"],
        "attrs": {"material": "mesh"},
        "price": 99.5,
    }
    [doc] = await hydrator.hydrate([hit("os-1", **source)])
    assert doc.text == "Trail shoe | light | grippy sole | mesh"
    assert doc.doc_id == "17"
    assert doc.rule_values == {"price": 99.5}
    assert doc.document.text == doc.text and doc.document.image is None
    long_doc = hydrator.text_of({"title": "x" * 100})
    assert long_doc == "x" * 40


def test_dotted_paths_and_literal_dotted_keys() -> None:
    assert get_field({"a": {"b": 1}}, "a.b") == 1
    assert get_field({"a.b": 2, "a": {"b": 1}}, "a.b") == 2
    assert get_field({"a": [1]}, "a.b") is None


async def test_first_working_image_wins_and_errors_never_raise() -> None:
    fetcher = FakeFetcher(
        {
            "http://x/broken.png": FetchTimeout("no complete image within 3s"),
            "http://x/ok.png": PNG,
            "http://x/trunc.png": truncated_png(),
        }
    )
    hydrator = Hydrator(MAPPING, fetcher)
    docs = await hydrator.hydrate(
        [
            hit("a", title="A", image_url="http://x/broken.png", gallery=["http://x/ok.png"]),
            hit("b", title="B", image_url="http://x/trunc.png"),
            hit("c", image_url="http://x/ok.png"),
        ]
    )
    assert docs[0].image_bytes == PNG and docs[0].image_error is None
    assert isinstance(docs[0].document.image, Image.Image)
    assert docs[0].document.image.size == (8, 6)
    assert docs[1].image_bytes is None and docs[1].document.image is None
    assert docs[1].image_error == "undecodable: cannot decode PNG image"
    assert docs[1].document.text == "B"
    assert docs[2].text == "" and docs[2].document.text is None and docs[2].scorable
    assert fetcher.calls.count("http://x/ok.png") == 1  # shared reference fetched once


async def test_failed_image_keeps_the_first_error() -> None:
    fetcher = FakeFetcher({"http://10.0.0.1/a.png": FetchRefused("private address")})
    [doc] = await Hydrator(MAPPING, fetcher).hydrate(
        [hit("a", title="A", image_url="http://10.0.0.1/a.png", gallery="http://x/none.png")]
    )
    assert doc.image_error == "refused: private address"
    assert doc.content_hash == content_hash("A", None)


async def test_unexpected_fetcher_bug_degrades_to_text() -> None:
    fetcher = FakeFetcher({"http://x/a.png": RuntimeError("boom")})
    [doc] = await Hydrator(MAPPING, fetcher).hydrate(
        [hit("a", title="A", image_url="http://x/a.png")]
    )
    assert (doc.image_error, doc.text, doc.scorable) == ("failed: internal error", "A", True)


async def test_hit_with_nothing_is_marked_unscorable() -> None:
    [doc] = await Hydrator(MAPPING, FakeFetcher({})).hydrate([{"_id": "empty-1", "_source": {}}])
    assert (doc.doc_id, doc.text, doc.scorable) == ("empty-1", "empty-1", False)
    assert doc.document.text == "empty-1"


async def test_no_fetcher_means_no_image_requests() -> None:
    [doc] = await Hydrator(MAPPING, None).hydrate([hit("a", title="A", image_url="http://x/a")])
    assert doc.image_bytes is None and doc.image_error is None


async def test_fetches_run_concurrently_under_the_limit() -> None:
    answers: dict[str, bytes | Exception] = {f"http://x/{n}.jpg": JPEG for n in range(12)}
    fetcher = FakeFetcher(answers, delay=0.05)
    hydrator = Hydrator(MAPPING, fetcher, concurrency=4)
    hits = [hit(str(n), title=f"t{n}", image_url=f"http://x/{n}.jpg") for n in range(12)]
    docs = await hydrator.hydrate(hits)
    assert [d.doc_id for d in docs] == [str(n) for n in range(12)]
    assert all(d.image_bytes == JPEG for d in docs)
    assert fetcher.peak == 4


async def test_content_hash_tracks_text_and_image() -> None:
    fetcher = FakeFetcher({"http://x/p.png": PNG, "http://x/j.jpg": JPEG})
    docs = await Hydrator(MAPPING, fetcher).hydrate(
        [
            hit("1", title="A", image_url="http://x/p.png"),
            hit("2", title="A", image_url="http://x/j.jpg"),
            hit("3", title="A"),
            hit("4", title="A", image_url="http://x/p.png"),
        ]
    )
    hashes = [d.content_hash for d in docs]
    assert len(set(hashes[:3])) == 3
    assert hashes[0] == hashes[3]


def test_invalid_construction() -> None:
    with pytest.raises(ValueError):
        Hydrator(MAPPING, None, max_chars=0)
