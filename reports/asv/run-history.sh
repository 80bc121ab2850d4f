#!/usr/bin/env bash
# The committed history: the History* benchmarks (benchmarks/history.py) over the commits of
# reports/asv/commits.txt, results into reports/asv/results (reports/asv/asv.conf.json).
# Run from the repository root. Then: asv publish --config reports/asv/asv.conf.json
#
# The kernels run on one thread (NUMBA_NUM_THREADS=1, OMP_NUM_THREADS=1; set them to
# override): the committed run was made on a 2-core machine busy with other work, where numba's
# parallel regions wait for cores in scheduler quanta and scatter by 10x.
set -euo pipefail
export NUMBA_NUM_THREADS=${NUMBA_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
machine=${ASV_MACHINE:-kernbench-loaded-2core}
exec asv run --config reports/asv/asv.conf.json --machine "$machine" \
    --bench '^history\.' --show-stderr "HASHFILE:$PWD/reports/asv/commits.txt" "$@"
