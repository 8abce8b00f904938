#!/usr/bin/env bash
# bench_gpu.py on the lent GPU machine (DESIGN.md §7: Python 3.12 at /opt/torch/.venv, torch
# 2.11, transformers 5.17, no flash-attn, no network). The project runs from the working tree
# (PYTHONPATH); the pinned transformers and cachetools travel as wheels in .whl/ (ignored).
#
#   here, once:         benchmarks/bench_gpu_device.sh --fetch-wheels
#   dry run here (CPU): PY=.venv/bin/python benchmarks/bench_gpu_device.sh --tiny
#   on the device:      run(command="bash benchmarks/bench_gpu_device.sh --full-size",
#                           carry=[".whl"], timeout_s=420)
#
# The log and versions land in $OUT (the device tool brings them back); the exit status is
# bench_gpu.py's: 1 when the fast path disagrees with the plain path.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-/tmp/bench-gpu-device}
WHEELS=(transformers==5.23.0 cachetools==8.0.0)  # as pinned in pyproject.toml

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  mkdir -p .whl
  "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
  exit
fi

if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$OUT"
"$PY" -c 'import sys, torch, transformers
print("python", sys.version.split()[0], "torch", torch.__version__, "transformers",
      transformers.__version__, "cuda", torch.cuda.is_available())' | tee "$OUT/versions.txt"
"$PY" benchmarks/bench_gpu.py "$@" 2>&1 | tee "$OUT/bench_gpu.log"
