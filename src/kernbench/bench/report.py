"""``kernbench report``: README.md with tables and PNG plots, everything computed from results.

Sections: the loop -> vector -> compiled table at a reference size; the same at the largest
size; time against size (log-log); a heatmap of speed relative to numpy with a geometric-mean
row; achieved GB/s against the measured triad bandwidth; compile times and break-even call
counts; what did not run and why; the machine. No figure is typed in: each comes from the
results files given.

This module writes the document and its tables; :mod:`kernbench.bench.report_data` reads the
results, :mod:`kernbench.bench.report_plots` draws the figures and
:mod:`kernbench.bench.report_headline` makes the headline table and figure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from kernbench.bench import markdown
from kernbench.bench.report_data import (
    REFERENCE_BACKEND,
    UNRESOLVED_SPREAD,
    Results,
    bandwidth_of,
    compute_roofs,
    dram_size,
    extra_sizes,
    fallback_size,
    fits_llc,
    fmt_bytes,
    fmt_elements,
    fmt_ratio,
    fmt_speedup,
    fmt_time,
    kernel_roof,
    largest_size,
    limit_gbps,
    reference_size,
    regime_label,
    speed_cell,
)
from kernbench.bench.report_headline import headline_table, plot_headline
from kernbench.bench.report_plots import plot_gbps, plot_heatmap, plot_roofline, plot_time_vs_size
from kernbench.bench.stats import CONFIDENCE, ratio_interval
from kernbench.bench.workloads import REFERENCE_ELEMENTS

# ---------------------------------------------------------------------------- tables

def speed_table(res: Results, dtype: str, which: str) -> str:
    """Loop -> vector -> compiled: per kernel, every backend with its speedup vs numpy, peers
    beside. ``which`` is "reference" or "largest". The python column shows the largest size
    where python ran when it did not run at the row's size (the size is written in the cell)."""
    backends = res.targets("backend")
    header = ["kernel", "size", "working set"] + backends + ["peers"]
    rows = []
    for kernel in res.kernels():
        if which == "reference":
            ref = reference_size(res, kernel, dtype)
            sizes = [ref] + [s for s in extra_sizes(res, kernel, dtype) if s != ref] if ref else []
        else:
            sizes = [s for s in [largest_size(res, kernel, dtype)] if s]
        for size in sizes:
            row = [kernel, size[0], regime_label(res, kernel, dtype, size)]
            for b in backends:
                shown = fallback_size(res, kernel, dtype, size, b)
                if shown and shown != size:
                    row.append(f"{speed_cell(res, kernel, dtype, shown, b)} at {shown[0]}")
                else:
                    row.append(speed_cell(res, kernel, dtype, size, b))
            peers = [f"{p} {speed_cell(res, kernel, dtype, size, p)}" for p in res.peers_of(kernel)
                     if res.get(kernel, dtype, size[0], p)]
            row.append("<br>".join(peers) or "-")
            rows.append(row)
    return markdown.table(header, rows)


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
        size = dram_size(res, kernel, dtype)
        if not size:
            continue
        row = [kernel, size[0]] + [cell(kernel, size, b) or "-" for b in backends]
        peers = [f"{p} {cell(kernel, size, p)}" for p in res.peers_of(kernel)
                 if cell(kernel, size, p)]
        rows.append(row + ["<br>".join(peers) or "-"])
    return markdown.table(["kernel", "size"] + backends + ["peers"], rows)


def cold_table(res: Results, dtype: str) -> str | None:
    """Memory-bound cases sampled with flushed caches: warm and cold medians side by side, and
    each regime's speedup against numpy in the same regime (None when there are none)."""
    rows = []
    for kernel in res.kernels():
        for size in res.sizes(kernel, dtype):
            ref = res.get(kernel, dtype, size[0], REFERENCE_BACKEND)
            ref_cold = (ref or {}).get("cold")
            for target in res.targets():
                c = res.get(kernel, dtype, size[0], target)
                if not c or c["status"] != "ok" or not c.get("cold"):
                    continue
                cold = c["cold"]
                if target == REFERENCE_BACKEND or not ref_cold:
                    warm_x = cold_x = "-"
                else:
                    warm_x = fmt_speedup(res.speedup(kernel, dtype, size[0], target))
                    cold_x = fmt_speedup(ratio_interval(ref_cold["samples_s"],
                                                        cold["samples_s"], paired=True))
                rows.append([kernel, size[0], regime_label(res, kernel, dtype, size), target,
                             fmt_time(c["median_s"]), fmt_time(cold["median_s"]),
                             fmt_ratio(cold["median_s"] / c["median_s"]), warm_x, cold_x])
    if not rows:
        return None
    return markdown.table(["kernel", "size", "working set", "target", "warm", "cold", "cold / warm",
                   "vs numpy, warm", "vs numpy, cold"], rows)


def roof_table(res: Results, dtype: str, bw_gbps: float | None, roofs: dict) -> str:
    """Each kernel at its largest size against its roof: the share of the roof each backend
    and the fastest peer reach (elements per second over the roof's)."""
    backends = [b for b in res.targets("backend") if b != "python"]
    rows = []
    for kernel in res.kernels():
        size = largest_size(res, kernel, dtype)
        if not size:
            continue
        in_cache = fits_llc(res, res.get(kernel, dtype, size[0], REFERENCE_BACKEND))
        roof, what = kernel_roof(kernel, dtype, bw_gbps, roofs, in_cache)

        def share(target, kernel=kernel, size=size, roof=roof):
            t = res.median(kernel, dtype, size[0], target)
            return f"{100 * size[1] / t / roof:.0f}%" if t and roof else None

        peers = [(p, share(p)) for p in res.peers_of(kernel) if share(p)]
        best_peer = max(peers, key=lambda x: float(x[1][:-1]), default=None)
        rows.append([kernel, size[0], regime_label(res, kernel, dtype, size), what,
                     f"{roof / 1e9:.3g}" if roof else "-"]
                    + [share(b) or "-" for b in backends]
                    + [f"{best_peer[0]} {best_peer[1]}" if best_peer else "-"])
    return markdown.table(["kernel", "size", "working set", "limit", "roof (G elements/s)"]
                  + [f"{b} (% of roof)" for b in backends] + ["best peer"], rows)


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
    return markdown.table(header, rows) + "".join(f"\n\n{n}." for n in notes)


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
                 markdown.cell(c.get("reason") or "")] for c in others]
        lines += ["", "<details><summary>Cases that did not run, and why</summary>", "",
                  markdown.table(["kernel", "dtype", "size", "target", "status", "reason"], rows),
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
    caches = m.get("caches") or {}
    if "llc_bytes" in caches:
        lines.append("- caches: " + ", ".join(
            f"{name[:-6].upper()} {fmt_bytes(caches[name])}"
            for name in ("l1d_bytes", "l2_bytes", "l3_bytes") if name in caches)
            + f" (last level {fmt_bytes(caches['llc_bytes'])}; from {caches.get('source')})")
    roofs = m.get("compute_roofs") or {}
    if roofs:
        per = ", ".join(f"{label} {dtype} {roofs[key][dtype]:.3g} {unit}"
                        for key, label, unit in (("log_gps", "log", "G/s"),
                                                 ("exp_gps", "exp", "G/s"),
                                                 ("fma_gflops", "multiply-add", "GFLOP/s"))
                        for dtype in sorted(roofs.get(key) or {}))
        lines.append(f"- compute roofs on {roofs.get('threads')} thread(s), cache-resident "
                     f"arrays ({roofs.get('statistic')}): {per}")
    for process, settings in (m.get("contestant_settings") or {}).items():
        shown = {k: v for k, v in settings.items() if k != "pid"}
        lines.append(f"- contestants timed in the {process} process: {shown}")
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
    return text + [markdown.table(header, rows), ""]


# ---------------------------------------------------------------------------- the README

def dask_scaling_section(path) -> str:
    """The dask scaling section from a ``kernbench dask-scaling`` results file."""
    from kernbench.bench.dask_scaling_report import load_scaling, scaling_markdown

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
    roofs = compute_roofs(runs[-1]) if runs else {}
    parts = ["# kernbench results", "",
             "Generated by `kernbench report` from " + ", ".join(f"`{s}`" for s in sources)
             + "; every figure below is computed from those files.", ""]
    parts += ["Reproduce:", "", "```"]
    parts += [run.get("command", "") for run in runs] + ([report_command] if report_command else [])
    parts += ["```", "",
              "Times are medians of per-call times after a warm-up (the first call, which holds "
              "numba's JIT compile or cache load, is never in them); the backends and peers of a "
              "case are sampled round-robin. Speedups `(Nx [low-high])` are numpy's median time "
              "divided by the cell's (above 1 is faster than numpy) with a "
              f"{CONFIDENCE:.0%} bootstrap interval from the raw samples of both (resampled in "
              "pairs by round: a slow round slows both); `?` marks an unresolved speedup (no "
              f"interval, or one whose ends are more than {UNRESOLVED_SPREAD:g}x apart) and `~` a "
              "noisy median (IQR over median above the run's noise threshold). No sample is "
              "dropped as an outlier: medians, quartiles and the bootstrap of medians keep a "
              "few interrupted samples from moving a figure. The reference size of a kernel is "
              f"its measured size closest to {fmt_elements(REFERENCE_ELEMENTS)} elements.", "",
              "Cache regime: every time, table and plot below is **warm** (repeated calls on "
              "the same arrays) unless it says **cold**. `working set` is the bytes of the "
              "distinct arrays one call touches, against the last-level cache "
              f"({fmt_bytes(res.llc_bytes()) if res.llc_bytes() else 'size not recorded'}): "
              "`in LLC` rows run from the cache when called repeatedly, `DRAM` rows from "
              "memory. Memory-bound kernels whose working set fits were also timed cold "
              "(caches flushed before each call, outside the timed region); see *Cold caches*.",
              ""]
    headline = headline_table(res)
    has_headline_figure = plot_headline(res, out / "headline_speedup.png")
    (out / "headline.md").write_text(headline + "\n")
    parts += ["## Headline", "",
              "The table the project README quotes (also written alone to `headline.md`): "
              "warm times per call, `(Nx [low-high])` the speedup against numpy with its 95% "
              "interval, `~` a noisy median, `?` an unresolved speedup.", "", headline, ""]
    if has_headline_figure:
        parts += ["![speedup against numpy by size](headline_speedup.png)", ""]
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
        has_dram = any(dram_size(res, k, dtype) for k in res.kernels())
        if has_dram:
            plot_gbps(res, dtype, bw, out / gb)
        roofline = f"roofline_{dtype}.png"
        has_roofline = plot_roofline(res, dtype, limit, roofs, out / roofline)
        cold = cold_table(res, dtype)
        parts += ["### Time against size", "", f"![time against size, {dtype}]({tvs})", "",
                  "### Speed relative to numpy", "",
                  "At each kernel's reference size; python, where the budget skipped it there, "
                  "at the largest size it ran (against numpy at that size, as in the table). "
                  "The geometric mean of a column is over the kernels that target ran.", "",
                  f"![speedup heatmap, {dtype}]({heat})", "",
                  "### Achieved bandwidth (DRAM-resident cases)", "",
                  "Compulsory bytes per call (each input read once, each output written once) "
                  "over the median time, at each kernel's largest size whose working set is "
                  "past the last-level cache (a kernel with none is left out: a cached working "
                  "set is not held against DRAM bandwidth); the percentage is of the "
                  f"best measured {limit_name} bandwidth (one or all threads). The in-place triad "
                  "(`a = a + b + s*c`) moves its bytes like an optimizer step, with no "
                  "write-allocate read; STREAM's triad (`a = b + s*c`) pays that hidden read, so "
                  "in-place kernels can pass it.", "",
                  f"![achieved bandwidth, {dtype}]({gb})" if has_dram else
                  "_No case of these results has a working set past the last-level cache._", "",
                  gbps_table(res, dtype, limit) if has_dram else "", ""]
        parts += ["### Against each kernel's roof", "",
                  "Each kernel at its largest size (warm) against the lower of its roofs: the "
                  "measured DRAM bandwidth over its compulsory bytes per element (DRAM-resident "
                  "cases only) and, for kernels that take a log or an exp per element, the best "
                  "measured rate of NumPy's SIMD log/exp on cache-resident arrays on all "
                  "threads over their evaluations per element. A kernel with its own "
                  "vectorized log can pass the second.", "",
                  roof_table(res, dtype, limit, roofs), ""]
        if has_roofline:
            parts += [f"![roofline, {dtype}]({roofline})", ""]
        if cold:
            parts += ["### Cold caches", "",
                      "Memory-bound kernels whose working set fits in the last-level cache, "
                      "timed warm (repeated calls: the arrays stay cached) and cold (one call "
                      "per sample, a buffer twice the last-level cache written before it, "
                      "outside the timed region: the arrays come from DRAM, as when other work "
                      "runs between calls). Speedups are against numpy in the same regime.", "",
                      cold, ""]
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
