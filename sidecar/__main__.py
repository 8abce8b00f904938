"""`python -m sidecar`: serve the app on LYCHEE_HOST:LYCHEE_PORT (127.0.0.1:8080 by default),
with the server limits of sidecar/http_server.py;
`python -m sidecar warm --index NAME [--via SIDECAR_URL]`: fill the per-document caches
(sidecar/warm.py)."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from sidecar import memory
from sidecar.app import create_app
from sidecar.http_server import server_config
from sidecar.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    if argv and argv[0] == "warm":
        from sidecar.warm import warm_main

        logging.basicConfig(level=logging.WARNING)
        raise SystemExit(warm_main(argv[1:]))
    if argv:
        usage = "python -m sidecar [warm --index NAME [--via URL] ...]"
        raise SystemExit(f"usage: {usage}; not {argv[0]!r}")
    logging.basicConfig(
        level=os.environ.get("LYCHEE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # opensearch-py logs every request at INFO: noise, and a cost on the hot path.
    logging.getLogger("opensearch").setLevel(logging.WARNING)
    # Before any thread exists: glibc settings that keep RSS flat (sidecar/memory.py).
    memory.tune_malloc()
    memory.start_trimmer()
    settings = get_settings()
    config = server_config(
        create_app(settings), settings.server, settings.host, settings.port, access_log=False
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1:])
