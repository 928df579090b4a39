#!/usr/bin/env bash
# The diffusers fast path on one GPU (issue 16, item 5): full-size Qwen-Image, random bf16
# weights, 1328*1328; a table at the end. Bounded to 8 minutes; rows past 7 are skipped.
#   benchmarks/gpu_check.sh            # on one H200
#   benchmarks/gpu_check.sh --tiny     # tiny config on a CPU: the script works end to end
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python
exec timeout 480 "$PY" benchmarks/gpu_check.py --budget 420 "$@"
