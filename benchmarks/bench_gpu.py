"""GPU serving benchmark: naive reference vs plain batched LycheeBackend vs FastLycheeBackend.

Same inputs, one process. Scenarios: 50 text documents of 60-200 tokens; 50 image documents
(448 px, short text) with a cold and a warm image cache; 4 concurrent 50-document requests
through the micro-batcher; one 1,000-document request. Prints ms p50/p95 per request,
pairs/s, MFU, padding, peak memory, speed-up over naive and each path's max score difference.

It runs once on sdpa (the served default, the fast path's flash-attn-only paths off) and,
where flash-attn is usable, once more on flash_attention_2 with every one of those paths on
(--tiny: on sdpa in fp32, or in bf16 with --dtype bf16).
Each run must agree (`lychee_engine.fast.agreement`): the fast path's max difference to the
plain path at most 2x the plain path's own batched-vs-one-pair difference in that run (and
never below 1e-4 required); otherwise the script exits 1.

    .venv/bin/python benchmarks/bench_gpu.py --full-size   # random Qwen2.5-VL-7B, CUDA, bf16
    .venv/bin/python benchmarks/bench_gpu.py --tiny        # tiny checkpoint on CPU (CI)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import io
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy
import torch
from PIL import Image

from lychee_engine import prompt
from lychee_engine.batcher import MicroBatcher
from lychee_engine.device import choose_attention
from lychee_engine.fast.agreement import Agreement, check_agreement, exit_code, max_difference
from lychee_engine.fast.fast_backend import FastLycheeBackend
from lychee_engine.fast.options import UNVERIFIED_PATHS, FastOptions
from lychee_engine.fast.paths import FLASH
from lychee_engine.lychee_backend import LoadedModel, LycheeBackend, collate, pack_batches
from lychee_engine.options import EngineOptions
from lychee_engine.reference_configs import qwen25_vl_7b_config
from lychee_engine.tiny import SPECIAL_TOKENS, WORDS, write_tiny_checkpoint
from lychee_engine.types import Document, Query

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense
# The fast path's options per attention: on flash-attn every unverified path is switched on,
# which is what this benchmark is for (README: enable them only after it passed).
FAST_OPTIONS = {"sdpa": FastOptions(), FLASH: FastOptions(**dict.fromkeys(UNVERIFIED_PATHS, True))}


def full_size_backend(tiny_dir: str, options: EngineOptions, attention: str) -> LycheeBackend:
    """A random-weight 7B initialised on the GPU in bf16 (no download, no CPU init); the
    same weights for every attention (seeded)."""
    from transformers import (
        AutoImageProcessor,
        AutoTokenizer,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
    )

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    device = torch.device("cuda")
    config = Qwen2_5_VLConfig(**qwen25_vl_7b_config(ids))
    config._attn_implementation = attention
    start = time.perf_counter()
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    try:
        with device:  # parameters are created and randomly initialised on the GPU
            model = Qwen2_5_VLForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(torch.float32)
    took = time.perf_counter() - start
    print(f"built random Qwen2.5-VL-7B on {device} ({attention}) in {took:.1f} s")
    processor = AutoImageProcessor.from_pretrained(tiny_dir, backend="pil")
    loaded = LoadedModel(model, tokenizer, processor, device)
    return LycheeBackend(loaded, options, "qwen2.5-vl-7b-random", revision="bench")


def noise_png(seed: int, size: int) -> bytes:
    """A noise image that depends on `seed` alone (PIL's effect_noise follows C rand(), so
    scores, and bf16 differences, would change with what ran before in the process)."""
    pixels = numpy.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=numpy.uint8)
    image = Image.fromarray(pixels, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def documents(
    tokenizer: Any, count: int, tokens: tuple[int, int], image_px: int | None, seed: int
) -> list[Document]:
    """`count` documents of `tokens` text tokens (uniform), each with a distinct image if asked."""
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(tokens[1] * 2))
        ids = tokenizer.encode(text, add_special_tokens=False)[: rng.randint(*tokens)]
        image = noise_png(seed * 10_000 + i, image_px) if image_px else None
        docs.append(Document(text=tokenizer.decode(ids), image=image))
    return docs


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    kind: str  # "text" | "image": whose naive run is the speed-up reference
    requests: list[tuple[Query, list[Document]]]
    concurrent: bool = False  # through the micro-batcher, requests at once
    cold_images: bool = True  # clear the image-embedding cache before each repetition
    naive: bool = True  # run the one-pair-per-forward reference


@dataclass(frozen=True, slots=True)
class Counters:
    """The fast backend's work counters at one moment."""

    tokens: int
    padding: int
    saved: int
    images: int
    patches: int

    @classmethod
    def of(cls, fast: FastLycheeBackend) -> Counters:
        stats, vision = fast.stats, fast.vision
        return cls(
            stats.tokens, stats.padding, stats.prefix_tokens_saved,
            vision.images_encoded, vision.patches_encoded,
        )  # fmt: skip


@dataclass(slots=True)
class Result:
    latencies: list[float]  # seconds per request
    seconds: float  # wall time of all repetitions
    pairs: int  # pairs scored in all repetitions
    flops: float  # executed model FLOPs in all repetitions
    padding: float  # padded share of the token slots
    peak_mb: float
    scores: list[float]  # the last repetition's scores, requests concatenated


class Flops:
    """Executed-FLOP estimates: 2 x parameters per token plus causal attention."""

    def __init__(self, model: Any) -> None:
        lm, visual = model.model.language_model, model.model.visual
        self.lm = sum(p.numel() for n, p in lm.named_parameters() if "embed_tokens" not in n)
        self.lm += model.lm_head.weight.shape[1] * 2  # the (no, yes) rows; naive adds the rest
        self.vision = sum(p.numel() for p in visual.parameters())
        text = model.config.text_config
        # QK^T and AV: 4 x hidden FLOPs per (query, key) pair and layer
        self.attention = 4 * text.num_hidden_layers * text.hidden_size
        vision = model.config.vision_config
        self.vision_attention = 4 * vision.hidden_size  # per (query, key) pair and layer
        self.vision_layers = (
            vision.depth - len(vision.fullatt_block_indexes),
            len(vision.fullatt_block_indexes),
        )
        self.window_patches = (vision.window_size // vision.patch_size) ** 2

    def text(self, tokens: int, attended: float) -> float:
        return 2 * self.lm * tokens + self.attention * attended

    def images(self, patches: list[int]) -> float:
        windows, full = self.vision_layers
        attn = sum(p * (windows * min(p, self.window_patches) + full * p) for p in patches)
        return 2 * self.vision * sum(patches) + self.vision_attention * attn


def peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Runner:
    """Runs a scenario's requests with one method and accounts time, FLOPs and padding."""

    def __init__(
        self, plain: LycheeBackend, fast: FastLycheeBackend, options: EngineOptions, warmup: bool
    ) -> None:
        self.plain, self.fast, self.options, self.warmup = plain, fast, options, warmup
        self.flops = Flops(plain.model)
        tokenizer = plain.tokenizer
        self.no_yes = prompt.answer_token_ids(tokenizer)
        self.pad_id = int(tokenizer.pad_token_id or 0)
        self.image_id = int(plain.model.config.image_token_id)

    def naive(self, pairs: list) -> list[float]:  # type: ignore[type-arg]
        """One pair per forward, logits at every position (what a plain loop would do)."""
        out = []
        with torch.inference_mode():
            for pair in pairs:
                batch = collate([pair.payload], self.pad_id, self.image_id)
                batch = {k: v.to(self.plain.model.device) for k, v in batch.items()}
                logits = self.plain.model(**batch, use_cache=False).logits
                out.append(torch.softmax(logits[0, -1, list(self.no_yes)].float(), -1)[1].item())
        return out

    def full_pair_flops(self, pairs: list) -> float:  # type: ignore[type-arg]
        """Every pair run whole, each of its images through the tower (naive and plain)."""
        lengths = [p.tokens for p in pairs]
        patches = [int(i.pixel_values.shape[0]) for p in pairs for i in p.payload.images]
        attended = sum(length * length / 2 for length in lengths)
        return self.flops.text(sum(lengths), attended) + self.flops.images(patches)

    def run(self, method: str, scenario: Scenario, reps: int) -> Result:
        if scenario.concurrent:
            return self._run_batcher(method, scenario, reps)
        backend = self.fast if method == "fast" else self.plain
        prepared = [backend.prepare(q, docs, None) for q, docs in scenario.requests]
        methods: dict[str, Callable[[list], list[float]]] = {  # type: ignore[type-arg]
            "naive": self.naive,
            "plain": self.plain.score_prepared,
            "fast": self.fast.score_prepared,
        }
        score = methods[method]
        self._reset(scenario)
        # warm-up: kernels and allocator; for a warm-cache scenario also the image cache
        prime = self.warmup or (method == "fast" and not scenario.cold_images)
        for pairs in prepared if prime else []:
            score(pairs)
        _sync()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        latencies: list[float] = []
        scores: list[float] = []
        before = Counters.of(self.fast)
        start = time.perf_counter()
        for _ in range(reps):
            scores = []
            for pairs in prepared:
                self._reset(scenario)
                t0 = time.perf_counter()
                scores += score(pairs)
                _sync()
                latencies.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - start
        pairs_all = [p for pairs in prepared for p in pairs]
        flops, padding = self._accounting(method, pairs_all, reps, before)
        pairs = len(pairs_all) * reps
        return Result(latencies, seconds, pairs, flops, padding, peak_memory_mb(), scores)

    def _reset(self, scenario: Scenario) -> None:
        self.fast.clear_prefix_cache()  # every request is a new query
        if scenario.cold_images and self.fast.vision.cache is not None:
            self.fast.vision.cache.clear()

    def _accounting(
        self,
        method: str,
        pairs: list,
        reps: int,
        before: Counters,  # type: ignore[type-arg]
    ) -> tuple[float, float]:
        """(executed FLOPs, padded share) of `reps` repetitions of `pairs`."""
        if method == "fast":
            now = Counters.of(self.fast)
            tokens, padding = now.tokens - before.tokens, now.padding - before.padding
            saved = now.saved - before.saved
            images, patches = now.images - before.images, now.patches - before.patches
            lengths = [len(p.payload.inputs.input_ids) for p in pairs]
            # attention shrinks with the tokens run (the prefix's share is attended once)
            attended = reps * sum(n * n / 2 for n in lengths) * tokens / max(1, tokens + saved)
            flops = self.flops.text(tokens, attended)
            flops += self.flops.images([patches // images] * images) if images else 0.0
            return flops, padding / max(1, tokens + padding)
        flops = reps * self.full_pair_flops(pairs)
        if method == "naive":
            return flops, 0.0
        lengths = [p.tokens for p in pairs]
        batches = pack_batches(lengths, self.plain.max_batch_tokens)
        padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        return flops, 1 - sum(lengths) / padded

    def _run_batcher(self, method: str, scenario: Scenario, reps: int) -> Result:
        backend = self.fast if method == "fast" else self.plain
        before = Counters.of(self.fast)

        async def one(
            batcher: MicroBatcher, query: Query, docs: list[Document]
        ) -> tuple[float, list[float]]:
            t0 = time.perf_counter()
            scores = await batcher.score(query, docs)
            return time.perf_counter() - t0, scores

        async def main() -> tuple[list[float], list[float], float]:
            batcher = MicroBatcher(backend, self.options)
            try:
                if self.warmup:
                    await asyncio.gather(*(one(batcher, q, d) for q, d in scenario.requests))
                _sync()
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                latencies, scores = [], []
                start = time.perf_counter()
                for _ in range(reps):
                    self._reset(scenario)
                    done = await asyncio.gather(*(one(batcher, q, d) for q, d in scenario.requests))
                    latencies += [t for t, _ in done]
                    scores = [s for _, ss in done for s in ss]
                return latencies, scores, time.perf_counter() - start
            finally:
                await batcher.close()

        self._reset(scenario)
        latencies, scores, seconds = asyncio.run(main())
        pairs_all = [p for q, d in scenario.requests for p in backend.prepare(q, d, None)]
        # the fast counters include the warm-up's work
        runs = reps + (method == "fast" and self.warmup)
        flops, padding = self._accounting(method, pairs_all, runs, before)
        flops *= reps / runs
        pairs = len(pairs_all) * reps
        return Result(latencies, seconds, pairs, flops, padding, peak_memory_mb(), scores)


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((tflops * 1e12 for key, tflops in PEAK_BF16_TFLOPS.items() if key in name), None)


def _max_diff(scores: list[float], reference: list[float] | None) -> str:
    return "-" if reference is None else f"{max_difference(scores, reference):.1e}"


def row(
    scenario: str,
    method: str,
    result: Result,
    naive_rate: float,
    references: tuple[list[float] | None, list[float] | None],
) -> str:
    """One table row; `references` are the naive and the plain scores (None: not run)."""
    times = sorted(result.latencies)
    p50 = 1000 * statistics.median(times)
    p95 = 1000 * times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    peak = peak_flops()
    mfu = f"{100 * result.flops / result.seconds / peak:.0f}%" if peak else "n/a"
    rate = result.pairs / result.seconds
    versus_naive, versus_plain = (_max_diff(result.scores, ref) for ref in references)
    return (
        f"| {scenario} | {method} | {p50:.0f} | {p95:.0f} | {rate:.1f} | {mfu} | "
        f"{100 * result.padding:.1f}% | {result.peak_mb:.0f} | {rate / naive_rate:.2f}x | "
        f"{versus_naive} | {versus_plain} |"
    )


def scenarios(tokenizer: Any, tiny: bool) -> list[Scenario]:
    """The issue's scenarios; on the tiny CPU run (CI) fewer image and large-request docs."""
    query = Query(text="lightweight running shoes for men")
    images, large = (20, 200) if tiny else (50, 1000)
    text50 = documents(tokenizer, 50, (60, 200), None, seed=1)
    image50 = documents(tokenizer, images, (10, 30), 448, seed=2)
    others = [
        (Query(text=q), documents(tokenizer, 50, (60, 200), None, seed=10 + n))
        for n, q in enumerate(["black leather wallet", "ceramic coffee mug", "usb fast charger"])
    ]
    text_large = documents(tokenizer, large, (60, 200), None, seed=3)
    return [
        Scenario("text 50", "text", [(query, text50)]),
        Scenario(f"image {images} cold", "image", [(query, image50)]),
        Scenario(
            f"image {images} warm", "image", [(query, image50)], cold_images=False, naive=False
        ),
        Scenario("4 x 50 concurrent", "text", [(query, text50), *others], True, naive=False),
        Scenario(f"text {large}", "text", [(query, text_large)], naive=False),
    ]


def run_table(
    runner: Runner, cases: list[Scenario], reps: int, lines: list[str]
) -> tuple[float, float]:
    """Append one row per method and scenario; return the fast path's max diff vs plain and
    the plain path's max diff vs one pair per forward (scenarios with a naive run)."""
    worst = single = 0.0
    naive_rates: dict[str, float] = {}
    for scenario in cases:
        scenario_reps = max(1, reps // 3) if len(scenario.requests[0][1]) > 100 else reps
        naive = runner.run("naive", scenario, scenario_reps) if scenario.naive else None
        if naive:
            naive_rates[scenario.kind] = naive.pairs / naive.seconds
        rate = naive_rates[scenario.kind]
        plain = runner.run("plain", scenario, scenario_reps)
        fast = runner.run("fast", scenario, scenario_reps)
        reference = naive.scores if naive else None
        if naive:
            lines.append(row(scenario.name, "naive", naive, rate, (None, None)))
        lines.append(row(scenario.name, "plain", plain, rate, (reference, None)))
        lines.append(row(scenario.name, "fast", fast, rate, (reference, plain.scores)))
        worst = max(worst, max_difference(fast.scores, plain.scores))
        if naive:
            single = max(single, max_difference(plain.scores, naive.scores))
        print("\n".join(lines[-3:]), file=sys.stderr, flush=True)
    return worst, single


def budget_sweep(runner: Runner, cases: list[Scenario], budgets: tuple[int, ...], reps: int) -> str:
    """The fast path's p50 per token budget (rows x padded length per forward)."""
    default = runner.fast.max_batch_tokens
    parts = []
    try:
        for scenario in cases:
            for budget in budgets:
                runner.fast.max_batch_tokens = budget
                result = runner.run("fast", scenario, reps)
                p50 = 1000 * statistics.median(result.latencies)
                parts.append(f"{scenario.name} @ {budget}: {p50:.0f} ms")
    finally:
        runner.fast.max_batch_tokens = default
    return "fast path token-budget sweep (p50): " + "; ".join(parts)


def runs(full_size: bool, tiny_dtype: str = "fp32") -> list[tuple[str, str]]:
    """(attention, dtype) of each table. On the GPU, bf16 on sdpa (what is served by default)
    and on flash_attention_2 where it is usable. On CPU (tiny) sdpa in `tiny_dtype`: fp32,
    where the fast path must be exact (the 1e-4 floor), or bf16, a rehearsal of the GPU rule."""
    if not full_size:
        return [("sdpa", tiny_dtype)]
    usable = choose_attention("auto", torch.device("cuda"), torch.bfloat16, flash_paths=True)
    return [("sdpa", "bf16")] + ([(FLASH, "bf16")] if usable.implementation == FLASH else [])


def run_attention(
    args: argparse.Namespace, tiny_dir: str, options: EngineOptions, attention: str, dtype: str
) -> tuple[list[str], Agreement]:
    """The table, token-budget sweep and agreement verdict of one attention and dtype."""
    fast_options = FAST_OPTIONS[attention]
    options = dataclasses.replace(options, attention=attention, dtype=dtype, fast=fast_options)
    if args.full_size:
        plain = full_size_backend(tiny_dir, options, attention)
    else:
        plain = LycheeBackend.load(tiny_dir, options, model_id="tiny-qwen2.5-vl")
    fast = FastLycheeBackend(plain, options.fast)
    runner = Runner(plain, fast, options, warmup=args.full_size)
    reps = args.reps or (5 if args.full_size else 1)
    lines = [
        f"device: {torch.cuda.get_device_name() if args.full_size else 'cpu'}, "
        f"attention {plain.model.config._attn_implementation}, "
        f"dtype {next(plain.model.parameters()).dtype}, "
        f"max_batch_tokens {options.max_batch_tokens}",
        fast.paths.describe(fast.options),
        "| scenario | method | p50 ms | p95 ms | pairs/s | MFU | padding | peak MB "
        "| vs naive | max diff vs naive | max diff vs plain |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cases = scenarios(plain.tokenizer, args.tiny)
    fast_vs_plain, plain_vs_single = run_table(runner, cases, reps, lines)
    budgets = (2048, 8192) if args.tiny else (2048, 4096, 8192, 16384)
    lines.append(budget_sweep(runner, [cases[0], cases[2]], budgets, reps))
    lines.append(f"vision cache: {fast.vision_cache_stats()}")
    agreement = check_agreement(f"{attention} {dtype}", fast_vs_plain, plain_vs_single)
    lines.append(agreement.line())
    print(lines[-1], file=sys.stderr, flush=True)
    del runner, fast, plain  # the next attention builds its own model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return lines, agreement


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full-size", action="store_true", help="random Qwen2.5-VL-7B on CUDA")
    mode.add_argument("--tiny", action="store_true", help="tiny checkpoint on CPU (CI)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per scenario")
    parser.add_argument("--max-batch-tokens", type=int, default=EngineOptions().max_batch_tokens)
    parser.add_argument(
        "--dtype", choices=("fp32", "bf16"), default="fp32", help="--tiny only (full size: bf16)"
    )
    args = parser.parse_args()
    if args.full_size and not torch.cuda.is_available():
        parser.error("--full-size needs a CUDA device")
    torch.manual_seed(0)
    if args.tiny:
        torch.set_num_threads(1)
    options = EngineOptions(
        device="cuda" if args.full_size else "cpu", max_batch_tokens=args.max_batch_tokens,
        max_doc_chars=4000, warmup=False,
    )  # fmt: skip
    started = time.perf_counter()
    lines: list[str] = []
    verdicts: list[Agreement] = []
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        tiny_dir = str(write_tiny_checkpoint(tmp))
        for attention, dtype in runs(args.full_size, args.dtype):
            table, agreement = run_attention(args, tiny_dir, options, attention, dtype)
            lines += table
            verdicts.append(agreement)
    lines.append(
        "Score diffs: vs naive = batched vs one pair per forward (bf16 on the GPU); "
        "vs plain = the fast path against the plain batched path. "
        "MFU counts executed FLOPs (2 x params x real tokens + attention; vision tower "
        "2 x params x patches) against the bf16 dense peak. 'vs naive': pairs/s over the "
        "naive pairs/s on documents of the same kind (the text 50 / image cold run). "
        f"total {time.perf_counter() - started:.0f} s"
    )
    print("\n".join(lines))
    for verdict in verdicts:
        if not verdict.ok:
            print(f"FAIL: the fast path on {verdict.label} disagrees with the plain path")
    return exit_code(verdicts)


if __name__ == "__main__":
    raise SystemExit(main())
