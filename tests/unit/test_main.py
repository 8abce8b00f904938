"""`python -m sidecar`: the address and the server limits it starts with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sidecar import __main__ as entry
from sidecar.http_server import GuardedHttpToolsProtocol
from sidecar.settings import get_settings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The uvicorn configs `main()` would serve."""
    configs: list[Any] = []

    class Server:
        def __init__(self, config: Any) -> None:
            configs.append(config)

        def run(self) -> None:
            return None

    monkeypatch.setattr(entry, "create_app", lambda settings: "app")
    monkeypatch.setattr(entry.uvicorn, "Server", Server)
    get_settings.cache_clear()
    yield configs
    get_settings.cache_clear()


def test_binds_loopback_unless_told_otherwise(
    started: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LYCHEE_HOST", raising=False)
    monkeypatch.setenv("LYCHEE_PORT", "9123")
    entry.main()
    assert (started[0].host, started[0].port) == ("127.0.0.1", 9123)
    get_settings.cache_clear()
    monkeypatch.setenv("LYCHEE_HOST", "0.0.0.0")
    entry.main()
    assert started[1].host == "0.0.0.0"


def test_serves_with_the_guarded_protocol_and_its_limits(
    started: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYCHEE_SERVER__MAX_HEADER_BYTES", "32768")
    entry.main()
    config = started[0]
    assert issubclass(config.http, GuardedHttpToolsProtocol)
    assert config.http.limits.max_header_bytes == 32768
    # Longer than the 60 s idle timeout of common load balancers: they close first.
    assert config.timeout_keep_alive == 75
    assert config.limit_concurrency == 2048
    assert config.proxy_headers is False
