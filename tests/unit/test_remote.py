"""RemoteScorer against httpx.MockTransport: wire format, order, retries, error mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from lychee_engine.errors import EngineError, Overloaded, UnsupportedInput
from lychee_engine.options import EngineOptions
from lychee_engine.remote import RemoteScorer
from lychee_engine.types import Document, Query

Handler = Callable[[httpx.Request], httpx.Response]
QUERY = Query(text="retro denim jacket")
DOCS = [Document(text="denim jacket"), Document(text="mug"), Document(text="jeans", image=b"IMG")]


def remote(handler: Handler, **kwargs: object) -> RemoteScorer:
    return RemoteScorer(
        "http://rerank.test/",
        EngineOptions(request_timeout_s=2.0),
        transport=httpx.MockTransport(handler),
        **kwargs,  # type: ignore[arg-type]
    )


def shuffled_results(request: httpx.Request) -> httpx.Response:
    count = len(json.loads(request.content)["documents"])
    results = [{"index": i, "relevance_score": round(0.1 * (i + 1), 3)} for i in range(count)]
    return httpx.Response(200, json={"results": results[::-1]})


async def test_sends_cohere_request_and_restores_input_order() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return shuffled_results(request)

    scorer = remote(handler, api_key="s3cret")
    assert await scorer.score(QUERY, DOCS, instruction="Find apparel.") == [0.1, 0.2, 0.3]
    body = json.loads(seen[0].content)
    assert seen[0].url == "http://rerank.test/v1/rerank"
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert body == {
        "query": "retro denim jacket",
        "documents": [
            "denim jacket",
            "mug",
            {"image": base64.b64encode(b"IMG").decode(), "text": "jeans"},
        ],
        "return_documents": False,
        "instruction": "Find apparel.",
    }
    await scorer.close()


async def test_image_path_is_sent_as_base64_and_instruction_omitted(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"PNGDATA")
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return shuffled_results(request)

    scorer = remote(handler)
    await scorer.score(QUERY, [Document(image=image)])
    assert bodies[0]["documents"] == [{"image": base64.b64encode(b"PNGDATA").decode()}]
    assert "instruction" not in bodies[0]
    await scorer.close()


async def test_429_is_overloaded() -> None:
    scorer = remote(lambda request: httpx.Response(429, json={"error": "busy"}))
    with pytest.raises(Overloaded):
        await scorer.score(QUERY, DOCS)
    await scorer.close()


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, text="boom"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"results": [{"index": 0, "relevance_score": 0.5}]}),
        httpx.Response(200, json={"results": [{"index": 7, "relevance_score": 0.5}]}),
        httpx.Response(200, json={"results": [{"index": 0, "relevance_score": 1.5}]}),
        httpx.Response(200, json={"oops": []}),
    ],
)
async def test_bad_answers_are_engine_errors(response: httpx.Response) -> None:
    scorer = remote(lambda request: response)
    with pytest.raises(EngineError) as caught:
        await scorer.score(QUERY, [Document(text="one"), Document(text="two")])
    assert not isinstance(caught.value, Overloaded)
    await scorer.close()


async def test_connect_errors_are_retried() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("refused", request=request)
        return shuffled_results(request)

    scorer = remote(flaky)
    assert await scorer.score(QUERY, DOCS[:1]) == [0.1]
    assert calls == 3
    await scorer.close()


async def test_persistent_connect_error_becomes_engine_error() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    scorer = remote(down)
    with pytest.raises(EngineError, match="unreachable"):
        await scorer.score(QUERY, DOCS)
    await scorer.close()


async def test_timeout_is_engine_error_without_retry() -> None:
    calls = 0

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=request)

    scorer = remote(slow)
    with pytest.raises(EngineError, match="timed out"):
        await scorer.score(QUERY, DOCS)
    assert calls == 1
    await scorer.close()


async def test_query_image_and_unreadable_document_image_are_unsupported() -> None:
    scorer = remote(shuffled_results)
    with pytest.raises(UnsupportedInput):
        await scorer.score(Query(text="jacket", image=b"IMG"), DOCS)
    with pytest.raises(UnsupportedInput, match="cannot be read"):
        await scorer.score(QUERY, [Document(image="/nonexistent/image.png")])
    await scorer.close()


async def test_no_documents_no_request() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    scorer = remote(fail)
    assert await scorer.score(QUERY, []) == []
    await scorer.close()


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http://"):
        RemoteScorer("rerank.test:8080")
