"""CUDA out-of-memory back-off shared by the plain and the fast Lychee paths."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import torch

from lychee_engine.errors import InsufficientMemory

log = logging.getLogger(__name__)
T = TypeVar("T")


def with_oom_backoff(
    forward: Callable[[list[T]], list[float]],
    items: list[T],
    single_failure: Callable[[T], str],
) -> list[float]:
    """Run `forward`; on CUDA out-of-memory free the cache and retry as two halves, down to
    one item, whose failure raises InsufficientMemory with `single_failure(item)`."""
    try:
        return forward(items)
    except torch.cuda.OutOfMemoryError as exc:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if len(items) == 1:
            raise InsufficientMemory(single_failure(items[0])) from exc
        half = len(items) // 2
        log.warning("OOM on a batch of %d pairs; retrying as %d + %d", len(items), half,
                    len(items) - half)  # fmt: skip
        return with_oom_backoff(forward, items[:half], single_failure) + with_oom_backoff(
            forward, items[half:], single_failure
        )
