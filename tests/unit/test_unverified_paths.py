"""The flash-attn-only fast paths stay off unless enabled, even where flash-attn is available.

Two levels: the attention choice (flash-attn's availability check monkeypatched to "usable")
and the attention calls themselves. For the latter the tiny model's configs say
flash_attention_2 and a recording stand-in is registered under that name, so every call the
model would make into flash-attn is seen with its shapes and arguments: the four unverified
paths each leave a distinct trace (varlen boundaries on a text or vision call, fewer queries
than keys, a 2-D padding mask on a continuation).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from lychee_engine import device as dev
from lychee_engine.fast.fast_backend import FastLycheeBackend
from lychee_engine.fast.options import UNVERIFIED_PATHS, FastOptions
from lychee_engine.lychee_backend import LycheeBackend
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query
from sidecar.settings import Settings
from tests.unit.conftest import png

ALL_ON = FastOptions(packed=True, flash_vision=True, flash_prefix=True, flash_multi_prefix=True)


@dataclass(frozen=True, slots=True)
class Call:
    """One call into the attention kernel registered as flash_attention_2."""

    module: str  # the transformers attention module class
    queries: int
    keys: int
    mask_dims: int | None  # None: no mask; 2: flash-attn's (rows, keys) padding mask
    varlen: bool  # cu_seq_lens given: packed rows or the vision tower's windows

    @property
    def vision(self) -> bool:
        return "Vision" in self.module


@pytest.fixture
def flash_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """flash-attn's availability check says yes (any device, any dtype)."""
    monkeypatch.setattr(dev, "is_flash_attn_2_available", lambda: True)
    monkeypatch.setattr(dev, "_flash_attention_blocker", lambda device, dtype: None)


@pytest.fixture
def flash_calls(tiny_backend: LycheeBackend, monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """The tiny model switched to "flash_attention_2", served by a recorder (restored after)."""
    calls: list[Call] = []

    def recorder(
        module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
        attention_mask: torch.Tensor | None = None, **kwargs: Any,
    ) -> tuple[torch.Tensor, None]:  # fmt: skip
        mask = None if attention_mask is None else attention_mask.dim()
        varlen = kwargs.get("cu_seq_lens_q") is not None
        calls.append(Call(type(module).__name__, query.shape[-2], key.shape[-2], mask, varlen))
        return torch.zeros_like(query).transpose(1, 2).contiguous(), None  # (rows, len, heads, d)

    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS, "flash_attention_2", recorder)
    config = tiny_backend.model.config
    for part in (config, config.text_config, config.vision_config):
        monkeypatch.setattr(part, "_attn_implementation", "flash_attention_2")
    return calls


def _score_mixed(fast: FastLycheeBackend) -> None:
    """Two requests whose pairs share their prefix (of different lengths, one with a query
    image) and one single-pair request (no prefix to share), in one call, with images."""
    pairs = fast.prepare(
        Query(text="green shirt", image=png((56, 84))),
        [Document(text="cotton shirt", image=png((112, 56))), Document(text="mug")],
        None,
    )
    pairs += fast.prepare(Query(text="mug"), [Document(text="a red mug"), Document(text="x")], None)
    pairs += fast.prepare(Query(text="wallet"), [Document(text="leather wallet")], None)
    fast.score_prepared(pairs)


def _traces(calls: list[Call]) -> dict[str, bool]:
    """Which unverified path each recorded call belongs to."""
    text = [c for c in calls if not c.vision]
    return {
        "packed": any(c.varlen for c in text),
        "flash_vision": any(c.vision for c in calls),
        "flash_prefix": any(c.queries < c.keys for c in text),
        "flash_multi_prefix": any(c.queries < c.keys and c.mask_dims == 2 for c in text),
    }


def test_defaults_switch_every_unverified_path_off() -> None:
    assert FastOptions().unverified_enabled == ()
    assert EngineOptions().fast == FastOptions()
    assert Settings().engine.fast.model_dump() == dict.fromkeys(UNVERIFIED_PATHS, False)
    assert ALL_ON.unverified_enabled == tuple(UNVERIFIED_PATHS)
    with pytest.raises(ValueError, match="packed"):
        FastOptions(packed="on")  # type: ignore[arg-type]


def test_settings_enable_them_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYCHEE_ENGINE__FAST__PACKED", "true")
    monkeypatch.setenv("LYCHEE_ENGINE__FAST__FLASH_PREFIX", "true")
    fast = FastOptions(**Settings().engine.fast.model_dump())
    assert fast.unverified_enabled == ("packed", "flash_prefix")


def test_auto_attention_stays_on_sdpa_while_flash_is_available(flash_available: None) -> None:
    cuda = torch.device("cuda")
    choice = dev.choose_attention("auto", cuda, torch.bfloat16, flash_paths=False)
    assert choice.implementation == "sdpa" and "verified" in choice.reason
    enabled = dev.choose_attention("auto", cuda, torch.bfloat16, flash_paths=True)
    assert enabled.implementation == "flash_attention_2"
    explicit = dev.choose_attention("flash_attention_2", cuda, torch.bfloat16, flash_paths=False)
    assert explicit.implementation == "flash_attention_2"  # asked for by name


def test_served_backend_loads_on_sdpa_and_says_what_is_off(
    flash_available: None, tiny_checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="lychee_engine"):
        fast = FastLycheeBackend.load(str(tiny_checkpoint), EngineOptions(device="cpu"))
    assert fast._inner.model.config._attn_implementation == "sdpa"
    line = next(r.getMessage() for r in caplog.records if "fast path on" in r.getMessage())
    assert line.startswith("fast path on sdpa (the verified path)")
    assert "switched off" in line and all(name in line for name in UNVERIFIED_PATHS)
    assert "UNVERIFIED" not in line


def test_flash_paths_stay_off_unless_enabled(
    tiny_backend: LycheeBackend, flash_calls: list[Call], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="lychee_engine.fast"):
        fast = FastLycheeBackend(tiny_backend, FastOptions())
    assert "fast path on flash_attention_2" in caplog.text
    _score_mixed(fast)
    text = [c for c in flash_calls if not c.vision]
    assert text, "the text model ran on the (recorded) flash kernel"
    assert not any(_traces(flash_calls).values()), flash_calls
    # every text call is a whole padded batch: as many queries as keys, no mask, no varlen
    assert all(c.queries == c.keys and c.mask_dims is None for c in text)
    assert fast.vision.images_encoded == 2  # through the batched sdpa tower instead
    assert fast.stats.prefixes == 0


def test_each_flash_path_runs_once_enabled(
    tiny_backend: LycheeBackend, flash_calls: list[Call]
) -> None:
    _score_mixed(FastLycheeBackend(tiny_backend, ALL_ON))
    assert _traces(flash_calls) == dict.fromkeys(UNVERIFIED_PATHS, True)


@pytest.mark.parametrize("name", UNVERIFIED_PATHS)
def test_one_switch_turns_on_its_path(
    tiny_backend: LycheeBackend, flash_calls: list[Call], name: str
) -> None:
    options = FastOptions(**{name: True})
    if name == "flash_multi_prefix":  # continuing several prefixes needs prefix reuse on
        options = FastOptions(flash_prefix=True, flash_multi_prefix=True)
    _score_mixed(FastLycheeBackend(tiny_backend, options))
    expected = {path: path in options.unverified_enabled for path in UNVERIFIED_PATHS}
    assert _traces(flash_calls) == expected


def test_sdpa_runs_the_verified_paths_without_switches(tiny_backend: LycheeBackend) -> None:
    """On sdpa prefix reuse with mixed prefixes and the batched tower run by default."""
    fast = FastLycheeBackend(tiny_backend, FastOptions())
    assert fast.paths.prefix_reuse and fast.paths.multi_prefix
    assert not fast.paths.packed and not fast.paths.stock_vision
    _score_mixed(fast)
    assert fast.stats.prefixes == 2
