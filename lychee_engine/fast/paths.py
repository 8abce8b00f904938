"""Which fast paths run, decided once from the options and the model's attention kernel.

Under sdpa (and eager) every path here has been checked exact against the plain path. Under
flash-attn four of them would run code that no test or device run has executed: packed
varlen rows, the stock vision tower's varlen kernels, prefix continuation (fewer queries than
keys) and the 2-D mask unpadding of rows continuing prefixes of different lengths. Each runs
only when its `FastOptions` switch is on; otherwise the verified equivalent runs instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from lychee_engine.fast.options import UNVERIFIED_PATHS, FastOptions

FLASH = "flash_attention_2"


@dataclass(frozen=True, slots=True)
class FastPaths:
    attention: str  # the loaded model's attention implementation
    packed: bool  # packed padding-free rows for pairs without a shared prefix
    stock_vision: bool  # the stock vision tower (else the batched sdpa tower)
    prefix_reuse: bool  # shared prefixes run once, documents continue their key/value cache
    multi_prefix: bool  # one forward may hold rows continuing different prefixes

    @classmethod
    def resolve(cls, options: FastOptions, attention: str) -> FastPaths:
        flash = attention == FLASH
        prefix = options.prefix_reuse and (not flash or options.flash_prefix)
        return cls(
            attention=attention,
            packed=options.packed,
            # On sdpa the stock tower loops over windows (slow, verified); on flash-attn it is
            # the unverified varlen path, so the batched sdpa tower stands in for it.
            stock_vision=options.flash_vision if flash else not options.batched_vision,
            prefix_reuse=prefix,
            multi_prefix=prefix and (not flash or options.flash_multi_prefix),
        )

    def describe(self, options: FastOptions) -> str:
        """The start-up log line: the attention path, what runs, and what is switched off."""
        flash = self.attention == FLASH
        head = f"fast path on {self.attention}"
        head += " (flash-attn)" if flash else " (the verified path)"
        running = [
            f"vision cache {'on' if options.vision_cache else 'off'}",
            f"{'stock' if self.stock_vision else 'batched'} vision tower",
            f"prefix reuse {'on' if self.prefix_reuse else 'off'}",
            f"{'packed' if self.packed else 'padded'} rows",
        ]
        enabled = options.unverified_enabled
        off = [name for name in UNVERIFIED_PATHS if name not in enabled]
        tail = []
        if enabled:
            tail.append("UNVERIFIED paths enabled in engine.fast: " + ", ".join(enabled))
        if off:
            tail.append(
                "switched off (unverified; enable in engine.fast after bench_gpu.py "
                "--full-size passes on this hardware): " + ", ".join(off)
            )
        return f"{head}: {', '.join(running)}; " + "; ".join(tail)
