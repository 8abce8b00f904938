"""The fast-vs-plain tolerance of bench_gpu.py: it passes within 2x the plain path's own
batched-vs-one-pair difference and fails on disagreement."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lychee_engine.device import AttentionChoice
from lychee_engine.fast.agreement import FLOOR, check_agreement, exit_code, max_difference
from lychee_engine.fast.options import UNVERIFIED_PATHS
from lychee_engine.fast.paths import FLASH

ROOT = Path(__file__).resolve().parents[2]


def test_max_difference() -> None:
    assert max_difference([0.5, 0.25], [0.5, 0.3]) == pytest.approx(0.05)
    assert max_difference([], []) == 0.0
    with pytest.raises(ValueError, match="2 scores against 1"):
        max_difference([0.1, 0.2], [0.1])


def test_bf16_run_within_twice_the_plain_noise_passes() -> None:
    verdict = check_agreement("sdpa", fast_vs_plain=7e-3, plain_vs_single=8e-3)
    assert verdict.ok and verdict.tolerance == pytest.approx(1.6e-2)
    assert verdict.line().endswith("PASS") and "agreement sdpa" in verdict.line()


def test_disagreement_fails() -> None:
    verdict = check_agreement("flash_attention_2", fast_vs_plain=2.1e-2, plain_vs_single=1e-2)
    assert not verdict.ok
    assert verdict.line().endswith("FAIL") and "2.10e-02 > tolerance 2.00e-02" in verdict.line()
    assert not check_agreement("flash_attention_2", math.nan, 1e-2).ok  # NaN scores fail


def test_fp32_run_needs_the_floor_not_zero() -> None:
    """In fp32 the plain path's own difference is ~1e-7: the bar is the 1e-4 floor."""
    assert check_agreement("sdpa", 3e-6, 1e-7).ok
    assert check_agreement("sdpa", 3e-6, 1e-7).tolerance == FLOOR
    assert not check_agreement("sdpa", 2e-4, 1e-7).ok
    with pytest.raises(ValueError, match=">= 0"):
        check_agreement("sdpa", -1.0, 0.0)


def test_exit_code_fails_when_any_run_disagrees() -> None:
    sdpa, flash = check_agreement("sdpa", 7e-3, 8e-3), check_agreement("flash", 5e-2, 8e-3)
    assert exit_code([sdpa]) == 0
    assert exit_code([sdpa, flash]) == 1
    assert exit_code([]) == 1  # nothing checked is no pass


@pytest.fixture(scope="module")
def bench_gpu() -> ModuleType:
    """benchmarks/bench_gpu.py as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks/bench_gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gpu"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_bench_runs_sdpa_and_flash_where_usable(
    bench_gpu: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With flash-attn usable the full-size run measures both paths, flash with every
    unverified path on (what it verifies); the tiny CPU run measures sdpa (fp32 or bf16)."""
    usable = AttentionChoice(FLASH, "flash-attn available on this GPU")
    monkeypatch.setattr(bench_gpu, "choose_attention", lambda *args, **kwargs: usable)
    assert bench_gpu.runs(full_size=True) == [("sdpa", "bf16"), (FLASH, "bf16")]
    assert bench_gpu.runs(full_size=False) == [("sdpa", "fp32")]
    assert bench_gpu.runs(full_size=False, tiny_dtype="bf16") == [("sdpa", "bf16")]
    assert bench_gpu.FAST_OPTIONS[FLASH].unverified_enabled == tuple(UNVERIFIED_PATHS)
    assert bench_gpu.FAST_OPTIONS["sdpa"].unverified_enabled == ()
    absent = AttentionChoice("sdpa", "flash_attention_2 unavailable: flash-attn is not installed")
    monkeypatch.setattr(bench_gpu, "choose_attention", lambda *args, **kwargs: absent)
    assert bench_gpu.runs(full_size=True) == [("sdpa", "bf16")]
