"""``kernbench report``: README.md with tables and PNG plots, everything computed from results.

Sections: the loop -> vector -> compiled table at a reference size; the same at the largest
size; time against size (log-log); a heatmap of speed relative to numpy with a geometric-mean
row; achieved GB/s against the measured triad bandwidth; compile times and break-even call
counts; what did not run and why; the machine. No figure is typed in: each comes from the
results files given.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from kernbench.bench.results import case_key
from kernbench.bench.workloads import REFERENCE_ELEMENTS, WORKLOADS

REFERENCE_BACKEND = "numpy"
BACKEND_ORDER = ("python", "numpy", "numba-plain", "numba", "cuda", "dask")


# ---------------------------------------------------------------------------- data access

class Results:
    """The cases of one or more runs, merged (a later run's case replaces an earlier one's)."""

    def __init__(self, runs: list[dict]):
        self.runs = runs
        merged: dict = {}
        for run in runs:
            for case in run["cases"]:
                merged[case_key(case)] = case
        self.cases = list(merged.values())
        self.by_key = merged
        self.compile = [rec for run in runs for rec in run.get("compile", [])]

    def dtypes(self) -> list[str]:
        return sorted({c["dtype"] for c in self.cases}, key=lambda d: (d != "float32", d))

    def kernels(self) -> list[str]:
        present = {c["kernel"] for c in self.cases}
        known = [k for k in WORKLOADS if k in present]
        return known + sorted(present - set(known))

    def targets(self, kind: str | None = None) -> list[str]:
        """Backends in contract order, then peers by name."""
        seen = {c["target"]: c["target_kind"] for c in self.cases}
        backends = [b for b in BACKEND_ORDER if seen.get(b) == "backend"]
        backends += sorted(t for t, k in seen.items() if k == "backend" and t not in backends)
        peers = sorted(t for t, k in seen.items() if k == "peer")
        if kind == "backend":
            return backends
        if kind == "peer":
            return peers
        return backends + peers

    def sizes(self, kernel: str, dtype: str) -> list[tuple[str, int]]:
        """(size_label, elements) measured for a kernel and dtype, smallest first."""
        found = {(c["size_label"], c["elements"]) for c in self.cases
                 if c["kernel"] == kernel and c["dtype"] == dtype}
        return sorted(found, key=lambda s: s[1])

    def get(self, kernel, dtype, size_label, target) -> dict | None:
        return self.by_key.get((kernel, dtype, size_label, target))

    def median(self, kernel, dtype, size_label, target) -> float | None:
        c = self.get(kernel, dtype, size_label, target)
        return c["median_s"] if c and c["status"] == "ok" else None

    def ok_sizes(self, kernel, dtype, target) -> list[tuple[str, int]]:
        return [s for s in self.sizes(kernel, dtype)
                if self.median(kernel, dtype, s[0], target) is not None]

    def peers_of(self, kernel: str) -> list[str]:
        return sorted({c["target"] for c in self.cases
                       if c["kernel"] == kernel and c["target_kind"] == "peer"})


def reference_size(res: Results, kernel: str, dtype: str) -> tuple[str, int] | None:
    """The measured size closest to REFERENCE_ELEMENTS on a log scale (the larger on a tie)."""
    sizes = [s for s in res.sizes(kernel, dtype)
             if res.median(kernel, dtype, s[0], REFERENCE_BACKEND) is not None]
    if not sizes:
        return None
    return min(sizes, key=lambda s: (abs(math.log(s[1] / REFERENCE_ELEMENTS)), -s[1]))


def largest_size(res: Results, kernel: str, dtype: str) -> tuple[str, int] | None:
    sizes = res.ok_sizes(kernel, dtype, REFERENCE_BACKEND)
    return sizes[-1] if sizes else None


def extra_sizes(res: Results, kernel: str, dtype: str) -> list[tuple[str, int]]:
    """Sizes a workload names beside its sweep (the GPT-2 logits), when they were measured."""
    wl = WORKLOADS.get(kernel)
    if wl is None:
        return []
    labels = {"x".join(map(str, s)) for s in wl.extra_sizes}
    return [s for s in res.ok_sizes(kernel, dtype, REFERENCE_BACKEND) if s[0] in labels]


# ---------------------------------------------------------------------------- formatting

def fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 0:
        return "-" + fmt_time(-seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}"
    return "-"


def fmt_ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.3g}x" if r < 100 else f"{r:.0f}x"


def fmt_elements(n: int) -> str:
    exponent = math.log10(n) if n > 0 else 0
    if n >= 1000 and abs(exponent - round(exponent)) < 1e-9:
        return f"1e{round(exponent)}"
    return f"{n:,}"


def fallback_size(res: Results, kernel: str, dtype: str, size: tuple[str, int],
                  target: str) -> tuple[str, int] | None:
    """The size a target is shown at: ``size`` when it ran there, else (for a budgeted backend
    skipped there) the largest smaller size where it ran; None when it ran at neither."""
    if res.median(kernel, dtype, size[0], target) is not None:
        return size
    case = res.get(kernel, dtype, size[0], target)
    if case is None or case["status"] != "skipped":
        return None
    ran = [s for s in res.ok_sizes(kernel, dtype, target) if s[1] <= size[1]]
    return ran[-1] if ran else None


def _cell(res: Results, kernel, dtype, size, target) -> str:
    """'time (speedup vs numpy)', '~' marking a noisy median; the status when not ok."""
    case = res.get(kernel, dtype, size[0], target)
    if case is None:
        return "-"
    if case["status"] != "ok":
        return case["status"]
    base = res.median(kernel, dtype, size[0], REFERENCE_BACKEND)
    t = case["median_s"]
    noisy = "~" if case.get("noisy") else ""
    if target == REFERENCE_BACKEND or base is None:
        return f"{noisy}{fmt_time(t)}"
    return f"{noisy}{fmt_time(t)} ({fmt_ratio(base / t)})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- tables

def speed_table(res: Results, dtype: str, which: str) -> str:
    """Loop -> vector -> compiled: per kernel, every backend with its speedup vs numpy, peers
    beside. ``which`` is "reference" or "largest". The python column shows the largest size
    where python ran when it did not run at the row's size (the size is written in the cell)."""
    backends = res.targets("backend")
    header = ["kernel", "size"] + backends + ["peers"]
    rows = []
    for kernel in res.kernels():
        if which == "reference":
            ref = reference_size(res, kernel, dtype)
            sizes = [ref] + [s for s in extra_sizes(res, kernel, dtype) if s != ref] if ref else []
        else:
            sizes = [s for s in [largest_size(res, kernel, dtype)] if s]
        for size in sizes:
            row = [kernel, size[0]]
            for b in backends:
                shown = fallback_size(res, kernel, dtype, size, b)
                if shown and shown != size:
                    row.append(f"{_cell(res, kernel, dtype, shown, b)} at {shown[0]}")
                else:
                    row.append(_cell(res, kernel, dtype, size, b))
            peers = [f"{p} {_cell(res, kernel, dtype, size, p)}" for p in res.peers_of(kernel)
                     if res.get(kernel, dtype, size[0], p)]
            row.append("<br>".join(peers) or "-")
            rows.append(row)
    return _table(header, rows)


def bandwidth_of(run: dict) -> dict:
    return run.get("machine", {}).get("bandwidth") or {}


def limit_gbps(bw: dict) -> tuple[float | None, str]:
    """The bandwidth kernels are held against, and its name: the in-place triad (no
    write-allocate, like the optimizer steps) when measured, else the STREAM triad; the higher
    of the one-thread and all-thread figures (on a shared machine the second thread's core may
    be busy, and then one thread gets more)."""
    entries = [bw[label] for label in ("one_thread", "all_threads") if label in bw]
    for key, name in (("inplace_triad_gbps", "in-place triad"), ("triad_gbps", "triad")):
        values = [e[key] for e in entries if key in e]
        if values:
            return max(values), name
    return None, "triad"


def gbps_table(res: Results, dtype: str, triad_gbps: float | None) -> str:
    """Achieved GB/s at each kernel's largest size, with the share of the triad bandwidth."""
    backends = res.targets("backend")

    def cell(kernel, size, target):
        c = res.get(kernel, dtype, size[0], target)
        if not c or c["status"] != "ok":
            return None
        share = f" ({100 * c['gbps'] / triad_gbps:.0f}%)" if triad_gbps else ""
        return f"{c['gbps']:.3g}{share}"

    rows = []
    for kernel in res.kernels():
        size = largest_size(res, kernel, dtype)
        if not size:
            continue
        row = [kernel, size[0]] + [cell(kernel, size, b) or "-" for b in backends]
        peers = [f"{p} {cell(kernel, size, p)}" for p in res.peers_of(kernel)
                 if cell(kernel, size, p)]
        rows.append(row + ["<br>".join(peers) or "-"])
    return _table(["kernel", "size"] + backends + ["peers"], rows)


def compile_table(res: Results) -> str:
    rows = []
    for rec in res.compile:
        kernel, dtype, backend = rec["kernel"], rec["dtype"], rec["backend"]
        if rec["status"] != "ok":
            rows.append([kernel, dtype, backend, "failed", "-", "-", "-", "-", rec.get("reason")
                         or ""])
            continue
        size = reference_size(res, kernel, dtype)
        t_np = res.median(kernel, dtype, size[0], REFERENCE_BACKEND) if size else None
        t_jit = res.median(kernel, dtype, size[0], backend) if size else None
        saving = (t_np - t_jit) if (t_np is not None and t_jit is not None) else None
        if saving is None:
            breakeven, breakeven_cached = "-", "-"
        elif saving <= 0:
            breakeven = breakeven_cached = f"never ({backend} slower at this size)"
        else:
            breakeven = f"{math.ceil(rec['compile_s'] / saving):,}"
            load = rec.get("cache_load_s")
            breakeven_cached = f"{math.ceil(load / saving):,}" if load is not None else "-"
        rows.append([kernel, dtype, backend, fmt_time(rec["compile_s"]),
                     fmt_time(rec.get("cache_load_s")), size[0] if size else "-",
                     fmt_time(saving) if saving is not None else "-",
                     breakeven, breakeven_cached])
    header = ["kernel", "dtype", "backend", "cold compile", "cache load", "size",
              "saving per call vs numpy", "break-even calls (cold)", "break-even calls (cached)"]
    if not rows:
        return "_No compile-time measurement in these results._"
    notes = []
    for backend in sorted({rec["backend"] for rec in res.compile}):
        rec = next(r for r in res.compile if r["backend"] == backend)
        if rec.get("cold_import_s") is not None:
            notes.append(f"{backend}: importing the backend took {fmt_time(rec['cold_import_s'])} "
                         f"(cold) and {fmt_time(rec.get('cached_import_s'))} (cached)")
        if rec.get("cold_runtime_init_s") is not None:
            notes.append(f"{backend}: starting its runtime (a trivial parallel loop, threading "
                         f"layer included) took {fmt_time(rec['cold_runtime_init_s'])} (cold) "
                         f"and {fmt_time(rec.get('cached_runtime_init_s'))} (cached), charged "
                         "to no kernel")
    return _table(header, rows) + "".join(f"\n\n{n}." for n in notes)


def status_section(res: Results) -> str:
    counts = defaultdict(int)
    for c in res.cases:
        counts[c["status"]] += 1
    lines = ["Cases by status: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + "."]
    noisy = [c for c in res.cases if c["status"] == "ok" and c.get("noisy")]
    if res.cases:
        threshold = {run["settings"]["timing"].get("noise_threshold") for run in res.runs
                     if "timing" in run["settings"]}
        lines.append(f"Noisy medians (IQR / median above {', '.join(map(str, threshold))}), "
                     f"marked `~` in the tables: {len(noisy)} of "
                     f"{sum(c['status'] == 'ok' for c in res.cases)}.")
    others = [c for c in res.cases if c["status"] != "ok"]
    if others:
        rows = [[c["kernel"], c["dtype"], c["size_label"], c["target"], c["status"],
                 (c.get("reason") or "").replace("|", "/")] for c in others]
        lines += ["", "<details><summary>Cases that did not run, and why</summary>", "",
                  _table(["kernel", "dtype", "size", "target", "status", "reason"], rows),
                  "", "</details>"]
    return "\n".join(lines)


def machine_section(run: dict, source: str) -> str:
    m = run.get("machine", {})
    bw = bandwidth_of(run)
    lines = [f"**{source}** ({run.get('created_utc', '?')}, {run.get('elapsed_s', 0):.0f} s): "
             f"`{run.get('command', '')}`", "",
             f"- CPU: {m.get('cpu_model')}, {m.get('logical_cpus')} logical CPUs "
             f"({m.get('usable_cpus')} usable); threads for numba and torch: {m.get('threads')}",
             f"- numba threading layer: {m.get('numba_threading_layer', '-')}; "
             f"SVML: {m.get('numba_svml', '-')}; environment: {m.get('environment', {})}"]
    for label in ("one_thread", "all_threads"):
        if label in bw:
            b = bw[label]
            inplace = (f", in-place triad {b['inplace_triad_gbps']:.1f} GB/s"
                       if "inplace_triad_gbps" in b else "")
            lines.append(f"- bandwidth, {b['threads']} thread(s): copy {b['copy_gbps']:.1f} GB/s, "
                         f"triad {b['triad_gbps']:.1f} GB/s{inplace} ({bw.get('statistic')}, "
                         f"{bw.get('array_bytes', 0) / 1e6:.0f} MB arrays)")
    lines += gpu_lines(m)
    dc = m.get("dask_cluster")
    if dc:
        where = "embedded LocalCluster" if dc.get("embedded") else dc.get("scheduler")
        lines.append("- dask cluster: " + (dc["error"] if "error" in dc else
                     f"{dc['workers']} workers, {dc['threads']} threads ({where})"))
    versions = m.get("versions", {})
    lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    git = m.get("git", {})
    if git.get("commit"):
        dirty = " (with local changes)" if git.get("dirty") else ""
        lines.append(f"- git commit {git['commit']}{dirty}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- GPU

#: Timers of cases measured on a GPU (or on numba's CUDA simulator).
DEVICE_TIMERS = ("cuda-event", "simulator")


def gpu_lines(machine: dict) -> list[str]:
    """The machine's GPU as the probe recorded it; nothing for results without one (v1)."""
    gpu = machine.get("gpu")
    if not gpu:
        return []
    if not gpu.get("available"):
        return [f"- GPU: none ({gpu.get('reason')})"]
    memory = gpu.get("memory_bytes")
    lines = [f"- GPU: {gpu['name']}, compute capability "
             f"{'.'.join(map(str, gpu['compute_capability']))}, {gpu['multiprocessors']} "
             f"multiprocessors, {f'{memory / 2**30:.0f} GiB' if memory else 'memory unknown'}; "
             f"driver {gpu.get('driver_version') or '-'} (CUDA "
             f"{gpu.get('driver_cuda_version') or '-'}), toolkit CUDA "
             f"{gpu.get('toolkit_cuda_version') or '-'}"]
    copy = gpu.get("copy_bandwidth") or {}
    nominal = gpu.get("nominal_bandwidth_gbps")
    nominal_text = f"; nominal {nominal:.0f} GB/s (memory clock x bus width)" if nominal else ""
    if "error" in copy:
        lines.append(f"- GPU copy bandwidth: not measured ({copy['error']}){nominal_text}")
    elif copy:
        launch = copy.get("kernel_launch", {})
        lines.append(f"- GPU device-to-device copy: {copy['memcpy_gbps']:.0f} GB/s by the "
                     f"driver, {copy['kernel_gbps']:.0f} GB/s by a grid-stride kernel "
                     f"({launch.get('blocks')} blocks of {launch.get('threads_per_block')}) "
                     f"({copy.get('statistic')}, {copy['array_bytes'] / 1e9:.2f} GB arrays)"
                     f"{nominal_text}")
    return lines


def device_copy_gbps(runs: list[dict]) -> float | None:
    """The best device copy bandwidth the runs measured, or None."""
    found = [((run.get("machine", {}).get("gpu") or {}).get("copy_bandwidth") or {})
             .get("best_gbps") for run in runs]
    found = [g for g in found if g]
    return max(found) if found else None


def device_section(res: Results) -> list[str]:
    """Cases timed on a GPU: device time, share of the device copy bandwidth, and the input
    transfers measured apart. Nothing when no case ran on one."""
    cases = [c for c in res.cases if c["status"] == "ok" and c.get("timer") in DEVICE_TIMERS]
    if not cases:
        return []
    copy = device_copy_gbps(res.runs)
    order = {k: i for i, k in enumerate(res.kernels())}
    cases.sort(key=lambda c: (order[c["kernel"]], c["dtype"], c["elements"],
                              c["target_kind"], c["target"]))
    rows = []
    for c in cases:
        transfer = c.get("transfer") or {}
        share = f"{100 * c['gbps'] / copy:.0f}%" if copy else "-"
        rows.append([c["kernel"], c["dtype"], c["size_label"], c["target"],
                     c.get("inputs", "-"), fmt_time(c["median_s"]), f"{c['gbps']:.3g}", share,
                     fmt_time(transfer.get("host_to_device_s")),
                     fmt_time(transfer.get("device_to_host_s"))])
    simulated = any(c["timer"] == "simulator" for c in cases)
    text = ["## On the GPU", "",
            "Device time: CUDA events around calls queued back to back (the median per call). "
            "`inputs`: `device` when the inputs were put on the GPU before the timing (optimizer "
            "params and grads for the cuda backend, every tensor for torch), `host` when every "
            "call copies them in and its results out (the information functions take NumPy "
            "arrays), so their time includes those transfers. The copy columns are the case's "
            "inputs moved host-to-device and back, timed apart. GB/s counts compulsory bytes; "
            "the percentage is of the best measured device-to-device copy bandwidth.", ""]
    if simulated:
        text += ["These cases ran on numba's CUDA simulator: their times are the host's, and "
                 "say nothing about a GPU.", ""]
    header = ["kernel", "dtype", "size", "target", "inputs", "device time", "GB/s",
              "of copy bandwidth", "inputs to device", "inputs back"]
    return text + [_table(header, rows), ""]


# ---------------------------------------------------------------------------- plots

def _colors(targets: list[str]) -> dict:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab20")
    return {t: cmap(i % 20) for i, t in enumerate(targets)}


def _grid(n: int, cols: int = 4) -> tuple[int, int]:
    return max(1, math.ceil(n / cols)), min(cols, max(1, n))


def plot_time_vs_size(res: Results, dtype: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    kernels = [k for k in res.kernels() if largest_size(res, k, dtype)]
    targets = res.targets()
    colors = _colors(targets)
    rows, cols = _grid(len(kernels))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, kernel in zip(axes.flat, kernels):
        for t in targets:
            pts = [(s[1], res.median(kernel, dtype, s[0], t))
                   for s in res.ok_sizes(kernel, dtype, t)]
            if pts:
                x, y = zip(*pts)
                style = "-o" if t in res.targets("backend") else "--."
                ax.plot(x, y, style, color=colors[t], label=t, ms=3, lw=1.2)
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
    fig.suptitle(f"Time per call against size, {dtype} (solid: backends, dashed: peers)")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def speedup_matrix(res: Results, dtype: str) -> tuple[list[str], list[str], np.ndarray]:
    """Speed relative to numpy (t_numpy / t_target) at each kernel's reference size (a budgeted
    backend skipped there: at the largest smaller size where it ran, against numpy at that
    size); NaN where the target did not run; the last row is the geometric mean over the
    kernels the target ran on."""
    kernels = [k for k in res.kernels() if reference_size(res, k, dtype)]
    targets = res.targets()
    m = np.full((len(kernels) + 1, len(targets)), np.nan)
    for i, kernel in enumerate(kernels):
        ref = reference_size(res, kernel, dtype)
        for j, t in enumerate(targets):
            size = fallback_size(res, kernel, dtype, ref, t)  # python: where it last ran
            if size is None:
                continue
            base = res.median(kernel, dtype, size[0], REFERENCE_BACKEND)
            tt = res.median(kernel, dtype, size[0], t)
            if tt and base:
                m[i, j] = base / tt
    for j in range(len(targets)):
        col = m[:-1, j]
        col = col[np.isfinite(col) & (col > 0)]
        if col.size:
            m[-1, j] = float(np.exp(np.mean(np.log(col))))
    return kernels + ["geometric mean"], targets, m


def plot_heatmap(res: Results, dtype: str, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    rows, cols, m = speedup_matrix(res, dtype)
    finite = m[np.isfinite(m) & (m > 0)]
    if finite.size == 0:
        finite = np.array([1.0])
    span = max(abs(math.log10(finite.min())), abs(math.log10(finite.max())), 0.3)
    fig, ax = plt.subplots(figsize=(1.0 * len(cols) + 3, 0.42 * len(rows) + 1.8))
    im = ax.imshow(np.where(np.isfinite(m), m, np.nan), cmap="RdYlGn", aspect="auto",
                   norm=LogNorm(vmin=10 ** -span, vmax=10 ** span))
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(m[i, j]):
                ax.text(j, i, fmt_ratio(m[i, j]), ha="center", va="center", fontsize=7)
    ax.axhline(len(rows) - 1.5, color="black", lw=1)
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    fig.colorbar(im, ax=ax, label="speed relative to numpy (higher is faster)")
    ax.set_title(f"Speed relative to numpy at each kernel's reference size, {dtype}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


FASTEST_PEER = "fastest peer"


def plot_gbps(res: Results, dtype: str, bw: dict, path: Path) -> None:
    """Bars per backend, plus the fastest peer of each kernel, against the triad lines."""
    import matplotlib.pyplot as plt

    kernels = [k for k in res.kernels() if largest_size(res, k, dtype)]
    backends = res.targets("backend")
    series = backends + [FASTEST_PEER]
    colors = _colors(series)
    colors[FASTEST_PEER] = "0.55"
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(kernels) + 2), 4.8))
    for j, name in enumerate(series):
        xs, ys = [], []
        for i, kernel in enumerate(kernels):
            size = largest_size(res, kernel, dtype)[0]
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
    ax.set_title(f"Achieved bandwidth (compulsory bytes / median time) at each kernel's largest "
                 f"size, {dtype}", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------------- the README

def dask_scaling_section(path) -> str:
    """The dask scaling section from a ``kernbench dask-scaling`` results file."""
    from kernbench.bench.dask_scaling import load_scaling, scaling_markdown

    return scaling_markdown(load_scaling(path), level=2)


def write_report(runs: list[dict], out: Path, sources: list[str] | None = None,
                 report_command: str = "", dask_scaling=None) -> Path:
    """Write ``out/README.md`` and its PNGs from validated results; return the README path.
    ``dask_scaling``: a ``kernbench dask-scaling`` results file whose section to add."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res = Results(runs)
    sources = sources or [f"run {i + 1}" for i in range(len(runs))]
    bw = bandwidth_of(runs[-1]) if runs else {}
    limit, limit_name = limit_gbps(bw)
    parts = ["# kernbench results", "",
             "Generated by `kernbench report` from " + ", ".join(f"`{s}`" for s in sources)
             + "; every figure below is computed from those files.", ""]
    parts += ["Reproduce:", "", "```"]
    parts += [run.get("command", "") for run in runs] + ([report_command] if report_command else [])
    parts += ["```", "",
              "Times are medians of per-call times after a warm-up (the first call, which holds "
              "numba's JIT compile or cache load, is never in them); the backends and peers of a "
              "case are sampled round-robin. Speedups `(Nx)` are numpy's median time divided by "
              f"the cell's: above 1 is faster than numpy. `~` marks a noisy median. The reference "
              "size of a kernel is its measured size closest to "
              f"{fmt_elements(REFERENCE_ELEMENTS)} elements.", ""]
    for dtype in res.dtypes():
        parts += [f"## {dtype}", "",
                  "### Loop -> vector -> compiled, at the reference size", "",
                  "The python column falls back to the largest size where python ran when it was "
                  "skipped (time budget) at the row's size; that size is written after `at`.", "",
                  speed_table(res, dtype, "reference"), "",
                  "### At the largest size measured", "", speed_table(res, dtype, "largest"), ""]
        tvs = f"time_vs_size_{dtype}.png"
        plot_time_vs_size(res, dtype, out / tvs)
        heat = f"speedup_heatmap_{dtype}.png"
        plot_heatmap(res, dtype, out / heat)
        gb = f"bandwidth_{dtype}.png"
        plot_gbps(res, dtype, bw, out / gb)
        parts += ["### Time against size", "", f"![time against size, {dtype}]({tvs})", "",
                  "### Speed relative to numpy", "",
                  "At each kernel's reference size; python, where the budget skipped it there, "
                  "at the largest size it ran (against numpy at that size, as in the table). "
                  "The geometric mean of a column is over the kernels that target ran.", "",
                  f"![speedup heatmap, {dtype}]({heat})", "",
                  "### Achieved bandwidth", "",
                  "Compulsory bytes per call (each input read once, each output written once) "
                  "over the median time, at each kernel's largest size; the percentage is of the "
                  f"best measured {limit_name} bandwidth (one or all threads). The in-place triad "
                  "(`a = a + b + s*c`) moves its bytes like an optimizer step, with no "
                  "write-allocate read; STREAM's triad (`a = b + s*c`) pays that hidden read, so "
                  "in-place kernels can pass it. Working sets that fit in the last-level cache "
                  "can pass both.", "",
                  f"![achieved bandwidth, {dtype}]({gb})", "",
                  gbps_table(res, dtype, limit), ""]
    parts += device_section(res)
    if dask_scaling:
        parts += [dask_scaling_section(dask_scaling), ""]
    parts += ["## Compile time and break-even", "",
              "Measured in two fresh processes sharing an empty temporary `NUMBA_CACHE_DIR`: the "
              "first compiles (cold), the second loads the cache. Compile time is first call "
              "minus steady call, summed over a small and a large size (serial and threaded "
              "runs). Break-even: the calls at the reference size after which the time saved "
              "per call against numpy has paid for the compile (or the cache load). Kernels that "
              "share compiled code pay for it in the first of them measured.", "",
              compile_table(res), "",
              "## Status", "", status_section(res), "",
              "## Machine", ""]
    for run, source in zip(runs, sources):
        parts += [machine_section(run, source), ""]
    readme = out / "README.md"
    readme.write_text("\n".join(parts) + "\n")
    return readme
