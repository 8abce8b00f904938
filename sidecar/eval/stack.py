"""The services an evaluation needs, started here unless their URLs are given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from connectors.score_cache import ScoreCache
from sidecar.embedded_server import serve_in_thread
from sidecar.settings import Settings


@contextmanager
def sidecar(url: str | None, settings: Settings, cache: ScoreCache | None = None) -> Iterator[str]:
    """Yield a sidecar's URL: the given one, or one served in-process with `settings`.

    `cache`: a score cache shared by sidecars served one after the other (the model-only
    and as-shipped runs score the same pairs with the same model: the second reads them).
    """
    if url:
        yield url
        return
    from sidecar.app import create_app

    with serve_in_thread(create_app(settings, cache=cache)) as base:
        yield base
