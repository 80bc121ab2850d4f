#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: the cuda tests on the GPU itself (no simulator), then a
# runner sweep at the gpu preset's sizes (numpy, numba and cuda, torch's peers beside them;
# float32; Adam up to 1e8 elements, entropy at 1e8, cross-entropy from (4096, 50257) logits)
# and its report, all written into OUTDIR. About 5 to 8 minutes on a 16-core machine with one
# H200; each step has a time limit, so the script always ends.
#
#   scripts/gpu-check.sh OUTDIR
#
# OUTDIR receives nvidia-smi.txt, tests.log, run.log, results.json, and README.md with the
# report's plots. Exit status: 0 when the tests passed and the report was written; 4 when no
# GPU is visible (kernbench run itself exits 3 when a case failed); otherwise the first failing
# step's status.
set -uo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/gpu-check.sh OUTDIR" >&2
  exit 2
fi
mkdir -p "$1" && out=$(cd "$1" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2
unset NUMBA_ENABLE_CUDASIM  # the GPU itself, never the simulator
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, installed or not
PYTHON=${PYTHON:-python}

if ! "$PYTHON" -c "import sys; from numba import cuda; sys.exit(not cuda.is_available())"; then
  echo "gpu-check: numba sees no CUDA GPU here" >&2
  exit 4
fi
nvidia-smi > "$out/nvidia-smi.txt" 2>&1

echo "gpu-check: cuda tests on the GPU" >&2
timeout 240 "$PYTHON" -m pytest -q -p no:cacheprovider tests/backends/cuda_backend \
  tests/test_cross_backend.py tests/test_validation.py tests/test_optim.py \
  tests/backends/test_interface.py -k cuda 2>&1 | tee "$out/tests.log"
tests_rc=${PIPESTATUS[0]}

echo "gpu-check: runner sweep" >&2
timeout 330 "$PYTHON" -m kernbench.cli run --preset gpu --backends numpy,numba,cuda \
  --dtypes float32 --kernels adam_step,adam_model,entropy,cross_entropy_logits \
  --out "$out/results.json" 2>&1 | tee "$out/run.log"
run_rc=${PIPESTATUS[0]}

report_rc=1
if [ -f "$out/results.json" ]; then
  timeout 120 "$PYTHON" -m kernbench.cli report "$out/results.json" --out "$out"
  report_rc=$?
fi
echo "gpu-check: tests exit $tests_rc, run exit $run_rc, report exit $report_rc; see $out" >&2
for rc in "$tests_rc" "$run_rc" "$report_rc"; do
  [ "$rc" -ne 0 ] && exit "$rc"
done
exit 0
