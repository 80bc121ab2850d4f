#!/usr/bin/env bash
# Side-by-side timing of two commits on one machine: scripts/ab-trees.sh OLD [NEW] [ROUNDS]
#
# Checks OLD (and NEW, default: the working tree) out into temporary worktrees, then runs
# scripts/ab_calls.py under each tree's src/ in alternation, ROUNDS times (default 2), and prints
# per case the seconds of each and NEW/OLD per round. Drift of the machine hits both alike, which
# a comparison of two full runs made at different times cannot promise.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: scripts/ab-trees.sh OLD [NEW] [ROUNDS]}
new=${2:-}
rounds=${3:-2}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true;
      [ -n "$new" ] && git worktree remove --force "$tmp/new" >/dev/null 2>&1 || true;
      rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/old" "$old"
new_src=$PWD/src
if [ -n "$new" ]; then
    git worktree add -q --detach "$tmp/new" "$new"
    new_src=$tmp/new/src
fi
for r in $(seq "$rounds"); do
    PYTHONPATH="$tmp/old/src" python scripts/ab_calls.py > "$tmp/old-$r.json"
    PYTHONPATH="$new_src" python scripts/ab_calls.py > "$tmp/new-$r.json"
done
python - "$tmp" "$rounds" <<'PY'
import json, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
for r in range(1, rounds + 1):
    a = json.load(open(f"{tmp}/old-{r}.json"))
    b = json.load(open(f"{tmp}/new-{r}.json"))
    print(f"round {r}")
    for k in a:
        print(f"  {k:34s} old {a[k] * 1e3:9.3f} ms  new {b[k] * 1e3:9.3f} ms  new/old {b[k] / a[k]:.3f}")
PY
