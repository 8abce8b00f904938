"""Device, dtype and attention choice, and the memory check made before loading weights."""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers.utils import is_flash_attn_2_available

from lychee_engine.errors import EngineError, InsufficientMemory

log = logging.getLogger(__name__)

_DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
}
_ATTENTIONS = ("auto", "flash_attention_2", "sdpa", "eager")
HEADROOM = 1.1  # weights plus ~10% for buffers and the first batch's activations


@dataclass(frozen=True, slots=True)
class AttentionChoice:
    implementation: str  # value for from_pretrained(attn_implementation=...)
    reason: str


def resolve_device(option: str) -> torch.device:
    """`auto` -> cuda when available, else cpu; anything else is passed to torch.device."""
    if option == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(option)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"device {option!r} requested but CUDA is not available")
    return device


def resolve_dtype(option: str, device: torch.device) -> torch.dtype:
    """`auto` -> bfloat16 on cuda (float16 on GPUs without bf16), float32 elsewhere."""
    if option == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        return _DTYPES[option.lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {option!r}; use one of {sorted(_DTYPES)}") from None


def _flash_attention_blocker(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why flash_attention_2 cannot be used here, or None when it can."""
    if device.type != "cuda":
        return f"device is {device.type}"
    if not is_flash_attn_2_available():
        return "flash-attn is not installed"
    major, minor = torch.cuda.get_device_capability(device)
    if major < 8:
        return f"GPU compute capability {major}.{minor} < 8.0"
    if dtype not in (torch.float16, torch.bfloat16):
        return f"dtype {dtype} is not fp16/bf16"
    return None


def choose_attention(
    option: str, device: torch.device, dtype: torch.dtype, *, flash_paths: bool = True
) -> AttentionChoice:
    """flash_attention_2 when possible, else sdpa, else eager; never fails for lack of it.

    `auto` considers flash-attn only when `flash_paths` (an unverified flash-attn fast path
    is enabled in `FastOptions`); otherwise it stays on sdpa, the verified path.
    """
    if option not in _ATTENTIONS:
        raise ValueError(f"unknown attention {option!r}; use one of {_ATTENTIONS}")
    sdpa = hasattr(torch.nn.functional, "scaled_dot_product_attention")
    if option in ("sdpa", "eager"):
        choice = AttentionChoice(option, "requested")
    elif option == "auto" and not flash_paths and sdpa:
        choice = AttentionChoice(
            "sdpa", "the verified path; flash-attn paths are off until enabled in engine.fast"
        )
    else:
        blocker = _flash_attention_blocker(device, dtype)
        if blocker is None:
            choice = AttentionChoice("flash_attention_2", "flash-attn available on this GPU")
        elif sdpa:
            choice = AttentionChoice("sdpa", f"flash_attention_2 unavailable: {blocker}")
        else:
            choice = AttentionChoice("eager", f"flash_attention_2 unavailable: {blocker}; no sdpa")
    log.info("attention implementation %s (%s)", choice.implementation, choice.reason)
    return choice


def _safetensors_numel(path: Path) -> int:
    """Parameter count from a safetensors header, without reading the tensors."""
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
    total = 0
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        numel = 1
        for dim in meta["shape"]:
            numel *= int(dim)
        total += numel
    return total


def config_param_count(config: dict[str, Any]) -> int:
    """Approximate Qwen2.5-VL parameter count from config.json values (no weights needed)."""
    text = config.get("text_config") or config
    vision = config.get("vision_config") or {}
    h, v, n = text["hidden_size"], text["vocab_size"], text["num_hidden_layers"]
    heads, kv = text["num_attention_heads"], text.get("num_key_value_heads") or 0
    head_dim = h // heads
    attn = h * heads * head_dim * 2 + 2 * h * (kv or heads) * head_dim + 4 * h
    layer = attn + 3 * h * text["intermediate_size"] + 2 * h
    embed = v * h * (1 if config.get("tie_word_embeddings") else 2)
    total = embed + n * layer + h
    if vision:
        hv, m = vision["hidden_size"], vision.get("spatial_merge_size", 2) ** 2
        patch = vision.get("in_channels", 3) * vision.get("temporal_patch_size", 2)
        patch *= vision.get("patch_size", 14) ** 2
        block = 4 * hv * hv + 3 * hv * vision["intermediate_size"] + 2 * hv
        merger = (hv * m) ** 2 + hv * m * vision["out_hidden_size"]
        total += patch * hv + vision["depth"] * block + merger
    return total


def estimate_weight_bytes(path: str | Path, dtype: torch.dtype) -> int:
    """Bytes the weights take in `dtype`: from safetensors headers, else from config.json."""
    root = Path(path)
    files = sorted(root.glob("*.safetensors"))
    if files:
        numel = sum(_safetensors_numel(f) for f in files)
    else:
        numel = config_param_count(json.loads((root / "config.json").read_text()))
    return numel * torch.empty((), dtype=dtype).element_size()


def check_fits(needed_bytes: int, device: torch.device) -> None:
    """Raise InsufficientMemory when a CUDA device has less free memory than the weights need."""
    if device.type != "cuda":
        return
    free, _total = torch.cuda.mem_get_info(device)
    wanted = int(needed_bytes * HEADROOM)
    if free < wanted:
        raise InsufficientMemory(
            f"the model needs about {wanted / 2**30:.2f} GiB on {device} "
            f"({needed_bytes / 2**30:.2f} GiB of weights + headroom) but only "
            f"{free / 2**30:.2f} GiB is free"
        )
    log.info(
        "memory check: need %.2f GiB, %.2f GiB free on %s", wanted / 2**30, free / 2**30, device
    )
