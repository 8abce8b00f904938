"""Throwaway services for evaluation, benchmarks and load tests: an OpenSearch node and the
sidecar in its own process (as deployed)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from sidecar.server_thread import free_port

ROOT = Path(__file__).resolve().parents[1]
SIDECAR_START_TIMEOUT_S = 600.0


@contextmanager
def opensearch_node(
    url: str | None, start_timeout_s: float = 900, java_opts: str | None = None
) -> Iterator[str]:
    """The given URL, or a fresh node (temporary data) started and stopped by
    scripts/opensearch.sh; `java_opts` are appended to the node's JVM flags."""
    if url:
        yield url.rstrip("/")
        return
    port = str(free_port())
    script = str(ROOT / "scripts" / "opensearch.sh")
    with tempfile.TemporaryDirectory(prefix="opensearch-") as data:
        cmd = [script, "start", "--port", port, "--data", data]
        env = os.environ | ({"OPENSEARCH_JAVA_OPTS": java_opts} if java_opts else {})
        subprocess.run(cmd, check=True, timeout=start_timeout_s, env=env)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            subprocess.run([script, "stop", "--port", port], check=False, timeout=120)


@contextmanager
def sidecar_process(
    opensearch_url: str, env: dict[str, str], log: Path
) -> Iterator[tuple[str, int]]:
    """`python -m sidecar` with MiniLM on a free port; yields (url, pid) once ready."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LYCHEE_")}
    full_env |= {
        "LYCHEE_HOST": "127.0.0.1",
        "LYCHEE_PORT": str(port),
        "LYCHEE_OPENSEARCH_URL": opensearch_url,
        "LYCHEE_ENGINE__MODEL": "minilm",
        "LYCHEE_LOG_LEVEL": "WARNING",
    } | env
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sidecar"], cwd=ROOT, env=full_env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SIDECAR_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the sidecar exited with {proc.returncode} during start-up")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the sidecar at {url} was not ready within {SIDECAR_START_TIMEOUT_S:.0f}s")
