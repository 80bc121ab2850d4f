#!/usr/bin/env bash
# The two numba tiers side by side: numba-plain (@njit as numba's documentation teaches it)
# against the tuned numba backend and numpy, on the kernels where the tuning matters most
# (adam_step, entropy, kl_divergence, softmax, cross_entropy_logits, gaussian_kl), float32 and
# float64, 1e4 to 1e7 elements, full timing policy, peers beside. The runner also measures both
# tiers' cold compile and cache load, each in fresh processes with an empty cache.
#
#   scripts/numba-tiers.sh OUTDIR
#
# Run it on a quiet machine. It runs once as installed ("default": SVML is used when numba can
# use it, see the machine section's SVML record) and, when numba does use SVML here, once more
# with NUMBA_DISABLE_INTEL_SVML=1, each with its own numba cache (code compiled to call SVML
# needs the library loaded). OUTDIR receives svml.txt (what numba says about SVML in each
# mode), default.json and its report in default/, and, with SVML, svml-off.json, its report in
# svml-off/ and compare.txt (default against SVML off, per target).
set -uo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/numba-tiers.sh OUTDIR" >&2
  exit 2
fi
mkdir -p "$1" && out=$(cd "$1" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, installed or not
PYTHON=${PYTHON:-python}
KERNELS=adam_step,entropy,kl_divergence,softmax,cross_entropy_logits,gaussian_kl
SIZES=${SIZES:-1e4,1e5,1e6,1e7}  # SIZES and TIMING=quick make a short trial of this script
TIMING=${TIMING:-full}
svml_record='import json; from kernbench.bench.probe import svml_info; print(json.dumps(svml_info()))'

run_mode() {  # run_mode NAME [ENV=VALUE...]: one runner sweep and its report
  local name=$1
  shift
  echo "numba-tiers: $name" >&2
  echo "$name: $(env "$@" "$PYTHON" -c "$svml_record")" >> "$out/svml.txt"
  env "$@" NUMBA_CACHE_DIR="$out/cache-$name" timeout 3600 "$PYTHON" -m kernbench.cli run \
    --backends numpy,numba-plain,numba --kernels "$KERNELS" --dtypes float32,float64 \
    --sizes "$SIZES" --timing "$TIMING" --out "$out/$name.json" 2>&1 | tee "$out/$name.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || return 1
  timeout 300 "$PYTHON" -m kernbench.cli report "$out/$name.json" --out "$out/$name"
}

: > "$out/svml.txt"
run_mode default || exit 1
if "$PYTHON" -c "import sys, numba; sys.exit(not numba.config.USING_SVML)"; then
  run_mode svml-off NUMBA_DISABLE_INTEL_SVML=1 || exit 1
  "$PYTHON" -m kernbench.cli compare "$out/svml-off.json" "$out/default.json" \
    > "$out/compare.txt"
  echo "numba-tiers: default against SVML off in $out/compare.txt" >&2
else
  echo "numba-tiers: numba does not use SVML here (see svml.txt); one run only" >&2
fi
rm -rf "$out"/cache-*
echo "numba-tiers: done; see $out" >&2
