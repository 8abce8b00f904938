"""glibc malloc tuning for a flat RSS (sidecar/memory.py): applied unless the operator's
environment already decides, and a trim that runs without error."""

from __future__ import annotations

import pytest

from sidecar import memory


def test_tuning_applies_on_glibc_and_yields_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if memory._libc() is None:
        pytest.skip("not glibc")
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert memory.tune_malloc() == {"mmap_threshold": True, "arena_max": True}
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert memory.tune_malloc() == {"mmap_threshold": False, "arena_max": False}


def test_trim_gives_freed_memory_back() -> None:
    if memory._libc() is None:
        pytest.skip("not glibc")
    blocks = [bytearray(64 * 1024) for _ in range(2000)]  # ~128 MB on the heap
    del blocks
    memory.trim()  # True or False depending on what was free; it must simply run
    stop = memory.start_trimmer(interval_s=0.01)
    assert stop is not None
    stop.set()
