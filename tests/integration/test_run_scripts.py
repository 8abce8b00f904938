"""`make stop` stops what `make run` started, on the ports it used (issue 14, item 9).

The scripts run from a copy of `scripts/` with a real Redis; OpenSearch is replaced by a
stub that records its calls (starting a node adds half a minute and shows nothing more).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.service_procs import ROOT, _redis_pong, free_port

pytestmark = pytest.mark.integration

STUB = """#!/usr/bin/env bash
echo "$*" >>"$(dirname "$0")/../opensearch-calls.log"
"""


def _copy_scripts(root: Path) -> Path:
    shutil.copytree(ROOT / "scripts", root / "scripts")
    stub = root / "scripts" / "opensearch.sh"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return root


def _run(root: Path, *argv: str, env: dict[str, str]) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENSEARCH_PORT", "REDIS_PORT")}
    subprocess.run(argv, cwd=root, env={**clean, **env}, check=True, timeout=60)


def test_stop_finds_the_ports_run_used(tmp_path: Path) -> None:
    root = _copy_scripts(tmp_path)
    redis_port, opensearch_port = free_port(), free_port()
    ports = {"REDIS_PORT": str(redis_port), "OPENSEARCH_PORT": str(opensearch_port)}
    _run(root, "scripts/services.sh", "up", env=ports)
    try:
        assert _redis_pong(redis_port)
        _run(root, "scripts/stop.sh", env={})  # a new shell: no ports given
        assert not _redis_pong(redis_port)
        calls = (root / "opensearch-calls.log").read_text().splitlines()
        assert calls == [f"start --port {opensearch_port}", f"stop --port {opensearch_port}"]
    finally:
        _run(root, "scripts/redis.sh", "stop", "--port", str(redis_port), env={})
