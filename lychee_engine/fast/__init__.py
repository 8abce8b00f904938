"""Serving-speed paths for the Lychee backend, each exact against the plain path.

- `vision_cache`: the vision tower's output per image, cached by content (GPU, host spill).
- `vision_batch` / `vision_encoder`: the vision tower over many images without per-window
  Python loops, each distinct image once per call, misses chunked by patch budget.
- `positions` / `prefix`: multimodal rotary positions, and scoring every document of a
  request against one key/value cache of the shared system + instruction + query prefix.
- `rows` / `buckets` / `forward`: right-padded or packed rows, length buckets chosen for the
  least padded work, and the text-model runner with OOM back-off.
- `fast_backend.FastLycheeBackend`: a PairBackend that combines them over a loaded
  `LycheeBackend`, each part switchable through `FastOptions`.
"""

from lychee_engine.fast.options import FastOptions

__all__ = ["FastOptions"]
