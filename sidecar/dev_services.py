"""A throwaway OpenSearch node for evaluation, benchmarks and load tests."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sidecar.server_thread import free_port

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def opensearch_node(url: str | None, start_timeout_s: float = 900) -> Iterator[str]:
    """The given URL, or a fresh node (temporary data) started and stopped by
    scripts/opensearch.sh."""
    if url:
        yield url.rstrip("/")
        return
    port = str(free_port())
    script = str(ROOT / "scripts" / "opensearch.sh")
    with tempfile.TemporaryDirectory(prefix="opensearch-") as data:
        cmd = [script, "start", "--port", port, "--data", data]
        subprocess.run(cmd, check=True, timeout=start_timeout_s)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            subprocess.run([script, "stop", "--port", port], check=False, timeout=120)
