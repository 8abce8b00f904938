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


def _instructions_page() -> None:
    from console.screens import advanced

    advanced.render_instructions()


def _settings_page() -> None:
    from console.screens import advanced

    advanced.render_settings()


def page(function: Callable[[], None]) -> AppTest:
    return AppTest.from_function(function, default_timeout=TIMEOUT_S)


# ---- the app shell ----


def test_sidebar_shows_the_ready_model(sidecar: FakeSidecar) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert not at.exception
    assert "Ready · fake-model" in at.sidebar.success[0].value
    assert at.header[0].value == "Lychee rerank console"  # the overview, at the root URL


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


def _open_url(path: str, monkeypatch: pytest.MonkeyPatch) -> tuple[AppTest, list[str]]:
    """Run the app as a browser opening `/<path>` directly: the first request names the page
    by its URL path (RerunData.page_name), not by a page hash. Also returns the paths
    Streamlit answered "page not found" for (it then shows the default page instead, which
    is how a default page's own path behaves)."""
    from streamlit.commands import navigation
    from streamlit.runtime.scriptrunner import RerunData
    from streamlit.testing.v1 import local_script_runner

    def opened_at(**fields: Any) -> RerunData:
        return RerunData(page_name=path, **fields)

    not_found: list[str] = []
    real_not_found = navigation.send_page_not_found

    def record_not_found(ctx: Any) -> None:
        not_found.append(path)
        real_not_found(ctx)

    monkeypatch.setattr(local_script_runner, "RerunData", opened_at)
    monkeypatch.setattr(navigation, "send_page_not_found", record_not_found)
    return AppTest.from_file(APP, default_timeout=TIMEOUT_S).run(), not_found


@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("", "Lychee rerank console"),
        ("search", "Search preview"),
        ("single", "Single analysis"),
        ("batch", "Batch rerank"),
        ("instructions", "Instructions"),
        ("settings", "Settings"),
    ],
)
def test_every_page_opens_at_its_url(
    sidecar: FakeSidecar, monkeypatch: pytest.MonkeyPatch, path: str, header: str
) -> None:
    sidecar.on("GET", "/_cat/indices", reply(200, [{"index": "products"}]))
    at, not_found = _open_url(path, monkeypatch)
    assert not at.exception and not not_found
    assert at.header[0].value == header


def test_an_unknown_url_falls_back_to_the_overview(
    sidecar: FakeSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    at, not_found = _open_url("no-such-page", monkeypatch)
    assert at.header[0].value == "Lychee rerank console" and not_found == ["no-such-page"]


# As `/readyz` publishes them for MiniLM.
CAPABILITIES = {
    "images": False,
    "query_images": False,
    "scripts": ["Latin"],
    "languages": ["English"],
    "instruction": False,
}


def test_capabilities_in_the_sidebar_and_overview(sidecar: FakeSidecar) -> None:
    sidecar.on("GET", "/readyz", reply(200, {**READY, "capabilities": CAPABILITIES}))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    expected = [
        "Images: no (text only)",
        "Query images: no (a search with a picture keeps OpenSearch's order)",
        "Scripts it reads: Latin",
        "Languages: English",
        "Instruction: ignored by this model",
    ]
    assert at.sidebar.caption[1].value == "  \n".join(expected)
    assert [m.value for m in at.main.markdown if m.value.startswith("- ")] == [
        f"- {line}" for line in expected
    ]


def test_capabilities_of_a_multilingual_image_backend() -> None:
    from console.wording import capability_lines

    published = {
        "images": True,
        "query_images": True,
        "scripts": "all",
        "languages": "multilingual",
        "instruction": True,
        "max_pixels": 1003520,
    }
    assert capability_lines(published) == [
        "Images: yes, it looks at product pictures",
        "Query images: yes",
        "Scripts it reads: all",
        "Languages: multilingual",
        "Instruction: followed",
        "Max pixels: 1003520",
    ]


def test_overview_says_when_capabilities_are_not_published(sidecar: FakeSidecar) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert "does not publish what its model can judge" in at.main.caption[-1].value


def test_instruction_page_warns_when_the_model_ignores_it(sidecar: FakeSidecar) -> None:
    sidecar.on("GET", "/readyz", reply(200, {**READY, "capabilities": CAPABILITIES}))
    at = page(_instructions_page).run()
    assert at.warning[0].value == (
        "The model in use (fake-model) ignores the instruction: editing it changes no score."
    )


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
    assert "Band of the model score: :green[**strong**]" in [m.value for m in at.markdown]
    highlighted = next(m.value for m in at.markdown if "lychee-doc" in m.value)
    assert highlighted.count("<mark") == 2 and 'title="impact +0.410"' in highlighted
    body = sidecar.bodies("/api/score")[0]
    assert body["query"] == {"text": "running shoes"} and body["document"] == {"text": DOCUMENT}
    assert "instruction" not in body  # the default is left to the sidecar (or the index)


def test_single_uses_the_session_instruction_and_thresholds(sidecar: FakeSidecar) -> None:
    from console.session import Thresholds

    sidecar.on("POST", "/api/score", reply(200, SCORE))
    at = page(_single_page)
    at.session_state["console.instruction"] = "Find products a shopper would buy."
    at.session_state["console.thresholds"] = Thresholds(strong=0.9, medium=0.8)
    at = _score(at.run())
    assert sidecar.bodies("/api/score")[0]["instruction"] == "Find products a shopper would buy."
    assert "Band of the model score: :orange[**medium**]" in [m.value for m in at.markdown]


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
# Window hits the rules took off the page, as `rerank.removed` reports them.
REMOVED = [
    {
        "_id": "p7",
        "_index": "products",
        "model_score": 0.21,
        "final_score": 0.25,
        "rules_fired": ["blend-bm25", "min_score"],
        "title": "Ceramic planter",
    },
    {
        "_id": "p9",
        "_index": "products",
        "model_score": 0.8,
        "final_score": 0.82,
        "rules_fired": ["blend-bm25", "hide-recalled-backpack"],
    },
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
    rerank = {
        "status": "ok",
        "timings_ms": {"model": 42.0},
        "cache_hits": 1,
        "model": "fake-model",
        "removed": REMOVED,
    }
    return httpx.Response(200, json={"took": 5, "hits": {"hits": hits}, "rerank": rerank})


def _edited_reply(edit: Callable[[dict[str, Any]], None]) -> Handler:
    """`_search_reply` whose JSON body `edit` changes in place before it is sent."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(_search_reply(request).content)
        edit(body)
        return httpx.Response(200, json=body)

    return handler


def _with_rerank(**rerank: Any) -> Handler:
    """`_search_reply` whose rerank block is replaced by `rerank` (and hits left unscored)."""

    def replace(body: dict[str, Any]) -> None:
        if "rerank" in body:
            body["rerank"] = rerank
            for hit in body["hits"]["hits"]:
                hit["_rerank"] = {"model_score": None, "original_score": 1.0, "rules_fired": []}

    return _edited_reply(replace)


def _search_routes(sidecar: FakeSidecar, search: Handler = _search_reply) -> None:
    indices = [{"index": "books"}, {"index": "products"}, {"index": ".plugins"}]
    sidecar.on("GET", "/_cat/indices", reply(200, indices))
    sidecar.on("POST", "/products/_search", search)
    sidecar.on("GET", "/api/catalog-images/p1.png", lambda _: httpx.Response(200, content=PNG))
    sidecar.on("GET", "/api/catalog-images/p2.png", lambda _: httpx.Response(200, content=b"?"))


def _search(sidecar: FakeSidecar, search: Handler = _search_reply) -> AppTest:
    _search_routes(sidecar, search)
    at = page(_search_page).run()
    at.text_input(key="search.query").input("running shoes")
    return at.button(key="search.run").click().run()


def test_search_shows_both_orders_with_rerank_details(sidecar: FakeSidecar) -> None:
    at = _search(sidecar)
    assert not at.exception and not at.error
    # Opens on the storefront index (default `products`), not the first in the list.
    assert at.selectbox(key="search.index").options == ["books", "products"]
    assert at.selectbox(key="search.index").value == "products"
    options = [body["ext"]["rerank"] for body in sidecar.bodies("/products/_search")]
    assert [o["enabled"] for o in options] == [False, True]
    assert not [o for o in options if "instruction" in o]  # the default is not sent
    text = [m.value for m in at.markdown]
    assert "**1. Trail running shoes**  ↑1" in text
    # The band names the score it was computed from: the final one, shown first.
    assert "final score 0.910 · model 0.910 · :green[**strong**] band (final score)" in text
    assert "rules: boost:sales · cached" in [c.value for c in at.caption]
    assert "OpenSearch score 2.000" in [c.value for c in at.caption]
    # p2's "image" is not one: the page still draws, with the placeholder.
    assert len(at.image) == 4


def test_search_banner_ok_and_timings_behind_a_toggle(sidecar: FakeSidecar) -> None:
    at = _search(sidecar)
    assert at.success[0].value == (
        "Reranked: the model put these results in order. "
        "Rules removed 2 hits from the reranked results (greyed below)."
    )
    captions = [c.value for c in at.caption]
    assert not any("42 ms" in c for c in captions)  # timings hidden until asked for
    at = at.toggle(key="search.timings").set_value(True).run()
    expected = "model 42 ms · OpenSearch took 5 ms · cache hits 1 · model fake-model"
    assert expected in [c.value for c in at.caption]


def test_search_removed_hits_are_greyed_with_rule_and_score(sidecar: FakeSidecar) -> None:
    at = _search(sidecar)
    assert "**Removed by rules (2)**" in [m.value for m in at.markdown]
    greyed = [m.value for m in at.markdown if "lychee-removed" in m.value]
    assert len(greyed) == 2
    assert all("color: #8a8a8a" in block for block in greyed)
    low, hidden = greyed
    assert "Ceramic planter <code>p7</code>" in low
    assert "final score below the minimum score (min_score) · final score 0.250" in low
    assert "model 0.210 · other rules: blend-bm25" in low
    # Without a title the id stands in; the hide's id is named.
    assert "p9 <code>p9</code>" in hidden and "removed by rule hide-recalled-backpack" in hidden
    assert "final score 0.820" in hidden


def test_search_without_removed_hits_has_no_removed_section(sidecar: FakeSidecar) -> None:
    at = _search(sidecar, _with_rerank(status="ok", timings_ms={"model": 3.0}))
    assert not [m for m in at.markdown if "lychee-removed" in m.value or "Removed by" in m.value]
    assert at.success[0].value == "Reranked: the model put these results in order."


@pytest.mark.parametrize(
    ("rerank", "tone", "expected"),
    [
        (
            {"status": "partial", "depth": 20, "reason": "timeout"},
            "warning",
            "Partially reranked: the model ordered the top 20 results; the rest keep "
            "OpenSearch's order. Why: the model did not answer in time.",
        ),
        (
            {"status": "skipped", "reason": "sorted"},
            "info",
            "Not reranked (skipped): OpenSearch's order is shown as is; thresholds and boosts "
            "don't apply. Why: the results are sorted by a field (price, date…), not by "
            "relevance.",
        ),
        (
            {"status": "skipped", "reason": "unsupported_script: Han"},
            "info",
            "Why: the query is written in a script this model cannot read (Han).",
        ),
        (
            {"status": "skipped", "reason": "image_only"},
            "info",
            "Why: the query is an image and this model reads text only.",
        ),
        (
            {"status": "degraded", "reason": "breaker_open", "cache_hits": 0},
            "warning",
            "Not reranked (model trouble): OpenSearch's order is kept; thresholds and boosts "
            "are off, hides and pins still apply. Why: the model failed several times in a "
            "row and is being given a rest.",
        ),
        (
            {"status": "degraded", "reason": "gpu_on_fire"},
            "warning",
            "Why: the sidecar reports “gpu on fire”.",
        ),
    ],
)
def test_search_banner_says_what_happened_and_why(
    sidecar: FakeSidecar, rerank: dict[str, Any], tone: str, expected: str
) -> None:
    at = _search(sidecar, _with_rerank(**rerank))
    assert not at.exception
    banners = {"warning": at.warning, "info": at.info}[tone]
    assert expected in banners[0].value
    # Unscored hits show OpenSearch's score, not a band.
    assert not [m for m in at.markdown if "band (final score)" in m.value]


def test_search_skip_detail_and_explain_notes(sidecar: FakeSidecar) -> None:
    rerank = {
        "status": "skipped",
        "reason": "unreadable_script",
        "detail": "the query is mostly in Han script; minilm reads Latin only",
        "instruction_ignored": "minilm does not read instructions; it had no effect",
        "timings_ms": {"retrieve": 4.0},
    }
    at = _search(sidecar, _with_rerank(**rerank))
    assert at.info[0].value.endswith(
        "Why: the query is written in a script this model cannot read — the query is mostly "
        "in Han script; minilm reads Latin only."
    )
    captions = [c.value for c in at.caption]
    assert "Instruction: minilm does not read instructions; it had no effect" in captions


def test_search_mixed_query_says_what_was_scored(sidecar: FakeSidecar) -> None:
    rerank = {
        "status": "ok",
        "query_scored_as": "denim jacket",
        "query_unread": "minilm reads Latin only; the rest of the query was not scored",
    }
    at = _search(sidecar, _with_rerank(**rerank))
    captions = [c.value for c in at.caption]
    assert "The model scored the query as: “denim jacket”" in captions
    assert "Not read: minilm reads Latin only; the rest of the query was not scored" in captions


def test_search_pinned_and_beyond_window_hits_name_their_scores(sidecar: FakeSidecar) -> None:
    def pin_and_deepen(body: dict[str, Any]) -> None:
        if "rerank" in body:
            pinned, deep = body["hits"]["hits"]
            # A pinned hit shows a clamped score; its band comes from its own final score.
            pinned.update(_score=0.95)
            pinned["_rerank"].update(final_score=0.331, band="weak", rules_fired=["pin-x"])
            deep.update(_score=0.12)
            deep["_rerank"] = {
                "model_score": None,
                "original_score": 3.5,
                "beyond_window": True,
                "rules_fired": [],
            }

    at = _search(sidecar, _edited_reply(pin_and_deepen))
    text = [m.value for m in at.markdown]
    assert (
        "score 0.950 · final score 0.331 · model 0.910 · :red[**weak**] band (final score)" in text
    )
    assert (
        "score 0.120 · below the reranked top results, in OpenSearch's order "
        "(OpenSearch score 3.500)" in text
    )


def test_search_with_no_hits_says_so(sidecar: FakeSidecar) -> None:
    def empty(request: httpx.Request) -> httpx.Response:
        rerank = {"status": "skipped", "reason": "unreadable_script"}
        return httpx.Response(200, json={"took": 1, "hits": {"hits": []}, "rerank": rerank})

    at = _search(sidecar, empty)
    captions = [c.value for c in at.caption]
    assert "OpenSearch found no hits for this page." in captions
    assert "No hits on this page." in captions


def test_search_response_without_rerank_block(sidecar: FakeSidecar) -> None:
    at = _search(sidecar, _edited_reply(lambda body: body.pop("rerank", None)))
    assert at.info[0].value == "Not reranked: the answer carried no rerank report."


def test_search_opens_on_the_configured_index_and_url_query(
    sidecar: FakeSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_INDEX", "books")
    sidecar.on("POST", "/books/_search", _search_reply)
    _search_routes(sidecar)
    at = page(_search_page)
    at.query_params["q"] = "trail shoes"
    at = at.run()
    assert at.selectbox(key="search.index").value == "books"
    assert at.text_input(key="search.query").value == "trail shoes"
    # ?q= searched at once, on the storefront index.
    assert [b["query"]["multi_match"]["query"] for b in sidecar.bodies("/books/_search")] == [
        "trail shoes",
        "trail shoes",
    ]
    assert at.success


def test_search_says_when_the_storefront_index_is_missing(
    sidecar: FakeSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_INDEX", "shop")
    _search_routes(sidecar)
    at = page(_search_page).run()
    assert at.selectbox(key="search.index").value == "books"
    assert any("“shop” is not in OpenSearch" in c.value for c in at.caption)


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
    at = page(_instructions_page).run()
    assert at.text_area(key="advanced.text").value.startswith("Given a web search query")
    assert not at.warning  # the backend publishes no capabilities: nothing to warn about
    at.text_area(key="advanced.text").input("Rank by purchase intent.")
    at = at.button(key="advanced.save").click().run()
    assert at.session_state["console.instruction"] == "Rank by purchase intent."
    at = page(_settings_page).run()
    at.number_input(key="advanced.strong").set_value(0.8)
    at.number_input(key="advanced.medium").set_value(0.6)
    at = at.button(key="advanced.thresholds").click().run()
    saved = at.session_state["console.thresholds"]
    assert (saved.strong, saved.medium) == (0.8, 0.6)


def test_advanced_rejects_inverted_thresholds(sidecar: FakeSidecar) -> None:
    at = page(_settings_page).run()
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
