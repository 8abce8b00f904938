"""Engine options: one frozen dataclass handed from the service settings to every backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from lychee_engine.fast.options import FastOptions

DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query."


@dataclass(frozen=True, slots=True)
class EngineOptions:
    device: str = "auto"  # "auto" -> cuda when available, else cpu
    dtype: str = "auto"  # "auto" -> bfloat16 on cuda, float32 on cpu
    attention: str = "auto"  # "auto" | "flash_attention_2" | "sdpa" | "eager"
    max_batch_tokens: int = 4096  # per forward pass, image tokens included
    max_wait_ms: float = 5.0  # micro-batcher: how long a pair may wait for company
    queue_size: int = 2048  # micro-batcher: pairs waiting; beyond it -> Overloaded
    # micro-batcher: bytes the waiting pairs hold (image tensors + 8 per token id); beyond
    # it -> Overloaded. One image at max_pixels is ~24 MB: a pair count alone bounds nothing.
    queue_bytes: int = 1024 * 1024 * 1024
    max_doc_chars: int = 512  # document text cap before tokenisation
    max_doc_tokens: int = 1024  # document text token cap (images never truncated)
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 1280 * 28 * 28
    image_cache_bytes: int = 256 * 1024 * 1024  # preprocessed images kept (LRU by content hash)
    default_instruction: str = DEFAULT_INSTRUCTION
    warmup: bool = True
    request_timeout_s: float = 30.0  # remote backend
    # Lychee's serving paths; the unverified flash-attn ones are off unless enabled here.
    fast: FastOptions = field(default_factory=FastOptions)
    # Lychee: a calibration file for P("yes"); None -> calibration/lychee.json when it was
    # fitted on the loaded checkpoint, else raw P("yes") (lychee_engine/calibrated.py).
    calibration: str | None = None
