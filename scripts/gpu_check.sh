#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: load and unload each engine on CUDA, read per-PID usage from NVML,
# and check the memory comes back. Prints a table and writes JSON (see scripts/gpu_check.py).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-}"
if [[ -z $python ]]; then
    if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
exec "$python" scripts/gpu_check.py "$@"
