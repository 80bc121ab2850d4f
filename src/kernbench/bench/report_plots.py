"""The report's figures: time against size, the speedup heatmap, bandwidth and roofline.

Each ``plot_*`` function draws one PNG from :class:`~kernbench.bench.report_data.Results`; the
colours are Okabe and Ito's palette, the same colour for a target in every figure.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kernbench.bench.report_data import (
    REFERENCE_BACKEND,
    Results,
    dram_size,
    fallback_size,
    fmt_ratio,
    kernel_roof,
    largest_size,
    reference_size,
    unresolved,
)
from kernbench.bench.stats import CONFIDENCE
from kernbench.bench.workloads import WORKLOADS

#: Okabe and Ito's palette, distinguishable with every common colour-vision deficiency; past
#: eight series the line style changes too (see _style).
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
             "#CC79A7")
#: A sequential map that is colour-blind safe and prints in grey.
COLOR_MAP = "cividis"


def _colors(targets: list[str]) -> dict:
    return {t: OKABE_ITO[i % len(OKABE_ITO)] for i, t in enumerate(targets)}


def _dashes(targets: list[str]) -> dict:
    """A line style per target that changes each time the palette wraps around."""
    styles = ("-", "--", ":", "-.")
    return {t: styles[(i // len(OKABE_ITO)) % len(styles)] for i, t in enumerate(targets)}


def _grid(n: int, cols: int = 4) -> tuple[int, int]:
    return max(1, math.ceil(n / cols)), min(cols, max(1, n))


def plot_time_vs_size(res: Results, dtype: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    kernels = [k for k in res.kernels() if largest_size(res, k, dtype)]
    targets = res.targets()
    colors, dashes = _colors(targets), _dashes(targets)
    rows, cols = _grid(len(kernels))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, kernel in zip(axes.flat, kernels):
        for t in targets:
            cases = [res.get(kernel, dtype, s[0], t) for s in res.ok_sizes(kernel, dtype, t)]
            if cases:
                x = [c["elements"] for c in cases]
                marker = "o" if t in res.targets("backend") else "."
                ax.plot(x, [c["median_s"] for c in cases], marker=marker, ls=dashes[t],
                        color=colors[t], label=t, ms=3, lw=1.2)
                ax.fill_between(x, [c["q1_s"] for c in cases], [c["q3_s"] for c in cases],
                                color=colors[t], alpha=0.25, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(kernel, fontsize=9)
        ax.set_xlabel("elements", fontsize=8)
        ax.set_ylabel("seconds per call", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    for ax in list(axes.flat)[len(kernels):]:
        ax.axis("off")
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(8, len(handles)),
               fontsize=8, frameon=False)
    fig.suptitle(f"Time per call against size, {dtype}: medians, bands from the first to the "
                 f"third quartile of the samples (circles: backends, dots: peers)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def speedup_matrix(res: Results, dtype: str) -> tuple[list[str], list[str], np.ndarray]:
    """Speed relative to numpy (t_numpy / t_target) at each kernel's reference size (a budgeted
    backend skipped there: at the largest smaller size where it ran, against numpy at that
    size), as ``m[..., 0]`` with its bootstrap interval in ``m[..., 1]`` and ``m[..., 2]``; NaN
    where the target did not run; the last row is the geometric mean over the kernels the
    target ran on (its interval: the geometric means of the bounds, a rough band)."""
    kernels = [k for k in res.kernels() if reference_size(res, k, dtype)]
    targets = res.targets()
    m = np.full((len(kernels) + 1, len(targets), 3), np.nan)
    for i, kernel in enumerate(kernels):
        ref = reference_size(res, kernel, dtype)
        for j, t in enumerate(targets):
            size = fallback_size(res, kernel, dtype, ref, t)  # python: where it last ran
            if size is None:
                continue
            interval = res.speedup(kernel, dtype, size[0], t)
            if interval is not None and interval[0] > 0:
                m[i, j] = interval
    for j in range(len(targets)):
        for k in range(3):
            col = m[:-1, j, k]
            col = col[np.isfinite(col) & (col > 0)]
            if col.size:
                m[-1, j, k] = float(np.exp(np.mean(np.log(col))))
    return kernels + ["geometric mean"], targets, m


def plot_heatmap(res: Results, dtype: str, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    rows, cols, m3 = speedup_matrix(res, dtype)
    m = m3[..., 0]
    finite = m[np.isfinite(m) & (m > 0)]
    if finite.size == 0:
        finite = np.array([1.0])
    low, high = min(finite.min(), 0.5), max(finite.max(), 2.0)
    fig, ax = plt.subplots(figsize=(1.25 * len(cols) + 3, 0.5 * len(rows) + 1.8))
    im = ax.imshow(np.where(np.isfinite(m), m, np.nan), cmap=COLOR_MAP, aspect="auto",
                   norm=LogNorm(vmin=low, vmax=high))
    middle = math.sqrt(low * high)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if not np.isfinite(m[i, j]):
                continue
            interval = tuple(m3[i, j])
            dark = m[i, j] < middle  # cividis is dark below the middle of its range
            text = fmt_ratio(m[i, j])
            shows_interval = i < len(rows) - 1 and cols[j] != REFERENCE_BACKEND
            if shows_interval and math.isfinite(interval[1]):
                text += f"\n{fmt_ratio(interval[1])[:-1]}-{fmt_ratio(interval[2])}"
            if shows_interval and unresolved(interval):
                text += " ?"
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//",
                                           edgecolor="0.6", lw=0))
            ax.text(j, i, text, ha="center", va="center", fontsize=6,
                    color="white" if dark else "black")
    ax.axhline(len(rows) - 1.5, color="black", lw=1)
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    fig.colorbar(im, ax=ax, label="speed relative to numpy (higher is faster)")
    ax.set_title(f"Speed relative to numpy at each kernel's reference size, {dtype}\n"
                 f"{CONFIDENCE:.0%} bootstrap interval below; hatched and ?: unresolved",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


FASTEST_PEER = "fastest peer"


def plot_gbps(res: Results, dtype: str, bw: dict, path: Path) -> None:
    """Bars per backend, plus the fastest peer of each kernel, against the triad lines."""
    import matplotlib.pyplot as plt

    kernels = [k for k in res.kernels() if dram_size(res, k, dtype)]
    backends = res.targets("backend")
    series = backends + [FASTEST_PEER]
    colors = _colors(series)
    colors[FASTEST_PEER] = "0.65"
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(kernels) + 2), 4.8))
    for j, name in enumerate(series):
        xs, ys = [], []
        for i, kernel in enumerate(kernels):
            size = dram_size(res, kernel, dtype)[0]
            names = res.peers_of(kernel) if name == FASTEST_PEER else [name]
            rates = [c["gbps"] for c in (res.get(kernel, dtype, size, n) for n in names)
                     if c and c["status"] == "ok"]
            if rates:
                xs.append(i - 0.4 + (j + 0.5) * width)
                ys.append(max(rates))
        if xs:
            ax.bar(xs, ys, width=width, color=colors[name], label=name)
    for label, style in (("all_threads", "-"), ("one_thread", ":")):
        if label in bw:
            b = bw[label]
            if "inplace_triad_gbps" in b:
                ax.axhline(b["inplace_triad_gbps"], color="black", ls=style, lw=1.2,
                           label=f"in-place triad, {b['threads']} thread(s): "
                                 f"{b['inplace_triad_gbps']:.1f} GB/s")
            ax.axhline(b["triad_gbps"], color="0.5", ls=style, lw=0.8,
                       label=f"STREAM triad, {b['threads']} thread(s): "
                             f"{b['triad_gbps']:.1f} GB/s")
    ax.set_xticks(range(len(kernels)), kernels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("achieved GB/s")
    ax.set_title(f"Achieved bandwidth (compulsory bytes / median time, warm), {dtype}: each "
                 f"kernel at its largest size whose working set is past the last-level cache "
                 f"(DRAM-resident)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_roofline(res: Results, dtype: str, bw_gbps: float | None, roofs: dict,
                  path: Path) -> bool:
    """GFLOP/s against arithmetic intensity (counted flops per compulsory byte) at each kernel's
    DRAM-resident size, for every backend but python; the DRAM bandwidth roof, the measured
    multiply-add roof, and per log/exp kernel a dash at its log/exp roof. False when nothing
    is DRAM-resident."""
    import matplotlib.pyplot as plt

    kernels = [k for k in res.kernels() if dram_size(res, k, dtype) and k in WORKLOADS]
    if not kernels:
        return False
    targets = [t for t in res.targets("backend") if t != "python"]
    colors = _colors(targets)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    xs = []
    for kernel in kernels:
        size = dram_size(res, kernel, dtype)
        wl = WORKLOADS[kernel]
        for t in targets:
            c = res.get(kernel, dtype, size[0], t)
            if not c or c["status"] != "ok" or not c["bytes_moved"]:
                continue
            x = c["flops"] / c["bytes_moved"]
            xs.append(x)
            ax.plot(x, c["flops"] / c["median_s"] / 1e9, "o", color=colors[t], ms=5,
                    label=t)
            if t == "numba" or (t == targets[-1] and "numba" not in targets):
                ax.annotate(kernel, (x, c["flops"] / c["median_s"] / 1e9), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        roof, what = kernel_roof(kernel, dtype, None, roofs, True)
        if roof and what == "log/exp rate":
            itemsize = wl.fixed_itemsize or np.dtype(dtype).itemsize
            x = wl.flops_per_element / (wl.bytes_per_element * itemsize)
            ax.plot([x / 1.15, x * 1.15], [roof * wl.flops_per_element / 1e9] * 2, "-",
                    color="0.4", lw=2, label="log/exp roof of the kernel")
    if xs:
        grid = np.geomspace(min(xs) / 2, max(xs) * 2, 50)
        if bw_gbps:
            ax.plot(grid, bw_gbps * grid, "k-", lw=1.2,
                    label=f"DRAM bandwidth {bw_gbps:.1f} GB/s x intensity")
        fma = (roofs.get("fma_gflops") or {}).get(dtype)
        if fma:
            ax.axhline(fma, color="k", ls="--", lw=1,
                       label=f"measured multiply-add roof {fma:.3g} GFLOP/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (counted flops per compulsory byte)")
    ax.set_ylabel("GFLOP/s (counted flops / median time)")
    ax.set_title(f"Roofline, {dtype}: DRAM-resident cases (working set past the last-level "
                 f"cache), warm", fontsize=9)
    handles = {}
    for h, lab in zip(*ax.get_legend_handles_labels()):
        handles.setdefault(lab, h)
    ax.legend(handles.values(), handles.keys(), fontsize=7)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
