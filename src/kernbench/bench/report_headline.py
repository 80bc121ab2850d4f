"""The headline: the table and figure the project README quotes from a full run.

A few cases a reader meets first (an Adam step large and small, a model's worth of tensors,
entropy, cross-entropy on GPT-2 sized logits), every CPU backend beside numpy and the fastest
peer; the figure shows where the compiled backends start to pay off as the size grows.
"""

from __future__ import annotations

import math
from pathlib import Path

from kernbench.bench import markdown
from kernbench.bench.report_data import REFERENCE_BACKEND, Results, regime_label, speed_cell
from kernbench.bench.report_plots import FASTEST_PEER, _colors, _dashes

#: The cases of the project README's headline table: (kernel, dtype, size label, row title).
HEADLINE_CASES = (
    ("adam_step", "float32", "10000000", "Adam step, float32, 1e7"),
    ("adam_model", "float32", None, "Adam step over the model's tensors, float32"),
    ("entropy", "float64", "10000000", "entropy, float64, 1e7"),
    ("cross_entropy_logits", "float32", "64x50257", "cross-entropy from logits, float32, "
                                                    "64 x 50257"),
    ("adam_step", "float64", "10000", "Adam step, float64, 1e4"),
)
#: Backends left out of the headline, which compares the backends of one CPU process: the
#: cluster and GPU backends have their own reports.
HEADLINE_EXCLUDED = ("dask", "cuda")
#: Kernels of the headline figure, one panel each: (kernel, dtype).
HEADLINE_FIGURE = (("adam_step", "float32"), ("entropy", "float64"),
                   ("cross_entropy_logits", "float32"), ("softmax", "float32"))


def headline_backends(res: Results) -> list[str]:
    return [b for b in res.targets("backend") if b not in HEADLINE_EXCLUDED]


def _best_peer(res: Results, kernel: str, dtype: str, size: str) -> str:
    """The fastest peer that ran, with its time and speedup, or why none did."""
    cases = [res.get(kernel, dtype, size, p) for p in res.peers_of(kernel)]
    ran = [c for c in cases if c and c["status"] == "ok"]
    if not ran:
        return "-"
    best = min(ran, key=lambda c: c["median_s"])
    cell = speed_cell(res, kernel, dtype, (size, best["elements"]), best["target"])
    return f"{best['target']} {cell}"


def headline_table(res: Results) -> str:
    """The project README's headline: time per call (warm) with the speedup against numpy and
    its 95% interval, `~` for a noisy median, `?` for an unresolved speedup; the row names the
    working set and whether it fits in the last-level cache."""
    backends = headline_backends(res)
    rows = []
    for kernel, dtype, label, title in HEADLINE_CASES:
        sizes = res.sizes(kernel, dtype)
        size = next((s for s in sizes if label is None or s[0] == label), None)
        if size is None:
            continue
        row = [f"{title} ({regime_label(res, kernel, dtype, size)})"]
        for b in backends:
            case = res.get(kernel, dtype, size[0], b)
            if case and case["status"] == "skipped" and "budget" in (case.get("reason") or ""):
                row.append("skipped (budget)")
            else:
                row.append(speed_cell(res, kernel, dtype, size, b))
        row.append(_best_peer(res, kernel, dtype, size[0]))
        rows.append(row)
    return markdown.table(["case (working set)"] + backends + ["best peer"], rows)


def plot_headline(res: Results, path: Path) -> bool:
    """Speedup against numpy over size, one panel per headline kernel, one line per backend
    and the fastest peer at each size; bands: the 95% bootstrap intervals; the 1x line is
    numpy. False when no headline kernel was measured."""
    import matplotlib.pyplot as plt

    panels = []
    for kernel, dtype in HEADLINE_FIGURE:  # in the other dtype when the run has only that one
        found = [d for d in (dtype, *res.dtypes()) if res.sizes(kernel, d)]
        if found:
            panels.append((kernel, found[0]))
    if not panels:
        return False
    series = [b for b in headline_backends(res) if b != REFERENCE_BACKEND] + [FASTEST_PEER]
    colors = _colors(res.targets())  # the same colour per target as the other figures
    dashes = _dashes(res.targets())
    colors[FASTEST_PEER], dashes[FASTEST_PEER] = "#7f7f7f", "--"
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.6), squeeze=False)
    for ax, (kernel, dtype) in zip(axes[0], panels):
        for name in series:
            pts = []
            for label, n in res.sizes(kernel, dtype):
                targets = res.peers_of(kernel) if name == FASTEST_PEER else [name]
                found = [res.speedup(kernel, dtype, label, t) for t in targets]
                found = [f for f in found if f is not None]
                if found:
                    pts.append((n, max(found, key=lambda f: f[0])))
            if not pts:
                continue
            x = [n for n, _ in pts]
            est = [f[0] for _, f in pts]
            low = [f[1] if math.isfinite(f[1]) else f[0] for _, f in pts]
            high = [f[2] if math.isfinite(f[2]) else f[0] for _, f in pts]
            ax.plot(x, est, marker="o", ms=3, ls=dashes[name], color=colors[name], label=name,
                    lw=1.4)
            ax.fill_between(x, low, high, color=colors[name], alpha=0.25, lw=0)
        ax.axhline(1.0, color=colors.get(REFERENCE_BACKEND, "black"), lw=1.2,
                   label=f"{REFERENCE_BACKEND} (1x)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{kernel}, {dtype}", fontsize=9)
        ax.set_xlabel("elements", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel(f"speed relative to {REFERENCE_BACKEND} (higher is faster)", fontsize=8)
    handles = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles),
               fontsize=8, frameon=False)
    fig.suptitle("When does it pay off? Speedup against numpy by size (warm caches; bands: 95% "
                 "bootstrap intervals)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
