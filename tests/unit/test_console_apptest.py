"""Console pages under Streamlit's AppTest, the sidecar played by an httpx MockTransport."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from console import client as client_module

APP = str(Path(__file__).resolve().parents[2] / "console" / "app.py")
TIMEOUT_S = 30.0  # generous: the first run imports streamlit's heavy modules on a busy machine

Handler = Callable[[httpx.Request], httpx.Response]


class FakeSidecar:
    """Routes by (method, path) to canned answers and records what the console sent."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "/readyz"): lambda _: httpx.Response(200, json=READY),
        }
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(404, json={"error": {"type": "not_found", "reason": "no"}})
        return handler(request)


READY = {"status": "ready", "checks": {"model": "ok (fake-model)", "opensearch": "ok"}}


def reply(status: int, body: Any) -> Handler:
    return lambda _: httpx.Response(status, json=body)


def error(status: int, kind: str, reason: str) -> Handler:
    return reply(status, {"error": {"type": kind, "reason": reason}})


@pytest.fixture()
def sidecar(monkeypatch: pytest.MonkeyPatch) -> FakeSidecar:
    fake = FakeSidecar()
    monkeypatch.setattr(
        client_module.SidecarClient,
        "from_env",
        classmethod(lambda cls: cls("http://sidecar.test", transport=httpx.MockTransport(fake))),
    )
    return fake


def _single_page() -> None:
    from console.screens import single

    single.render()


def _batch_page() -> None:
    from console.screens import batch

    batch.render()


def _search_page() -> None:
    from console.screens import search

    search.render()


def _advanced_page() -> None:
    from console.screens import advanced

    advanced.render()


def page(function: Callable[[], None]) -> AppTest:
    return AppTest.from_function(function, default_timeout=TIMEOUT_S)


# ---- the app shell ----


def test_sidebar_shows_the_ready_model(sidecar: FakeSidecar) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert not at.exception
    assert "Ready · fake-model" in at.sidebar.success[0].value
    assert at.header[0].value == "Single analysis"


def test_sidebar_says_the_sidecar_is_unavailable(sidecar: FakeSidecar) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sidecar.on("GET", "/readyz", refuse)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert not at.exception
    message = at.sidebar.error[0].value
    assert "http://sidecar.test is unavailable" in message and "SIDECAR_URL" in message


def test_sidebar_shows_the_failing_part_when_not_ready(sidecar: FakeSidecar) -> None:
    checks = {"model": "ok (fake-model)", "opensearch": "unreachable"}
    sidecar.on("GET", "/readyz", reply(503, {"status": "not_ready", "checks": checks}))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert at.sidebar.warning[0].value == "Not ready: opensearch: unreachable"


# ---- single analysis ----

DOCUMENT = "Lightweight running shoes. Ceramic mug."
SCORE = {
    "score": 0.8123,
    "band": "strong",
    "fragments": [
        {"text": "Lightweight running shoes", "start": 0, "end": 25, "impact": 0.41},
        {"text": " Ceramic mug", "start": 26, "end": 38, "impact": -0.05},
    ],
}


def _score(at: AppTest, query: str = "running shoes", document: str = DOCUMENT) -> AppTest:
    at.text_area(key="single.query.text").input(query)
    at.text_area(key="single.document.text").input(document)
    return at.button(key="single.score").click().run()


def test_single_shows_score_band_and_fragments(sidecar: FakeSidecar) -> None:
    sidecar.on("POST", "/api/score", reply(200, SCORE))
    at = _score(page(_single_page).run())
    assert not at.exception and not at.error
    assert at.metric[0].value == "0.812"
    assert "Band: :green[**strong**]" in [m.value for m in at.markdown]
    highlighted = next(m.value for m in at.markdown if "lychee-doc" in m.value)
    assert highlighted.count("<mark") == 2 and 'title="impact +0.410"' in highlighted
    body = sidecar.bodies("/api/score")[0]
    assert body["query"] == {"text": "running shoes"} and body["document"] == {"text": DOCUMENT}
    assert body["instruction"].startswith("Given a web search query")


def test_single_uses_the_session_instruction_and_thresholds(sidecar: FakeSidecar) -> None:
    from console.session import Thresholds

    sidecar.on("POST", "/api/score", reply(200, SCORE))
    at = page(_single_page)
    at.session_state["console.instruction"] = "Find products a shopper would buy."
    at.session_state["console.thresholds"] = Thresholds(strong=0.9, medium=0.8)
    at = _score(at.run())
    assert sidecar.bodies("/api/score")[0]["instruction"] == "Find products a shopper would buy."
    assert "Band: :orange[**medium**]" in [m.value for m in at.markdown]


def test_single_shows_the_gpu_memory_message(sidecar: FakeSidecar) -> None:
    reason = "CUDA out of memory: 16.0 GiB needed, 2.5 GiB free"
    sidecar.on("POST", "/api/score", error(503, "model_unavailable", reason))
    at = _score(page(_single_page).run())
    assert at.error[0].value == f"The GPU lacks memory for the model: {reason}"
    assert not at.metric


def test_single_reports_input_too_large(sidecar: FakeSidecar) -> None:
    sidecar.on("POST", "/api/score", error(413, "payload_too_large", "body over 10 MiB"))
    at = _score(page(_single_page).run())
    assert at.error[0].value == "Input too large: body over 10 MiB"


def test_single_needs_both_sides(sidecar: FakeSidecar) -> None:
    at = _score(page(_single_page).run(), query="   ")
    assert "Give the query and the document" in at.error[0].value
    assert not sidecar.bodies("/api/score")


# ---- batch rerank ----


def _rerank_reply(request: httpx.Request) -> httpx.Response:
    documents = json.loads(request.content)["documents"]
    scores = [0.2, 0.9, 0.6][: len(documents)]
    results = [
        {"index": i, "document": d, "score": s, "band": "x"}
        for i, (d, s) in enumerate(zip(documents, scores, strict=True))
    ]
    return httpx.Response(200, json={"results": sorted(results, key=lambda r: -r["score"])})


def _rerank(at: AppTest, lines: list[str]) -> AppTest:
    at.text_input(key="batch.query").input("running shoes")
    at.text_area(key="batch.documents").input("\n".join(lines))
    return at.button(key="batch.run").click().run()


def test_batch_table_is_sorted_with_bands_and_csv(sidecar: FakeSidecar) -> None:
    sidecar.on("POST", "/api/rerank", _rerank_reply)
    at = _rerank(page(_batch_page).run(), ["Coffee mug", "Running shoes", "", "Running socks"])
    assert not at.exception and not at.error
    frame = at.dataframe[0].value
    assert list(frame["line"]) == [2, 3, 1]
    assert list(frame["band"]) == ["strong", "medium", "weak"]
    assert list(frame["score"]) == [0.9, 0.6, 0.2]
    assert sidecar.bodies("/api/rerank")[0]["documents"] == [
        "Coffee mug",
        "Running shoes",
        "Running socks",
    ]
    assert at.get("download_button")


def test_batch_refuses_more_than_fifty_lines(sidecar: FakeSidecar) -> None:
    at = _rerank(page(_batch_page).run(), [f"document {i}" for i in range(51)])
    assert at.error[0].value.startswith("Too many documents: 51 lines")
    assert not sidecar.bodies("/api/rerank") and not at.dataframe


def test_batch_overloaded_is_a_warning(sidecar: FakeSidecar) -> None:
    sidecar.on("POST", "/api/rerank", error(429, "overloaded", "queue full"))
    at = _rerank(page(_batch_page).run(), ["a", "b"])
    assert "busy" in at.warning[0].value and not at.dataframe


def test_batch_timeout_message(sidecar: FakeSidecar) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    sidecar.on("POST", "/api/rerank", slow)
    at = _rerank(page(_batch_page).run(), ["a"])
    assert "did not answer in time" in at.error[0].value


# ---- search preview ----


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


HITS = [
    ("p1", "Coffee mug", "images/p1.png"),
    ("p2", "Trail running shoes", "images/p2.png"),
]


PNG = _png()


def _search_reply(request: httpx.Request) -> httpx.Response:
    options = json.loads(request.content)["ext"]["rerank"]
    hits = [
        {"_id": i, "_score": 2.0 - n, "_source": {"title": t, "image_path": p}}
        for n, (i, t, p) in enumerate(HITS)
    ]
    if not options["enabled"]:
        return httpx.Response(200, json={"took": 1, "hits": {"hits": hits}})
    explain = {"model_score": 0.91, "original_score": 1.0, "band": "strong", "cached": True}
    hits = [
        dict(hits[1], _score=0.91, _rerank={**explain, "rules_fired": ["boost:sales"]}),
        dict(hits[0], _score=0.1, _rerank={**explain, "model_score": 0.1, "band": "weak"}),
    ]
    rerank = {"status": "ok", "timings_ms": {"model": 42.0}, "cache_hits": 1}
    return httpx.Response(200, json={"took": 5, "hits": {"hits": hits}, "rerank": rerank})


def _search(sidecar: FakeSidecar, search: Handler = _search_reply) -> AppTest:
    sidecar.on("GET", "/_cat/indices", reply(200, [{"index": "products"}, {"index": ".plugins"}]))
    sidecar.on("POST", "/products/_search", search)
    sidecar.on("GET", "/api/catalog-images/p1.png", lambda _: httpx.Response(200, content=PNG))
    sidecar.on("GET", "/api/catalog-images/p2.png", lambda _: httpx.Response(200, content=b"?"))
    at = page(_search_page).run()
    at.text_input(key="search.query").input("running shoes")
    return at.button(key="search.run").click().run()


def test_search_shows_both_orders_with_rerank_details(sidecar: FakeSidecar) -> None:
    at = _search(sidecar)
    assert not at.exception and not at.error
    assert at.selectbox(key="search.index").options == ["products"]
    enabled = [body["ext"]["rerank"]["enabled"] for body in sidecar.bodies("/products/_search")]
    assert enabled == [False, True]
    text = [m.value for m in at.markdown]
    assert "**1. Trail running shoes**  ↑1" in text
    assert "score 0.910 · model 0.910 · :green[**strong**]" in text
    assert "rules: boost:sales · cached" in [c.value for c in at.caption]
    assert at.success[0].value == "Reranked. model 42 ms · cache hits 1"
    # p2's "image" is not one: the page still draws, with the placeholder.
    assert len(at.image) == 4


def test_search_degraded_is_announced(sidecar: FakeSidecar) -> None:
    def degraded(request: httpx.Request) -> httpx.Response:
        body = json.loads(_search_reply(request).content)
        body["rerank"] = {"status": "degraded", "reason": "model timeout", "cache_hits": 0}
        return httpx.Response(200, json=body)

    at = _search(sidecar, degraded)
    assert at.warning[0].value.startswith("Rerank degraded (model timeout): OpenSearch order kept")


def test_search_upstream_error(sidecar: FakeSidecar) -> None:
    at = _search(sidecar, error(502, "upstream_unavailable", "opensearch connection refused"))
    assert at.error[0].value == "OpenSearch is unavailable: opensearch connection refused"


def test_search_without_sidecar(sidecar: FakeSidecar) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sidecar.on("GET", "/_cat/indices", refuse)
    at = page(_search_page).run()
    assert "is unavailable" in at.error[0].value and not at.button


# ---- advanced settings ----


def test_advanced_saves_instruction_and_thresholds(sidecar: FakeSidecar) -> None:
    at = page(_advanced_page).run()
    assert at.text_area(key="advanced.text").value.startswith("Given a web search query")
    at.text_area(key="advanced.text").input("Rank by purchase intent.")
    at = at.button(key="advanced.save").click().run()
    assert at.session_state["console.instruction"] == "Rank by purchase intent."
    at.number_input(key="advanced.strong").set_value(0.8)
    at.number_input(key="advanced.medium").set_value(0.6)
    at = at.button(key="advanced.thresholds").click().run()
    saved = at.session_state["console.thresholds"]
    assert (saved.strong, saved.medium) == (0.8, 0.6)


def test_advanced_rejects_inverted_thresholds(sidecar: FakeSidecar) -> None:
    at = page(_advanced_page).run()
    at.number_input(key="advanced.strong").set_value(0.5)
    at.number_input(key="advanced.medium").set_value(0.6)
    at = at.button(key="advanced.thresholds").click().run()
    assert at.error[0].value == "Thresholds need 0 <= medium < strong <= 1."
    assert "console.thresholds" not in at.session_state


# ---- helpers the pages rely on ----


def test_highlight_escapes_document_html() -> None:
    from console.models import Fragment
    from console.views import highlight_html

    text = "<b>bold</b> & shoes"
    html = highlight_html(text, [Fragment("shoes", 14, 19, 0.2), Fragment("x", 30, 40, 1.0)])
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; " in html and "<b>" not in html
    assert html.count("<mark") == 1  # the out-of-range fragment is ignored


def test_displayable_replaces_non_images_with_the_placeholder() -> None:
    from console.views import displayable, placeholder_image

    assert displayable(PNG) == PNG
    assert displayable(b"<html>not found</html>") == placeholder_image()
    assert displayable(None) == placeholder_image()


@pytest.mark.parametrize(
    ("status", "kind", "reason", "expected"),
    [
        (401, "unauthorized", "bad key", "check SIDECAR_API_KEY"),
        (422, "unsupported_input", "not an image", "Invalid input: not an image"),
        (503, "model_unavailable", "weights not loaded", "The model is unavailable: weights"),
        (503, "upstream_unavailable", "no route", "OpenSearch is unavailable: no route"),
        (500, "sidecar_exception", "internal error", "The sidecar answered HTTP 500: internal"),
    ],
)
def test_client_error_messages(status: int, kind: str, reason: str, expected: str) -> None:
    from console.errors import ConsoleError
    from console.models import Side

    transport = httpx.MockTransport(error(status, kind, reason))
    client = client_module.SidecarClient("http://sidecar.test", "k", transport=transport)
    with pytest.raises(ConsoleError) as caught:
        client.score(Side("q"), Side("d"), None)
    assert expected in caught.value.message and caught.value.status == status


def test_client_sends_the_api_key_and_rejects_odd_bodies() -> None:
    from console.errors import ConsoleError

    seen: list[httpx.Request] = []

    def odd(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"results": [{"index": "zero"}]})

    client = client_module.SidecarClient("http://sidecar.test", "secret", httpx.MockTransport(odd))
    with pytest.raises(ConsoleError, match="not understood"):
        client.rerank("q", ["d"], None)
    assert seen[0].headers["X-API-Key"] == "secret"
