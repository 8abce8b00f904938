"""Switches and budgets of the fast paths.

Every path verified exact against the plain path (fp32 on CPU under sdpa, and at full width:
tests/unit/test_fast_path.py, tests/unit/test_real_shapes.py) is on by default. The paths
that only run with flash-attn's kernels have never been executed by a test or a device run,
so each is off until a deployment enables it after `bench_gpu.py --full-size` passed there.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30

# The unverified switches, in the order the start-up log names them, with what each runs.
UNVERIFIED_PATHS = {
    "packed": "packed padding-free rows (flash-attn varlen; a dense block mask otherwise)",
    "flash_vision": "the stock vision tower on flash-attn varlen kernels",
    "flash_prefix": "prefix continuation on flash-attn (fewer queries than keys)",
    "flash_multi_prefix": "rows continuing prefixes of different lengths on flash-attn "
    "(2-D mask unpadding)",
}


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
    # Unverified paths (UNVERIFIED_PATHS), off by default. Any of them on lets
    # `engine.attention: auto` pick flash_attention_2 where flash-attn is usable; with all
    # of them off the engine serves on sdpa, the verified path.
    packed: bool = False
    flash_vision: bool = False
    flash_prefix: bool = False
    flash_multi_prefix: bool = False

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
        for name in UNVERIFIED_PATHS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @property
    def unverified_enabled(self) -> tuple[str, ...]:
        """Names of the unverified paths this deployment switched on."""
        return tuple(name for name in UNVERIFIED_PATHS if getattr(self, name))
