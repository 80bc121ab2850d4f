#!/usr/bin/env bash
# Does scripts/asv-continuous.sh catch a real regression? A check too slow for every CI run.
#
#   scripts/asv-planted-regression.sh [asv filters...]
#
# In a scratch clone of the committed HEAD (never in this repository), it makes two commits:
#   1. an empty commit: base and head identical    -> asv-continuous.sh must exit 0;
#   2. on top of it, a throwaway commit that makes the numba backend's entropy kernel read each
#      span twice (a second, discarded pass over half of it: ~1.5x the compiled kernel's work)
#                                                   -> it must exit non-zero and name
#                                                      kernels.Entropy.time_entropy.
# The default filter times entropy at 1e6 float64 on numba (the planted one) and numpy (a
# control that must not be flagged). Exit 0 when both hold, 1 otherwise. The scratch folder is
# removed unless KEEP_SCRATCH=1. ASV_FACTOR and ASV_MACHINE pass through to asv-continuous.sh.
#
# The default filter also asks for 4 interleaved rounds of 25 samples each, and the kernels run
# on one thread (NUMBA_NUM_THREADS=1, OMP_NUM_THREADS=1; set them to override): on a machine
# busy with other work, numba's parallel regions wait for cores in scheduler quanta, which
# scatters a parallel kernel's samples by 10x and hides any change. This checks that the
# comparison catches a slower kernel, not how the kernel scales.
set -uo pipefail

root=$(git rev-parse --show-toplevel)
sha=$(git -C "$root" rev-parse HEAD)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/kernbench-planted-XXXXXX")
if [ "${KEEP_SCRATCH:-0}" != 1 ]; then
    trap 'rm -rf "$scratch"' EXIT
fi
if [ $# -gt 0 ]; then
    filters=("$@")
else
    filters=(--bench "^kernels\.Entropy\.time_entropy\('(numba|numpy)', 1000000, 'float64'\)"
             -a rounds=4 -a repeat=25)
fi
benchmark=kernels.Entropy.time_entropy
export NUMBA_NUM_THREADS=${NUMBA_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
kernel_file=src/kernbench/backends/_numba_kernels.py

git clone -q --no-hardlinks "$root" "$scratch/repo" || exit 1
cd "$scratch/repo" || exit 1
git checkout -q -b planted-regression "$sha" || exit 1
git -c user.name=check -c user.email=check@localhost commit -q --allow-empty \
    -m "identical to its parent" || exit 1

echo "== identical commits: $(git rev-parse --short HEAD~1) vs $(git rev-parse --short HEAD)"
start=$(date +%s)
ASV_OUT="$scratch/identical" scripts/asv-continuous.sh HEAD~1 HEAD "${filters[@]}"
identical=$?
echo "== identical commits: exit $identical in $(( $(date +%s) - start )) s"

python - "$kernel_file" <<'PY' || exit 1
import sys
path = sys.argv[1]
text = open(path).read()
honest = "        s, a, neg = _entropy_span(x[r, a0:a1])\n"
planted = honest + (
    "        _, extra, _ = _entropy_span(x[r, a0:a0 + (a1 - a0) // 2])  # planted\n"
    "        a += 0.0 * extra\n")
if text.count(honest) != 1:
    sys.exit(f"{path}: the entropy task's span call was not found; update the planted patch")
open(path, "w").write(text.replace(honest, planted))
PY
git -c user.name=check -c user.email=check@localhost commit -q -am \
    "planted: the numba entropy kernel reads half of each span a second time" || exit 1

echo "== planted regression: $(git rev-parse --short HEAD~1) vs $(git rev-parse --short HEAD)"
start=$(date +%s)
ASV_OUT="$scratch/planted" scripts/asv-continuous.sh HEAD~1 HEAD "${filters[@]}"
planted=$?
echo "== planted regression: exit $planted in $(( $(date +%s) - start )) s"

ok=0
if [ "$identical" -ne 0 ]; then
    echo "FAIL: identical commits gave exit $identical (expected 0)"; ok=1
fi
if [ "$planted" -eq 0 ]; then
    echo "FAIL: the planted regression gave exit 0 (expected non-zero)"; ok=1
elif ! grep -q "$benchmark" "$scratch/planted/comparison.txt"; then
    echo "FAIL: the comparison does not name $benchmark"; ok=1
fi
[ "$ok" -eq 0 ] && echo "OK: identical commits pass, the planted regression of $benchmark fails"
exit "$ok"
