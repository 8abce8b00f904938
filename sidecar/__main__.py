"""`python -m sidecar`: serve the app with uvicorn on LYCHEE_HOST:LYCHEE_PORT."""

from __future__ import annotations

import logging
import os

import uvicorn

from sidecar.app import create_app


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LYCHEE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # opensearch-py logs every request at INFO: noise, and a cost on the hot path.
    logging.getLogger("opensearch").setLevel(logging.WARNING)
    host = os.environ.get("LYCHEE_HOST", "0.0.0.0")
    port = int(os.environ.get("LYCHEE_PORT", "8080"))
    uvicorn.run(create_app(), host=host, port=port, proxy_headers=False, access_log=False)


if __name__ == "__main__":
    main()
