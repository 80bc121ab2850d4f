#!/usr/bin/env bash
# The committed history: the History* benchmarks (benchmarks/history.py) over the commits of
# reports/asv/commits.txt, results into reports/asv/results (reports/asv/asv.conf.json).
# Run from the repository root. Then: asv publish --config reports/asv/asv.conf.json
set -euo pipefail
machine=${ASV_MACHINE:-kernbench-loaded-2core}
exec asv run --config reports/asv/asv.conf.json --machine "$machine" \
    --bench '^history\.' --show-stderr "HASHFILE:$PWD/reports/asv/commits.txt" "$@"
