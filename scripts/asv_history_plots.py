"""Plots of the committed asv history (reports/asv/results): loop, vector and compiled tracks.

    python scripts/asv_history_plots.py [--results reports/asv/results] [--out reports/asv]

For each ``history.History<Kernel>.time_<kernel>`` benchmark it draws, over the commits in
history order (reports/asv/commits.txt), the time of one call per backend with its
interquartile range, and the ratios python/numpy (what vectorizing gives) and numpy/numba (what
compiling gives on top). A commit where a ratio moved by more than ``--moved`` (default 1.3x)
from the commit before is named on the plot and in the table printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from kernbench.bench import markdown

ROOT = Path(__file__).resolve().parents[1]
#: Okabe-Ito colours, as the report's figures.
COLOURS = {"python": "#E69F00", "numpy": "#0072B2", "numba": "#009E73",
           "python/numpy": "#D55E00", "numpy/numba": "#CC79A7"}
RATIOS = (("python/numpy", "python", "numpy"), ("numpy/numba", "numpy", "numba"))


def load(results_dir: Path, commits: list[str]) -> dict:
    """{benchmark: {commit: {backend: (median, q25, q75)}}} from asv's result files."""
    table: dict = {}
    for path in sorted(results_dir.glob("*/*.json")):
        if path.name in ("machine.json", "benchmarks.json"):
            continue
        data = json.loads(path.read_text())
        commit = data["commit_hash"]
        if commit not in commits:
            continue
        cols = data["result_columns"]
        for name, row in data["results"].items():
            if not name.startswith("history."):
                continue
            rec = dict(zip(cols, row))
            backends = [p.strip("'") for p in rec["params"][0]]
            q25 = rec.get("stats_q_25") or [None] * len(backends)
            q75 = rec.get("stats_q_75") or [None] * len(backends)
            cells = table.setdefault(name, {}).setdefault(commit, {})
            for b, med, lo, hi in zip(backends, rec["result"], q25, q75):
                if med is not None:
                    cells[b] = (med, lo if lo is not None else med, hi if hi is not None else med)
    return table


def subject(commit: str) -> str:
    return subprocess.run(["git", "log", "-1", "--format=%s", commit], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


def plot(name: str, series: dict, commits: list[str], out: Path, moved: float) -> list:
    kernel = name.rsplit(".time_", 1)[1]
    xs = list(range(len(commits)))
    labels = [c[:7] for c in commits]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for backend in ("python", "numpy", "numba"):
        pts = [(x, series.get(c, {}).get(backend)) for x, c in zip(xs, commits)]
        pts = [(x, v) for x, v in pts if v is not None]
        if not pts:
            continue
        top.errorbar([x for x, _ in pts], [v[0] * 1e3 for _, v in pts],
                     yerr=[[(v[0] - v[1]) * 1e3 for _, v in pts],
                           [(v[2] - v[0]) * 1e3 for _, v in pts]],
                     marker="o", ms=4, capsize=2, color=COLOURS[backend], label=backend)
    top.set_yscale("log")
    top.set_ylabel("one call (ms, median, IQR)")
    top.set_title(f"{kernel}: 1e5 float64 elements, per commit")
    top.legend(fontsize=8)
    moves = []
    for label, num, den in RATIOS:
        ratio = {}
        for x, c in zip(xs, commits):
            cell = series.get(c, {})
            if num in cell and den in cell:
                ratio[x] = cell[num][0] / cell[den][0]
        bottom.plot(list(ratio), list(ratio.values()), marker="o", ms=4,
                    color=COLOURS[label], label=f"{label} (x faster)")
        prev = None
        for x in sorted(ratio):
            if prev is not None:
                change = ratio[x] / ratio[prev]
                if change > moved or change < 1 / moved:
                    moves.append((kernel, label, commits[x], ratio[prev], ratio[x]))
                    bottom.annotate(commits[x][:7], (x, ratio[x]), textcoords="offset points",
                                    xytext=(0, 6), ha="center", fontsize=7,
                                    color=COLOURS[label])
            prev = x
    bottom.axhline(1.0, color="grey", lw=0.8, ls="--")
    bottom.set_yscale("log")
    bottom.set_ylabel("time ratio")
    bottom.legend(fontsize=8)
    bottom.set_xticks(xs, labels, rotation=45, ha="right", fontsize=8)
    bottom.set_xlabel("commit (oldest first)")
    fig.tight_layout()
    fig.savefig(out / f"history_{kernel}.png", dpi=110)
    plt.close(fig)
    return moves


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=ROOT / "reports/asv/results")
    ap.add_argument("--commits", type=Path, default=ROOT / "reports/asv/commits.txt")
    ap.add_argument("--out", type=Path, default=ROOT / "reports/asv")
    ap.add_argument("--moved", type=float, default=1.3,
                    help="name a commit where a ratio changed by more than this factor")
    args = ap.parse_args(argv)
    commits = args.commits.read_text().split()
    table = load(args.results, commits)
    if not table:
        raise SystemExit(f"no history.* results for the commits of {args.commits}")
    moves = []
    for name in sorted(table):
        moves += plot(name, table[name], commits, args.out, args.moved)
    rows = [[kernel, label, f"`{commit[:7]}`", f"{before:.3g}", f"{after:.3g}",
             markdown.cell(subject(commit)[:90])]
            for kernel, label, commit, before, after in moves]
    print(markdown.table(["kernel", "ratio", "commit", "before", "after", "commit subject"], rows,
                         align=[None, None, None, "right", "right", None]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
