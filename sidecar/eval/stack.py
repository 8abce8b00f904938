"""The services an evaluation needs, started here unless their URLs are given."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sidecar.embedded_server import free_port, serve_in_thread
from sidecar.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def opensearch(url: str | None) -> Iterator[str]:
    """Yield a node's URL: the given one, or a fresh node started by scripts/opensearch.sh."""
    if url:
        yield url
        return
    port = free_port()
    script = str(ROOT / "scripts" / "opensearch.sh")
    subprocess.run([script, "start", "--port", str(port)], check=True, timeout=300)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop", "--port", str(port)], check=False, timeout=60)


@contextmanager
def sidecar(url: str | None, settings: Settings) -> Iterator[str]:
    """Yield a sidecar's URL: the given one, or one served in-process with `settings`."""
    if url:
        yield url
        return
    from sidecar.app import create_app

    with serve_in_thread(create_app(settings)) as base:
        yield base
