"""The services an evaluation needs, started here unless their URLs are given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sidecar.embedded_server import serve_in_thread
from sidecar.settings import Settings


@contextmanager
def sidecar(url: str | None, settings: Settings) -> Iterator[str]:
    """Yield a sidecar's URL: the given one, or one served in-process with `settings`."""
    if url:
        yield url
        return
    from sidecar.app import create_app

    with serve_in_thread(create_app(settings)) as base:
        yield base
