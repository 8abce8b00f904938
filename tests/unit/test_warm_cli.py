"""`python -m sidecar warm`: `--via` renders a sidecar's NDJSON progress (a fake endpoint
here; tests/integration/test_warm_lychee.py runs the real one), and without `--via` a
Lychee model is refused with the way to warm it."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from sidecar import warm_via as warm_via_module
from sidecar.warm import warm_main
from sidecar.warm_via import warm_via

URL = "http://sidecar.test"


def _endpoint(status: int, lines: list[dict[str, Any]], seen: list[dict[str, Any]]) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/api/warm")
        seen.append(
            {"body": orjson.loads(request.content), "key": request.headers.get("x-api-key")}
        )
        content = b"".join(orjson.dumps(line) + b"\n" for line in lines)
        kind = "application/x-ndjson" if status == 200 else "application/json"
        return httpx.Response(status, content=content, headers={"content-type": kind})

    return httpx.MockTransport(handle)


def test_progress_is_rendered_and_the_report_summarised(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[dict[str, Any]] = []
    lines = [
        {"done": 5, "total": 12, "warmed": 5},
        {"done": 12, "total": 12, "warmed": 10},
        {"report": {"documents": 12, "warmed": 10, "unscorable": 1, "seconds": 1.54}},
    ]
    transport = _endpoint(200, lines, seen)
    status = warm_via(URL, "products", page_size=5, rate=2.0, api_key="k", transport=transport)
    assert status == 0
    assert seen == [{"body": {"index": "products", "page_size": 5, "rate": 2.0}, "key": "k"}]
    out, err = capsys.readouterr()
    assert out == (
        "warm: 12 documents of 'products' in 1.5 s; 10 warmed now, 1 already warm, "
        "1 the model cannot read\n"
    )
    assert "12/12" in err  # the bar reached the total the sidecar announced


def test_an_error_line_fails_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        {"done": 4, "total": 12, "warmed": 4},
        {"error": {"type": "model_error", "reason": "forward pass failed"}, "done": 4},
    ]
    assert warm_via(URL, "p", progress=False, transport=_endpoint(200, lines, [])) == 1
    out, err = capsys.readouterr()
    assert out == "" and "failed after 4 documents: forward pass failed" in err


def test_a_stream_cut_short_is_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    lines = [{"done": 4, "total": 12, "warmed": 4}]
    assert warm_via(URL, "p", progress=False, transport=_endpoint(200, lines, [])) == 1
    assert "without a report" in capsys.readouterr().err


@pytest.mark.parametrize(("status", "code"), [(409, 2), (404, 1), (422, 1)])
def test_a_refusal_is_named(status: int, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    error = {"error": {"type": "conflict", "reason": "a warm of index 'p' is already running"}}
    assert warm_via(URL, "p", progress=False, transport=_endpoint(status, [error], [])) == code
    assert f"refused: {status} conflict: a warm of index 'p' is already running" in (
        capsys.readouterr().err
    )


def test_an_unreachable_sidecar_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert warm_via(URL, "p", progress=False, transport=httpx.MockTransport(refuse)) == 1
    assert f"cannot talk to {URL}" in capsys.readouterr().err


def test_lychee_without_via_is_refused_with_the_way_to_warm_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LYCHEE_CONFIG", raising=False)
    for model in ("lychee:/models/lychee-rerank-mm", "tiny:/tmp/tiny"):
        monkeypatch.setenv("LYCHEE_ENGINE__MODEL", model)
        assert warm_main(["--index", "products", "--no-progress"]) == 2
        assert "--via SIDECAR_URL" in capsys.readouterr().err


def test_via_is_what_the_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake(url: str, index: str, **kwargs: Any) -> int:
        calls.append((url, index, kwargs))
        return 0

    monkeypatch.setattr(warm_via_module, "warm_via", fake)
    argv = ["--index", "products", "--via", URL, "--rate", "50", "--no-progress"]
    assert warm_main(argv) == 0
    assert calls == [
        (
            URL,
            "products",
            {"page_size": 200, "rate": 50.0, "progress": False, "timeout_s": 660.0},
        )
    ]
    with pytest.raises(SystemExit):
        warm_main(["--index", "products", "--page-size", "1001"])
