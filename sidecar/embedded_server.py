"""`with serve_in_thread(app) as url:` — ServerThread as a context manager."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from sidecar.server_thread import ServerThread, free_port

__all__ = ["free_port", "serve_in_thread"]


@contextmanager
def serve_in_thread(
    app: FastAPI, port: int | None = None, timeout_s: float = 120.0
) -> Iterator[str]:
    """Yield the base URL once the app serves requests; stop it on exit."""
    server = ServerThread(app, port).start(timeout_s)
    try:
        yield server.url
    finally:
        server.stop()
