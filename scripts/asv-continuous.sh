#!/usr/bin/env bash
# asv continuous, base against head: what CI runs on a pull request, runnable on any machine.
#
#   scripts/asv-continuous.sh BASE HEAD [asv filters and options...]
#   scripts/asv-continuous.sh --publish COMMIT [asv filters and options...]
#
# e.g.  scripts/asv-continuous.sh origin/main HEAD
#       scripts/asv-continuous.sh HEAD~1 HEAD --bench '^kernels\.Entropy\.'
#
# Runs `asv continuous --split --factor F --interleave-rounds BASE HEAD` with asv's significance
# check on the recorded samples (a change is reported only when the two sets of samples differ
# significantly and the ratio of their medians passes F). Exit status: 0 when no benchmark got
# significantly slower by more than F, 1 when one did (asv's own status), 2 on bad usage.
#
# --publish COMMIT: what CI runs on a push to main: `asv run COMMIT^!` (that one commit, its
# results saved beside the earlier ones) then `asv publish` (the HTML site, html_dir of the
# configuration). Exit status: asv's.
#
# Settings (environment):
#   ASV_FACTOR   the --factor, default 1.15: a benchmark must be 15% slower (and significantly
#                so) to fail. Shared 2-core CI runners drift by several percent between
#                processes; interleaved rounds cancel most of it, 1.15 leaves a margin, and the
#                planted check (scripts/asv-planted-regression.sh) shows a 1.5x slowdown of one
#                kernel is caught.
#   ASV_MACHINE  the machine name for asv's results (default: asv's, the host name)
#   ASV_OUT      folder for the log (continuous.log) and the comparison table
#                (comparison.txt), default .asv/continuous
#   ASV_CONFIG   the asv configuration, default asv.conf.json
set -uo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,9p' "$0" >&2
    exit 2
fi
mode=compare
if [ "$1" = --publish ]; then
    mode=publish
    shift
fi
base=$1
if [ "$mode" = publish ]; then
    head=$base
    shift 1
else
    head=$2
    shift 2
fi
factor=${ASV_FACTOR:-1.15}
out=${ASV_OUT:-.asv/continuous}
config=${ASV_CONFIG:-asv.conf.json}
machine_args=()
if [ -n "${ASV_MACHINE:-}" ]; then
    machine_args=(--machine "$ASV_MACHINE")
fi
for rev in "$base" "$head"; do  # (one commit with --publish: base = head)
    if ! git rev-parse --verify --quiet "$rev^{commit}" >/dev/null; then
        echo "asv-continuous.sh: '$rev' is not a commit (BASE HEAD)" >&2
        exit 2
    fi
done
mkdir -p "$out"

# asv asks for the machine's details once; --yes takes its defaults (a CI runner has no tty).
asv machine --config "$config" --yes "${machine_args[@]}" >/dev/null

if [ "$mode" = publish ]; then
    commit=$base
    set -e
    asv run --config "$config" "${machine_args[@]}" --show-stderr "$@" "$commit^!" 2>&1 \
        | tee "$out/run.log"
    asv publish --config "$config" 2>&1 | tee -a "$out/run.log"
    exit 0
fi

# Two rounds, interleaved base/head: the suite's timing benchmarks run one round in a plain
# `asv run` (benchmarks/_adapters.py), which keeps a full run of one commit short; a comparison
# needs the second round so that drift between the two commits' runs cancels out.
asv continuous --config "$config" "${machine_args[@]}" --split --factor "$factor" \
    --interleave-rounds --attribute rounds=2 --show-stderr "$@" "$base" "$head" 2>&1 \
    | tee "$out/continuous.log"
status=${PIPESTATUS[0]}

# The comparison alone (asv prints it last, after the runs), for the CI artifact.
awk '/^(\| )?Change|^ *before|^All benchmarks:|BENCHMARKS (NOT )?SIGNIFICANTLY|SOME BENCHMARKS/ {f=1} f' \
    "$out/continuous.log" > "$out/comparison.txt"
echo "asv-continuous.sh: $base vs $head, factor $factor: exit $status (log: $out/continuous.log)"
exit "$status"
