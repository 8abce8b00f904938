"""`python -m sidecar`: the uvicorn settings the server is started with."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar import __main__ as entry


def test_the_server_outlives_a_load_balancers_idle_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(entry, "create_app", lambda: "app")
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("LYCHEE_PORT", "9123")
    entry.main()
    assert len(calls) == 1
    assert calls[0]["port"] == 9123
    # Longer than the 60 s idle timeout of common load balancers: they close first.
    assert calls[0]["timeout_keep_alive"] == 75
