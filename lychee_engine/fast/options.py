"""Switches and budgets of the fast paths (every exact path is on by default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GIB = 2**30


@dataclass(frozen=True, slots=True)
class FastOptions:
    vision_cache: bool = True  # reuse vision-tower outputs across pairs and requests
    vision_cache_device_bytes: int = 1 * GIB  # tier on the model's device (GPU)
    vision_cache_host_bytes: int = 4 * GIB  # spill tier in host memory
    batched_vision: bool = True  # one batched attention per window size, no per-window loop
    vision_batch_patches: int = 32_768  # patch rows per vision-tower call
    prefix_reuse: bool = True  # run system + instruction + query once per request
    min_prefix_group: int = 2  # fewer pairs sharing a prefix: score them unshared
    # Prefix key/value caches kept across forward calls: the micro-batcher splits a large
    # request over several calls, and each would otherwise rerun the same prefix.
    prefix_cache_items: int = 16
    # Fixed cost of one forward in token slots (launches, weight reads), weighed against
    # padding when batches are cut from length-sorted pairs (fast.buckets).
    forward_overhead_tokens: int = 128
    # "auto": pack pairs into one padding-free row when flash-attn is the attention
    # (varlen kernels); under sdpa/eager a packed row costs a dense block mask instead.
    packed: Literal["auto", "on", "off"] = "auto"

    def __post_init__(self) -> None:
        if self.vision_cache_device_bytes < 0 or self.vision_cache_host_bytes < 0:
            raise ValueError("vision cache byte budgets must be >= 0")
        if self.vision_batch_patches < 1:
            raise ValueError("vision_batch_patches must be >= 1")
        if self.forward_overhead_tokens < 0:
            raise ValueError("forward_overhead_tokens must be >= 0")
        if self.prefix_cache_items < 0:
            raise ValueError("prefix_cache_items must be >= 0")
        if self.min_prefix_group < 2:
            raise ValueError("min_prefix_group must be >= 2 (a prefix shared by one pair)")
        if self.packed not in ("auto", "on", "off"):
            raise ValueError(f"packed must be 'auto', 'on' or 'off', got {self.packed!r}")
