"""The whole stack for the browser tests, started once per session unless given.

With `E2E_SIDECAR_URL` and `E2E_CONSOLE_URL` already set, the tests use that stack and this
file starts nothing. Otherwise: the sample catalog is generated into a temporary directory
and indexed into the session OpenSearch (index `products`), the sidecar (`python -m
sidecar`, MiniLM, the session Redis as score cache, catalog pictures served from the
catalog) and the console (Streamlit) start as subprocesses on free ports, and both URLs are
exported for the session. Both processes stop at the end (SIGTERM, then SIGKILL); the kernel
stops them too if pytest dies (see `tests.service_procs`).

Chromium is required: missing, the tests fail under CI (`CI=true`) and skip elsewhere.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.sample_catalog import generate_catalog, index_catalog
from tests.service_procs import ROOT, ServiceProcess, free_port

CHROMIUM = "/usr/bin/chromium"
INDEX = "products"
SIDECAR_START_TIMEOUT_S = 180.0  # loads MiniLM; slow on CI's two shared cores
CONSOLE_START_TIMEOUT_S = 90.0
PROBE_TIMEOUT_S = 5.0
URL_VARS = ("E2E_SIDECAR_URL", "E2E_CONSOLE_URL")


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _env_argv(env: dict[str, str], argv: list[str]) -> list[str]:
    # `env` execs the command, so the PID ServiceProcess holds is the server's own; the rest
    # of the environment is inherited from pytest.
    return ["env", *(f"{key}={value}" for key, value in env.items()), *argv]


def sidecar_process(
    port: int, opensearch_url: str, redis_url: str, catalog: Path, log_dir: Path
) -> ServiceProcess:
    """The sidecar as `make run` starts it, on `port`, with generous model deadlines."""
    env = {
        "LYCHEE_HOST": "127.0.0.1",
        "LYCHEE_PORT": str(port),
        "LYCHEE_CONFIG": str(ROOT / "config" / "sidecar.yaml"),
        "LYCHEE_RULES_PATH": str(ROOT / "config" / "rules.example.yaml"),
        "LYCHEE_OPENSEARCH_URL": opensearch_url,
        "LYCHEE_CACHE__REDIS_URL": redis_url,
        "LYCHEE_IMAGES__LOCAL_ROOT": str(catalog),
        "LYCHEE_ENGINE__MODEL": "minilm",
        "LYCHEE_MODEL_DEADLINE_MS": "60000",  # two loaded CI cores: don't degrade to BM25
    }
    url = f"http://127.0.0.1:{port}"
    return ServiceProcess(
        f"sidecar:{port}",
        _env_argv(env, [sys.executable, "-m", "sidecar"]),
        log_dir / "sidecar.log",
        lambda: _answers_200(f"{url}/readyz"),
        SIDECAR_START_TIMEOUT_S,
    )


def console_process(port: int, sidecar_url: str, log_dir: Path) -> ServiceProcess:
    """The Streamlit console on `port`, talking to `sidecar_url`."""
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "console" / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",  # nothing to reload in a test; spares the CPU
        "--browser.gatherUsageStats",
        "false",
    ]
    return ServiceProcess(
        f"console:{port}",
        _env_argv({"SIDECAR_URL": sidecar_url}, argv),
        log_dir / "console.log",
        lambda: _answers_200(f"http://127.0.0.1:{port}/_stcore/health"),
        CONSOLE_START_TIMEOUT_S,
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, which Playwright drives; fails under CI when it is missing."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: run scripts/ensure_system_deps.sh (apt chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="package", autouse=True)
def e2e_stack(
    request: pytest.FixtureRequest,
    chromium_path: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """(sidecar URL, console URL): the given ones, or a stack started for this session."""
    given = [os.environ.get(name) for name in URL_VARS]
    if all(given):
        yield given[0] or "", given[1] or ""
        return
    # Looked up only now, so a given stack starts no OpenSearch or Redis of its own.
    opensearch_url: str = request.getfixturevalue("opensearch_url")
    redis_url: str = request.getfixturevalue("redis_url")
    catalog = generate_catalog(tmp_path_factory.mktemp("e2e-catalog")).root
    index_catalog(opensearch_url, INDEX, catalog)
    logs = tmp_path_factory.mktemp("e2e-logs")
    sidecar_port, console_port = free_port(), free_port()
    sidecar_url = f"http://127.0.0.1:{sidecar_port}"
    console_url = f"http://127.0.0.1:{console_port}"
    sidecar = sidecar_process(sidecar_port, opensearch_url, redis_url, catalog, logs)
    console = console_process(console_port, sidecar_url, logs)
    with pytest.MonkeyPatch.context() as env:
        try:
            sidecar.start()  # raises ServiceStartError with the log tail on failure
            console.start()
            env.setenv(URL_VARS[0], sidecar_url)
            env.setenv(URL_VARS[1], console_url)
            yield sidecar_url, console_url
        finally:
            console.stop()
            sidecar.stop()
