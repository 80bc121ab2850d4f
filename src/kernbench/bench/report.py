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
from kernbench.bench.stats import CONFIDENCE, ratio_interval
from kernbench.bench.workloads import REFERENCE_ELEMENTS, WORKLOADS

REFERENCE_BACKEND = "numpy"
BACKEND_ORDER = ("python", "numpy", "numba-plain", "numba", "cuda", "dask")
#: A speedup is unresolved when its interval's high end is more than this factor above its
#: low end (the samples cannot place it within about +-20%), or when it has no interval.
UNRESOLVED_SPREAD = 1.5


# ---------------------------------------------------------------------------- data access

class Results:
    """The cases of one or more runs, merged (a later run's case replaces an earlier one's)."""

    def __init__(self, runs: list[dict]):
        self.runs = runs
        merged: dict = {}
        self.run_of: dict = {}
        for i, run in enumerate(runs):
            for case in run["cases"]:
                merged[case_key(case)] = case
                self.run_of[case_key(case)] = i
        self.cases = list(merged.values())
        self.by_key = merged
        self._speedups: dict = {}
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

    def speedup(self, kernel, dtype, size_label, target) -> tuple[float, float, float] | None:
        """(speedup, low, high) against numpy at one size: numpy's median over the target's,
        with a bootstrap interval from both sets of samples, paired by round where both
        come from one run (sampled round-robin there); None where either did not run."""
        key = (kernel, dtype, size_label, target)
        if key not in self._speedups:
            ref_key = (kernel, dtype, size_label, REFERENCE_BACKEND)
            c, ref = self.by_key.get(key), self.by_key.get(ref_key)
            if not c or not ref or c["status"] != "ok" or ref["status"] != "ok":
                self._speedups[key] = None
            else:
                paired = self.run_of[key] == self.run_of[ref_key]
                self._speedups[key] = ratio_interval(ref["samples_s"], c["samples_s"],
                                                     paired=paired)
        return self._speedups[key]

    def llc_bytes(self) -> int | None:
        """The last-level cache of the (last) run's machine, or None when not recorded."""
        for run in reversed(self.runs):
            llc = (run.get("machine", {}).get("caches") or {}).get("llc_bytes")
            if llc:
                return llc
        return None

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


def fits_llc(res: Results, case: dict) -> bool | None:
    """Whether a case's working set fits in the last-level cache: as recorded (v3), else from
    the workload's footprint and the machine's caches when known, else None."""
    if case.get("fits_llc") is not None:
        return case["fits_llc"]
    llc = res.llc_bytes()
    wl = WORKLOADS.get(case["kernel"])
    if not llc or wl is None:
        return None
    return wl.working_set_bytes(tuple(case["shape"]), case["dtype"]) <= llc


def dram_size(res: Results, kernel: str, dtype: str) -> tuple[str, int] | None:
    """The largest size at which numpy ran with a working set past the last-level cache (the
    DRAM-resident regime); the largest size when the cache is unknown; None when every
    measured size fits in the cache."""
    for size in reversed(res.ok_sizes(kernel, dtype, REFERENCE_BACKEND)):
        if fits_llc(res, res.get(kernel, dtype, size[0], REFERENCE_BACKEND)) is not True:
            return size
    return None


def regime_label(res: Results, kernel: str, dtype: str, size: tuple[str, int]) -> str:
    """'16 MB, in LLC' / '160 MB, DRAM': the working set of a row and where it lives."""
    case = res.get(kernel, dtype, size[0], REFERENCE_BACKEND)
    wl = WORKLOADS.get(kernel)
    if case is None or wl is None:
        return "-"
    nbytes = case.get("working_set_bytes") or wl.working_set_bytes(tuple(case["shape"]), dtype)
    where = {True: "in LLC", False: "DRAM", None: "cache unknown"}[fits_llc(res, case)]
    return f"{fmt_bytes(nbytes)}, {where}"


def fmt_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


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


def unresolved(interval: tuple[float, float, float] | None) -> bool:
    """Whether a speedup's interval is missing or too wide to state it (UNRESOLVED_SPREAD)."""
    if interval is None:
        return True
    _, low, high = interval
    return not (math.isfinite(low) and math.isfinite(high) and low > 0
                and high / low <= UNRESOLVED_SPREAD)


def fmt_speedup(interval: tuple[float, float, float] | None) -> str:
    """'5.6x [5.2-6.0]'; '?' after the estimate when the interval is unresolved."""
    if interval is None:
        return "-"
    estimate, low, high = interval
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{fmt_ratio(estimate)} ?"
    text = f"{fmt_ratio(estimate)} [{fmt_ratio(low)[:-1]}-{fmt_ratio(high)}]"
    return text + (" ?" if unresolved(interval) else "")


def _cell(res: Results, kernel, dtype, size, target) -> str:
    """'time (speedup vs numpy [95% interval])', '~' marking a noisy median and '?' an
    unresolved speedup; the status when not ok."""
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
    return f"{noisy}{fmt_time(t)} ({fmt_speedup(res.speedup(kernel, dtype, size[0], target))})"


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
        size = dram_size(res, kernel, dtype)
        if not size:
            continue
        row = [kernel, size[0]] + [cell(kernel, size, b) or "-" for b in backends]
        peers = [f"{p} {cell(kernel, size, p)}" for p in res.peers_of(kernel)
                 if cell(kernel, size, p)]
        rows.append(row + ["<br>".join(peers) or "-"])
    return _table(["kernel", "size"] + backends + ["peers"], rows)


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
    return _table(["kernel", "size", "working set", "target", "warm", "cold", "cold / warm",
                   "vs numpy, warm", "vs numpy, cold"], rows)


def compute_roofs(run: dict) -> dict:
    return run.get("machine", {}).get("compute_roofs") or {}


def kernel_roof(kernel: str, dtype: str, bw_gbps: float | None, roofs: dict,
                in_cache: bool | None) -> tuple[float | None, str]:
    """(elements per second, what limits it) for one kernel: the DRAM bandwidth over its
    compulsory bytes per element (for a DRAM-resident case) and, for a kernel with logs or
    exps, the best measured log/exp rate over its evaluations per element; the lower wins."""
    wl = WORKLOADS.get(kernel)
    if wl is None:
        return None, "-"
    options = []
    itemsize = wl.fixed_itemsize or np.dtype(dtype).itemsize
    if bw_gbps and in_cache is not True:
        options.append((bw_gbps * 1e9 / (wl.bytes_per_element * itemsize), "DRAM bandwidth"))
    if wl.transcendentals_per_element:
        rates = [roofs.get(k, {}).get(dtype) for k in ("log_gps", "exp_gps")]
        rates = [r for r in rates if r]
        if rates:
            options.append((max(rates) * 1e9 / wl.transcendentals_per_element,
                            "log/exp rate"))
    if not options:
        return None, "in LLC: no roof measured" if in_cache else "-"
    return min(options)


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
    return _table(["kernel", "size", "working set", "limit", "roof (G elements/s)"]
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
    return text + [_table(header, rows), ""]


# ---------------------------------------------------------------------------- plots

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


# ---------------------------------------------------------------------------- the headline

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
    return f"{best['target']} {_cell(res, kernel, dtype, (size, best['elements']), best['target'])}"


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
                row.append(_cell(res, kernel, dtype, size, b))
        row.append(_best_peer(res, kernel, dtype, size[0]))
        rows.append(row)
    return _table(["case (working set)"] + backends + ["best peer"], rows)


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
