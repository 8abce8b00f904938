"""Keep the served process's memory flat: glibc malloc settings and returning freed memory.

Measured with benchmarks/rss_rerank.py (issue 14, item 8): `/api/rerank` calls with varied
texts grew the sidecar's RSS call after call and it was not given back when idle. Nothing
in the sidecar kept the memory: glibc did. Tensors of a new shape are allocated, freed, and
the freed space stays mapped: glibc raises its mmap threshold after each freed large block
(up to 32 MB), so later tensors come from heap arenas that fragment, and every thread that
allocates (tokenisation threads, the forward thread, torch's pool) may get its own arena.

`tune_malloc` (called once at start-up, before the threads exist) fixes the mmap threshold
(large blocks are mapped and unmapped, never kept) and caps the arenas; `start_trimmer`
gives freed heap pages back to the OS every `interval_s`. Environment variables the
operator set (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`) win. No-ops off glibc.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1024 * 1024
ARENA_MAX = 2
TRIM_INTERVAL_S = 30.0


@functools.cache  # loaded once: the trimmer asks every interval
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune_malloc() -> dict[str, bool]:
    """Fix glibc's mmap threshold and cap its arenas, unless the environment already does."""
    libc = _libc()
    done = {"mmap_threshold": False, "arena_max": False}
    if libc is None:
        return done
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        done["mmap_threshold"] = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if "MALLOC_ARENA_MAX" not in os.environ:
        done["arena_max"] = bool(libc.mallopt(M_ARENA_MAX, ARENA_MAX))
    log.info("malloc tuned: %s", done)
    return done


def trim() -> bool:
    """Give freed heap memory back to the OS now; True when some was released."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def start_trimmer(interval_s: float = TRIM_INTERVAL_S) -> threading.Event | None:
    """A daemon thread calling `trim` every `interval_s` (a few ms each on this heap);
    setting the returned event stops it."""
    if _libc() is None:
        return None
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval_s):
            trim()

    threading.Thread(target=run, name="lychee-malloc-trim", daemon=True).start()
    return stop
