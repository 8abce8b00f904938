"""Device/dtype/attention choice and the memory pre-check (CUDA simulated by monkeypatch)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from lychee_engine import device as dev
from lychee_engine.errors import InsufficientMemory

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A pretend Ampere GPU with flash-attn installed; tests override pieces of it."""
    monkeypatch.setattr(dev, "is_flash_attn_2_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    return monkeypatch


def test_cpu_defaults() -> None:
    assert dev.resolve_device("cpu") == CPU
    assert dev.resolve_dtype("auto", CPU) is torch.float32
    assert dev.resolve_dtype("bf16", CPU) is torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        dev.resolve_dtype("int3", CPU)


def test_flash_attention_when_available(gpu: pytest.MonkeyPatch) -> None:
    choice = dev.choose_attention("auto", CUDA, torch.bfloat16)
    assert choice.implementation == "flash_attention_2"


def test_sdpa_without_flash_attn(gpu: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    gpu.setattr(dev, "is_flash_attn_2_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="lychee_engine.device"):
        choice = dev.choose_attention("auto", CUDA, torch.bfloat16)
    assert choice.implementation == "sdpa"
    assert "not installed" in choice.reason
    assert "sdpa" in caplog.text and "not installed" in caplog.text


def test_sdpa_on_old_gpu(gpu: pytest.MonkeyPatch) -> None:
    gpu.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    choice = dev.choose_attention("flash_attention_2", CUDA, torch.float16)
    assert choice.implementation == "sdpa"
    assert "7.5" in choice.reason


def test_sdpa_for_fp32_and_cpu(gpu: pytest.MonkeyPatch) -> None:
    assert dev.choose_attention("auto", CUDA, torch.float32).implementation == "sdpa"
    assert dev.choose_attention("auto", CPU, torch.float32).implementation == "sdpa"


def test_eager_without_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch.nn.functional, "scaled_dot_product_attention")
    assert dev.choose_attention("auto", CPU, torch.float32).implementation == "eager"


def test_explicit_choice_and_validation() -> None:
    assert dev.choose_attention("eager", CPU, torch.float32).implementation == "eager"
    with pytest.raises(ValueError, match="unknown attention"):
        dev.choose_attention("flash3", CPU, torch.float32)


def test_weight_bytes_from_safetensors(tiny_checkpoint: Path) -> None:
    fp32 = dev.estimate_weight_bytes(tiny_checkpoint, torch.float32)
    assert dev.estimate_weight_bytes(tiny_checkpoint, torch.bfloat16) * 2 == fp32
    on_disk = (tiny_checkpoint / "model.safetensors").stat().st_size
    assert 0.95 * on_disk < fp32 <= on_disk


def test_weight_bytes_from_config_alone(tiny_checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text((tiny_checkpoint / "config.json").read_text())
    estimate = dev.estimate_weight_bytes(tmp_path, torch.float32)
    exact = dev.estimate_weight_bytes(tiny_checkpoint, torch.float32)
    assert abs(estimate - exact) / exact < 0.05


def test_config_count_of_a_7b() -> None:
    config = {
        "text_config": {
            "hidden_size": 3584,
            "vocab_size": 152064,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "intermediate_size": 18944,
        },
        "vision_config": {
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "depth": 32,
            "out_hidden_size": 3584,
        },
    }
    assert 8.0e9 < dev.config_param_count(json.loads(json.dumps(config))) < 8.6e9


def test_memory_check_refuses_when_free_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * 2**30, 80 * 2**30))
    with pytest.raises(InsufficientMemory) as info:
        dev.check_fits(15 * 2**30, CUDA)
    message = str(info.value)
    assert "16.50 GiB" in message and "2.00 GiB is free" in message


def test_memory_check_passes_when_it_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (40 * 2**30, 80 * 2**30))
    dev.check_fits(15 * 2**30, CUDA)
    dev.check_fits(10**15, CPU)  # no check off-GPU
