"""Session fixtures: the tiny Qwen2.5-VL checkpoint, generated once, and a backend on it."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from lychee_engine.options import EngineOptions

if TYPE_CHECKING:
    from lychee_engine.lychee_backend import LycheeBackend

TINY_SEED = 0
# Small enough that a 10-pair request is split into several batches.
TINY_OPTIONS = EngineOptions(device="cpu", max_batch_tokens=600, warmup=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`real_shapes` tests (minutes, ~10 GB) run only when selected by marker
    (`make test-real-shapes`); any other run, `make test` included, skips them."""
    if "real_shapes" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="the full-width model on CPU: make test-real-shapes")
    for item in items:
        if "real_shapes" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Qwen2.5-VL checkpoint directory (written once per session)."""
    import torch

    from lychee_engine.tiny import write_tiny_checkpoint

    # On a small shared CPU box oversubscribed OpenMP threads make tiny forwards 10-50x slower.
    torch.set_num_threads(1)
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-qwen2_5_vl"), seed=TINY_SEED)


@pytest.fixture(scope="session")
def tiny_backend(tiny_checkpoint: Path) -> LycheeBackend:
    """The tiny checkpoint loaded through LycheeBackend.load, as the real model is."""
    from lychee_engine.lychee_backend import LycheeBackend

    return LycheeBackend.load(str(tiny_checkpoint), TINY_OPTIONS)


def png(size: tuple[int, int] = (56, 56), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """An encoded PNG of one colour with a gradient, so different sizes differ in content."""
    image = Image.new("RGB", size, color)
    image.putpixel((0, 0), (size[0] % 256, size[1] % 256, 7))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    return png
