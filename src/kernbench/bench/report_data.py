"""The results as the report reads them, and how each figure is written in a cell.

:class:`Results` merges the cases of one or more runs and answers the questions every table
and plot asks (the sizes measured, a median, a speedup against numpy with its bootstrap
interval, the cache regime of a size); the ``fmt_*`` functions write times, ratios and
speedups the same way in every table; the machine's measured roofs (bandwidth, log/exp rates)
are read here too, since tables and plots both hold kernels against them.
"""

from __future__ import annotations

import math

import numpy as np

from kernbench.bench.results import case_key
from kernbench.bench.stats import ratio_interval
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


def speed_cell(res: Results, kernel, dtype, size, target) -> str:
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


# ---------------------------------------------------------------------------- roofs

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
