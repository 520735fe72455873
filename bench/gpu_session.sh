#!/usr/bin/env bash
# Everything a session with a lent GPU should run, in one call (device time is short):
#   1. environment: GPU, driver, CuPy / Numba-CUDA versions
#   2. the GPU tests for real: tests/test_cuda_sim.py (CuPy backend vs the reference, the whole
#      simulator suite again on the GPU with CuPy, capture modes) -- nothing skipped but the
#      no-GPU checks
#   3. the CPU-vs-GPU benchmark: every launch mode, PyTorch CUDA, the fused-xent bandwidth check
# Logs, JSON and the plot go to $OUT (the device tool's folder) or bench/gpu_out.
#
#   bash bench/gpu_session.sh            # full sweep
#   QUICK=1 bash bench/gpu_session.sh    # batch 32, 256, 2048 and short timings
set -u -o pipefail
OUT=${OUT:-bench/gpu_out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} OPENBLAS_THREAD_TIMEOUT=4
PY=${PYTHON:-python3}
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  $PY - <<'PYEOF'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("numpy", "numba", "numba_cuda", "cupy", "torch"):
    try:
        m = importlib.import_module(name)
        print(name, getattr(m, "__version__", "?"))
    except Exception as e:  # noqa: BLE001
        print(name, "MISSING", type(e).__name__, e)
PYEOF
} 2>&1 | tee "$OUT/env.txt"

rc=0
$PY -m pytest tests/test_cuda_sim.py -q -rs -p no:cacheprovider -o addopts= 2>&1 | tee "$OUT/tests.log" || rc=1

args=(--json "$OUT/gpu_vs_cpu.json" --plot "$OUT/gpu_vs_cpu.png")
[ "${QUICK:-0}" = 1 ] && args+=(--quick)
$PY -m bench.gpu_vs_cpu "${args[@]}" 2>&1 | tee "$OUT/bench.log" || rc=1
exit $rc
