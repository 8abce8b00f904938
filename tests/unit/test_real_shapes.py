"""Real shapes in CI: the full-width, 2-layer Qwen2.5-VL-7B checkpoint (random weights) loads
through `load_scorer("lychee:DIR")` on CPU and the served fast path equals the plain path in
fp32 on every pairing kind, with a 1024x768 image (70 windows, partial edges).

The work runs in a child process (`tests/real_shapes.py`) so that its peak RSS, read from
the kernel's rusage of that child, is the check's own. It takes minutes and ~10 GB, so it is
marked `real_shapes` and runs in `make test-real-shapes` (called by .ci/run), not `make test`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5  # fp32
PEAK_RSS_LIMIT = 12 * 2**30

pytestmark = [pytest.mark.slow, pytest.mark.real_shapes]


@pytest.mark.timeout(1800)
def test_real_shapes_fast_equals_plain() -> None:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.real_shapes"], cwd=ROOT, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    peak = usage.ru_maxrss * 1024  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    summary = f"{seconds:.0f} s wall, {cpu:.0f} CPU-seconds, peak RSS {peak / 2**30:.2f} GiB"
    assert child.returncode == 0, f"real-shapes check failed ({summary}):\n{stderr[-4000:]}"
    result = json.loads(stdout.strip().splitlines()[-1])
    print(f"real shapes: {summary}; {json.dumps(result)}")

    shapes = result["shapes"]
    assert (shapes["hidden"], shapes["heads"], shapes["kv_heads"]) == (3584, 28, 4)
    assert (shapes["layers"], shapes["vocab"], shapes["vision_hidden"]) == (2, 152064, 1280)
    assert (shapes["vision_depth"], shapes["fullatt"]) == (4, [1, 3])
    assert result["dtype"] == "torch.float32" and result["attention"] == "sdpa"
    assert result["image"]["windows"] == 70 and result["image"]["partial_edges"]
    assert set(result["pairings"]) == {"text/text", "text/image", "image/text", "image/image"}
    for pairing, (fast, plain) in result["pairings"].items():
        assert abs(fast - plain) <= TOLERANCE, f"{pairing}: fast {fast} vs plain {plain}"
    scores = [plain for _, plain in result["pairings"].values()]
    assert len({round(s, 4) for s in scores}) > 1, "random weights gave one constant score"
    assert peak < PEAK_RSS_LIMIT, summary
