"""The tolerance a fast path must meet against the plain path in one benchmark run.

In bf16 no two kernel orders give the same scores, so the bar is the plain path's own
noise, measured in the same run: its batched scores against one pair per forward. The fast
path may differ from the plain path by at most `FACTOR` times that, and never needs to be
closer than `FLOOR` (fp32 runs, where the plain path's own difference is ~1e-7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FACTOR = 2.0
FLOOR = 1e-4


def max_difference(scores: Sequence[float], reference: Sequence[float]) -> float:
    """Largest absolute difference between two equally long score lists."""
    if len(scores) != len(reference):
        raise ValueError(f"{len(scores)} scores against {len(reference)} reference scores")
    return max((abs(a - b) for a, b in zip(scores, reference, strict=True)), default=0.0)


@dataclass(frozen=True, slots=True)
class Agreement:
    label: str  # which path was measured, e.g. the attention implementation
    fast_vs_plain: float  # max |fast - plain| over every scenario of the run
    plain_vs_single: float  # max |plain batched - plain one pair per forward|, same run
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.fast_vs_plain <= self.tolerance

    def line(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        return (
            f"agreement {self.label}: fast vs plain {self.fast_vs_plain:.2e} "
            f"{'<=' if self.ok else '>'} tolerance {self.tolerance:.2e} "
            f"(max({FACTOR:g} x plain batch-vs-single {self.plain_vs_single:.2e}, {FLOOR:g})): "
            f"{verdict}"
        )


def exit_code(verdicts: Sequence[Agreement]) -> int:
    """The benchmark's exit status: 1 when any run disagreed (or none was checked)."""
    return 0 if verdicts and all(verdict.ok for verdict in verdicts) else 1


def check_agreement(label: str, fast_vs_plain: float, plain_vs_single: float) -> Agreement:
    """The verdict for one run; `Agreement.ok` is False when the fast path disagrees."""
    if fast_vs_plain < 0 or plain_vs_single < 0:
        raise ValueError("differences are absolute values (>= 0)")
    tolerance = max(FACTOR * plain_vs_single, FLOOR)
    return Agreement(label, fast_vs_plain, plain_vs_single, tolerance)
