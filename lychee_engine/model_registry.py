"""Process-wide registry: each (path, dtype, device, attention) is loaded once.

Several scorers (e.g. one per index, or the rerank API next to the search route) may ask
for the same checkpoint; the weights must exist once per process, and two threads asking
at the same time must not both load them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelKey:
    path: str
    dtype: str
    device: str
    attention: str

    @classmethod
    def of(cls, path: str | Path, dtype: Any, device: Any, attention: str) -> ModelKey:
        """Normalise the parts so equal checkpoints give equal keys."""
        return cls(str(Path(path).resolve()), str(dtype), str(device), attention)


class ModelRegistry:
    """Thread-safe map from ModelKey to a loaded object, loading each key at most once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[ModelKey, Any] = {}
        self._key_locks: dict[ModelKey, threading.Lock] = {}

    def get_or_load(self, key: ModelKey, loader: Callable[[], Any]) -> Any:
        """Return the object for `key`, calling `loader` only if no thread has loaded it."""
        with self._lock:
            if key in self._entries:
                return self._entries[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # Load outside the registry lock so other keys are not blocked by a slow load.
        with key_lock:
            with self._lock:
                if key in self._entries:
                    return self._entries[key]
            value = loader()
            with self._lock:
                self._entries[key] = value
                self._key_locks.pop(key, None)
            return value

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def clear(self) -> None:
        """Forget every entry (tests; the objects are freed when no scorer holds them)."""
        with self._lock:
            self._entries.clear()


REGISTRY = ModelRegistry()
