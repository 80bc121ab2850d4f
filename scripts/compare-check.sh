#!/usr/bin/env bash
# The check of `kernbench compare`: two runs of this checkout must show no slowdown, and a run
# with one planted 1.5x slowdown (numba's adam_step, by scripts/planted_slowdown.py) must show
# that slowdown and nothing else. Small on purpose: two kernels (adam_step, entropy), two sizes
# (1e4, 1e6), float32, numpy and numba on one thread, no peers, warm caches only, the full
# timing policy; about a minute on 2 cores.
#
#   scripts/compare-check.sh OUTDIR [compare arguments]
#
# The compare arguments default to `--relative-to numpy`: each target is judged by its
# round-by-round ratio to numpy in the same run, which cancels a machine that is busier during
# one run than the other (on a shared machine the plain comparison calls that load a change).
# Give `--threshold 1.25` (or any argument) to compare the plain times instead.
#
# OUTDIR receives a.json, b.json, planted.json and the two comparisons (same.txt,
# planted.txt). Exit status: 0 when both hold; 1 when a comparison called it wrong; else the
# failing step's status.
set -uo pipefail
if [ $# -lt 1 ]; then
  echo "usage: scripts/compare-check.sh OUTDIR [compare arguments]" >&2
  exit 2
fi
mkdir -p "$1" && out=$(cd "$1" && pwd) || exit 2
shift
[ $# -eq 0 ] && set -- --relative-to numpy
cd "$(dirname "$0")/.." || exit 2
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, installed or not
PYTHON=${PYTHON:-python}
# one thread: the check is of compare's statistics, and on a busy machine a parallel region
# waits for whichever of its threads the scheduler put off (OpenMP's default spin-wait)
RUN=(run --kernels adam_step,entropy --backends numpy,numba --sizes 1e4,1e6 --dtypes float32
     --threads 1 --no-peers --no-compile --no-bandwidth --no-cold --timing full)

for name in a b; do
  echo "compare-check: run $name" >&2
  "$PYTHON" -m kernbench.cli "${RUN[@]}" --out "$out/$name.json" || exit
done
echo "compare-check: run with numba's adam_step planted 1.5x slower" >&2
"$PYTHON" scripts/planted_slowdown.py adam_step numba 1.5 "${RUN[@]}" \
  --out "$out/planted.json" || exit

status=0
"$PYTHON" -m kernbench.cli compare "$out/a.json" "$out/b.json" "$@" > "$out/same.txt"
code=$?
cat "$out/same.txt"
# the table's rows whose verdict is a call (the last column), not the summary line
called() {
  awk 'NF > 1 && ($NF == "SLOWER" || $NF == "FASTER" || $(NF-1) == "BROKEN") {print $1, $4, $NF}' \
    "$1" | sort -u
}
if [ $code -ne 0 ] || [ -n "$(called "$out/same.txt")" ]; then
  echo "compare-check: FAIL: two runs of one checkout were called different (exit $code)" >&2
  status=1
else
  echo "compare-check: ok: two runs of one checkout, no change called" >&2
fi

"$PYTHON" -m kernbench.cli compare "$out/a.json" "$out/planted.json" "$@" > "$out/planted.txt"
code=$?
cat "$out/planted.txt"
changed=$(called "$out/planted.txt")
expected=$'adam_step numba SLOWER'
if [ $code -ne 1 ] || [ "$changed" != "$expected" ]; then
  echo "compare-check: FAIL: the planted slowdown (adam_step numba 1.5x) was not the only" \
       "change called (exit $code; called: ${changed:-nothing})" >&2
  status=1
else
  echo "compare-check: ok: the planted slowdown was called SLOWER, nothing else changed" >&2
fi
exit $status
