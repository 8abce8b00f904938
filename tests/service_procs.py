"""Real OpenSearch and Redis processes for integration tests.

Each server is started through the `run` command of its script in `scripts/`, which execs
the server in the foreground, so the PID we hold is the server's own (a cluster-mode Redis
runs redis-server itself: `redis.sh run` takes no extra server options). Two guards stop
servers orphaned by a crashed test process: the kernel sends SIGTERM when the parent dies
(PR_SET_PDEATHSIG), and the OpenSearch launcher also exits when its stdin closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
OPENSEARCH_BUILD_TIMEOUT_S = 900.0
OPENSEARCH_START_TIMEOUT_S = 180.0
REDIS_START_TIMEOUT_S = 20.0
REDIS_CLUSTER_SLOTS = 16384
STOP_TIMEOUT_S = 30.0


class ServiceStartError(RuntimeError):
    """A service did not become ready; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# A cluster node also listens on port + 10000 (its cluster bus), so its port must be below this.
MAX_CLUSTER_PORT = 55535


def free_cluster_port(attempts: int = 200) -> int:
    """A port for a Redis Cluster node: free, low enough, and its bus port free as well."""
    for _ in range(attempts):
        port = random.randint(20000, MAX_CLUSTER_PORT)
        if all(_is_free(p) for p in (port, port + 10000)):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. Linux only; elsewhere the stdin guard remains.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ServiceProcess:
    """One foreground server process with a readiness probe.

    Call `start()` and `stop()` from the thread that owns the test session: the kernel
    guard fires when the thread that started the process exits.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        ready: Callable[[], bool],
        start_timeout_s: float,
    ) -> None:
        self.name = name
        self._argv = argv
        self._log_path = log_path
        self._ready = ready
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether the process we started is still alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """PID of the server process, or None when it is not running."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self) -> None:
        """Start the server and block until it is ready (or raise ServiceStartError)."""
        if self.running:
            return
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,  # Ctrl-C reaches pytest, which then stops us cleanly.
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceStartError(
                    f"{self.name} exited with {self._proc.returncode} during start-up; "
                    f"log {self._log_path}:\n{_log_tail(self._log_path)}"
                )
            if self._ready():
                return
            time.sleep(0.25)
        self.stop()
        raise ServiceStartError(
            f"{self.name} not ready within {self._start_timeout_s:.0f}s; "
            f"log {self._log_path}:\n{_log_tail(self._log_path)}"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        if proc.stdin is not None:
            proc.stdin.close()

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Stop the server for the duration of the block and start it again afterwards."""
        self.stop()
        try:
            yield
        finally:
            self.start()


def _opensearch_green(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/_cluster/health?wait_for_status=green&timeout=1s"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(json.load(response).get("status") == "green")
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_cluster_argv(port: int, log_dir: Path) -> list[str]:
    # The options of `redis.sh run` (scripts/redis.sh server_args), plus cluster mode.
    return [
        "redis-server",
        *("--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"),
        *("--dir", str(log_dir), "--protected-mode", "yes", "--cluster-enabled", "yes"),
        *("--cluster-config-file", str(log_dir / f"nodes-{port}.conf")),
    ]


def _redis_cluster_ok(port: int) -> bool:
    """Whether the node serves every slot; on a fresh node, first assigns them all to it.

    A restarted node reads its slots back from its cluster-config-file.
    """
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
            info = client.cluster("INFO")
            if info.get("cluster_slots_assigned") == "0":
                client.execute_command("CLUSTER ADDSLOTSRANGE", 0, REDIS_CLUSTER_SLOTS - 1)
            return bool(info.get("cluster_state") == "ok")
    except (redis.RedisError, OSError):
        return False


class OpenSearchServer(ServiceProcess):
    """A single-node OpenSearch on a fixed port; restarts keep the port and the data."""

    def __init__(self, port: int, home: Path, heap: str = "512m") -> None:
        self.port = port
        self.home = home
        argv = [
            str(SCRIPTS / "opensearch.sh"),
            "run",
            "--port",
            str(port),
            "--data",
            str(home),
            "--heap",
            heap,
        ]
        super().__init__(
            f"opensearch:{port}",
            argv,
            home / "node.log",
            lambda: _opensearch_green(port),
            OPENSEARCH_START_TIMEOUT_S,
        )

    @property
    def url(self) -> str:
        """Base URL for clients."""
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def build() -> None:
        """Resolve and compile the node once; cached in ~/.m2 and opensearch-node/target."""
        result = subprocess.run(
            [str(SCRIPTS / "opensearch.sh"), "build"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=OPENSEARCH_BUILD_TIMEOUT_S,
        )
        if result.returncode != 0:
            raise ServiceStartError(f"building the OpenSearch node failed:\n{result.stderr}")

    def start(self) -> None:
        """Build if needed, then start the node and wait for green health."""
        self.build()
        super().start()


class RedisServer(ServiceProcess):
    """A Redis without persistence on a fixed port; restarts keep the port (not the data).

    `cluster=True`: a single-node Redis Cluster owning all 16384 slots, ready once
    `cluster_state:ok`; its cluster-config-file lives in `log_dir`, so a restart keeps the
    node id and the slots.
    """

    def __init__(self, port: int, log_dir: Path, *, cluster: bool = False) -> None:
        self.port = port
        self.cluster = cluster
        if cluster:
            argv = _redis_cluster_argv(port, log_dir)
            ready = functools.partial(_redis_cluster_ok, port)
        else:
            argv = [str(SCRIPTS / "redis.sh"), "run", "--port", str(port), "--dir", str(log_dir)]
            ready = functools.partial(_redis_pong, port)
        super().__init__(
            f"redis-cluster:{port}" if cluster else f"redis:{port}",
            argv,
            log_dir / f"redis-{port}.log",
            ready,
            REDIS_START_TIMEOUT_S,
        )

    def start(self) -> None:
        """Install redis-server if missing (plain mode: `redis.sh run` does), then start."""
        if self.cluster and shutil.which("redis-server") is None:
            subprocess.run([str(SCRIPTS / "redis.sh"), "install"], cwd=ROOT, check=True)
        super().start()

    @property
    def url(self) -> str:
        """redis:// URL for clients (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"
