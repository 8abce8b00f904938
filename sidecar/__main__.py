"""`python -m sidecar`: serve the app with uvicorn on LYCHEE_HOST:LYCHEE_PORT;
`python -m sidecar warm --index NAME`: fill the embedding cache (sidecar/warm.py)."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from sidecar.app import create_app

# Load balancers keep idle upstream connections open for 60 s (AWS ALB's default). If we
# closed first, a request the balancer sends on a connection we are closing gets a 502;
# outliving its idle timeout leaves the closing to the balancer.
KEEP_ALIVE_S = 75


def main(argv: list[str] | None = None) -> None:
    if argv and argv[0] == "warm":
        from sidecar.warm import warm_main

        logging.basicConfig(level=logging.WARNING)
        raise SystemExit(warm_main(argv[1:]))
    if argv:
        raise SystemExit(f"usage: python -m sidecar [warm --index NAME ...]; not {argv[0]!r}")
    logging.basicConfig(
        level=os.environ.get("LYCHEE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # opensearch-py logs every request at INFO: noise, and a cost on the hot path.
    logging.getLogger("opensearch").setLevel(logging.WARNING)
    host = os.environ.get("LYCHEE_HOST", "0.0.0.0")
    port = int(os.environ.get("LYCHEE_PORT", "8080"))
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        proxy_headers=False,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
