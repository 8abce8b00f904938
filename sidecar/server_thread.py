"""Serve an app with uvicorn in a background thread (integration tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from sidecar.http_server import server_config
from sidecar.settings import ServerSettings


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """One app on 127.0.0.1:<port> in a daemon thread with its own event loop."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        # The product's own server limits (from the app's settings when it has them).
        settings = getattr(app.state, "settings", None)
        limits = settings.server if settings is not None else ServerSettings()
        config = server_config(
            app, limits, "127.0.0.1", self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sidecar", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> ServerThread:
        """Start serving; returns once the app's lifespan has run and the port listens."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server exited during start-up (see its log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {timeout_s:.0f}s")
            time.sleep(0.05)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask uvicorn to exit (runs the lifespan shutdown) and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=timeout_s)
