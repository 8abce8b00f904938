"""Real shapes on CPU: build the full-width 2-layer checkpoint, load it through the public
loader, and compare the served fast path with the plain path (fp32) on every pairing kind.

Run by tests/unit/test_real_shapes.py in a child process (so its peak RSS is its own), or by
hand: `.venv/bin/python -m tests.real_shapes [--keep DIR]`. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy
from PIL import Image

from lychee_engine import load_scorer
from lychee_engine.lychee_backend import LycheeBackend
from lychee_engine.options import EngineOptions
from lychee_engine.reference_checkpoint import write_reference_checkpoint
from lychee_engine.types import Document, Query, Scorer

IMAGE_SIZE = (1024, 768)  # 999 tokens: a 27 x 37 merged grid, 70 windows with partial edges
WINDOW_MERGED = 4  # window 112 px / patch 14 / merge 2


def noise_png(seed: int, size: tuple[int, int] = IMAGE_SIZE) -> bytes:
    """Noise that depends on `seed` alone (PIL's effect_noise follows C rand())."""
    shape = (size[1], size[0], 3)
    pixels = numpy.random.default_rng(seed).integers(0, 256, shape, dtype=numpy.uint8)
    image = Image.fromarray(pixels, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def requests() -> dict[str, tuple[Query, list[Document]]]:
    """Two requests covering text/text, text/image, image/text and image/image."""
    doc_text = Document(text="Vintage 90s washed denim trucker jacket | button front | cotton")
    doc_image = Document(image=noise_png(2))
    return {
        "text": (Query(text="retro denim jacket"), [doc_text, doc_image]),
        "image": (Query(image=noise_png(1)), [doc_text, doc_image]),
    }


PAIRINGS = ("text/text", "text/image", "image/text", "image/image")  # query/document, in order


async def served_scores(scorer: Scorer, cases: list[tuple[Query, list[Document]]]) -> list[float]:
    """Both requests at once through the micro-batcher, as concurrent searches would be."""
    try:
        done = await asyncio.gather(*(scorer.score(query, docs) for query, docs in cases))
    finally:
        await scorer.close()
    return [score for scores in done for score in scores]


def check(model_dir: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    write_reference_checkpoint(model_dir)
    timings["build_s"] = time.perf_counter() - start
    build_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    start = time.perf_counter()
    scorer = load_scorer(f"lychee:{model_dir}")  # the public loader, default options: fp32 CPU
    timings["load_s"] = time.perf_counter() - start
    # The plain path over the same weights (one copy per process: the model registry).
    plain = LycheeBackend.load(str(model_dir), EngineOptions(warmup=False))
    model = plain.model
    assert model is scorer.backend._inner.model, "fast and plain must share one model"  # type: ignore[attr-defined]
    text, vision = model.config.text_config, model.config.vision_config

    cases = list(requests().values())
    start = time.perf_counter()
    fast = asyncio.run(served_scores(scorer, cases))
    timings["fast_s"] = time.perf_counter() - start
    start = time.perf_counter()
    prepared = [pair for query, docs in cases for pair in plain.prepare(query, docs, None)]
    reference = plain.score_prepared(prepared)
    timings["plain_s"] = time.perf_counter() - start

    grid = prepared[1].payload.images[0].grid_thw[0].tolist()  # text query, image document
    merged = (grid[1] // 2, grid[2] // 2)
    windows = math.ceil(merged[0] / WINDOW_MERGED) * math.ceil(merged[1] / WINDOW_MERGED)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(next(model.parameters()).dtype),
        "attention": model.config._attn_implementation,
        "shapes": {
            "hidden": text.hidden_size,
            "heads": text.num_attention_heads,
            "kv_heads": text.num_key_value_heads,
            "layers": text.num_hidden_layers,
            "vocab": text.vocab_size,
            "vision_hidden": vision.hidden_size,
            "vision_depth": vision.depth,
            "fullatt": list(vision.fullatt_block_indexes),
        },
        "image": {
            "size": list(IMAGE_SIZE),
            "grid": grid,
            "windows": windows,
            "partial_edges": any(m % WINDOW_MERGED for m in merged),
        },
        "tokens": [len(pair.payload.input_ids) for pair in prepared],
        "pairings": dict(zip(PAIRINGS, zip(fast, reference, strict=True), strict=True)),
        "max_diff": max(abs(a - b) for a, b in zip(fast, reference, strict=True)),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "build_peak_rss_gb": round(build_rss, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="write the checkpoint here and keep it")
    args = parser.parse_args()
    if args.keep:
        result = check(Path(args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="real-shapes-") as tmp:
            result = check(Path(tmp))
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
