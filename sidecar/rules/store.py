"""Rules loaded from one YAML file, reloaded when the file changes.

There is no watcher thread to die silently: `current()` checks the file at most every
`check_interval_ms`, on the caller's thread, with one `stat` (plus a content hash when the
file was modified within the last two seconds, where timestamps are too coarse to trust).
A file that fails to load leaves the last good rules in force, logs why and sets
`last_error`; the next successful load clears it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sidecar.rules.errors import RulesError, describe_validation_error
from sidecar.rules.models import RuleSet

log = logging.getLogger(__name__)

MAX_RULES_BYTES = 1024 * 1024
_RACY_WINDOW_S = 2.0  # a file modified this recently may change again within one mtime tick


def parse_rules(data: Any, source: str = "rules") -> RuleSet:
    """Validate already-parsed YAML/JSON data; RulesError names every problem and its place."""
    if not isinstance(data, dict):
        raise RulesError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"{source} is invalid:\n{describe_validation_error(exc)}") from None


def load_rules_file(path: str | Path) -> RuleSet:
    """Read, parse and validate one rules file. An empty file is an error (a half-written
    file looks empty); write `{}` for "no rules"."""
    raw = _read(Path(path))
    return _parse_bytes(raw, str(path))


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_RULES_BYTES + 1)
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_RULES_BYTES:
        raise RulesError(f"rules file {path} is larger than {MAX_RULES_BYTES} bytes")
    return raw


def _parse_bytes(raw: bytes, source: str) -> RuleSet:
    if not raw.strip():
        raise RulesError(f"rules file {source} is empty (write {{}} for no rules)")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RulesError(f"rules file {source} is not valid YAML: {exc}") from None
    return parse_rules(data, f"rules file {source}")


class RulesStore:
    """The last good RuleSet from `path` (defaults when `path` is None), hot-reloaded.

    The first load must succeed (RulesError otherwise): there are no last good rules yet.
    """

    def __init__(
        self,
        path: str | Path | None,
        check_interval_ms: float = 1000.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = Path(path) if path is not None else None
        self._interval_s = check_interval_ms / 1000.0
        self._clock = clock
        self._lock = threading.Lock()
        self._rules = RuleSet()
        self._stat: tuple[int, int, int] | None = None
        self._digest = b""
        self._next_check = 0.0
        self.last_error: str | None = None
        self.loaded_at: float | None = None
        self.version = 0  # bumped on every successful (re)load: part of result-cache keys
        if self._path is not None:
            self._load(force=True)

    @property
    def path(self) -> Path | None:
        return self._path

    def current(self) -> RuleSet:
        """The rules in force, reloading first if the file changed since the last check."""
        due = self._path is not None and self._clock() >= self._next_check
        # Never block a request on a reload already in progress on another thread.
        if due and self._lock.acquire(blocking=False):
            try:
                self._next_check = self._clock() + self._interval_s
                self._load(force=False)
            finally:
                self._lock.release()
        return self._rules

    def reload(self) -> RuleSet:
        """Check the file now, regardless of the interval; returns the rules in force."""
        if self._path is not None:
            with self._lock:
                self._load(force=False)
        return self._rules

    def _load(self, force: bool) -> None:
        assert self._path is not None
        try:
            stat = self._path.stat()
        except OSError as exc:
            self._fail(f"cannot read rules file {self._path}: {exc.strerror or exc}", force)
            return
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        racy = time.time() - stat.st_mtime < _RACY_WINDOW_S
        if not force and signature == self._stat and not racy:
            return
        try:
            raw = _read(self._path)
            digest = hashlib.sha256(raw).digest()
            if not force and digest == self._digest:
                self._stat = signature
                return
            rules = _parse_bytes(raw, str(self._path))
        except RulesError as exc:
            self._stat = signature  # don't re-parse the same broken file every check
            self._digest = b""
            self._fail(str(exc), force)
            return
        self._rules, self._stat, self._digest = rules, signature, digest
        self.last_error, self.loaded_at = None, time.time()
        self.version += 1
        if not force:
            log.info("reloaded rules from %s", self._path)

    def _fail(self, message: str, force: bool) -> None:
        if force:
            raise RulesError(message)
        if message != self.last_error:
            log.warning("keeping the last good rules: %s", message)
        self.last_error = message
