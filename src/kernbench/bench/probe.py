"""The machine a run was measured on: memory bandwidth, CPU, threads and versions.

Bandwidth is measured STREAM-style with numba ``prange`` loops over arrays much larger than
the last-level cache: copy ``a[i] = b[i]`` counts 2 arrays of bytes, triad
``a[i] = b[i] + s*c[i]`` counts 3 (write-allocate traffic is not counted, as in STREAM). Best of
several repeats, once on one thread and once on all threads.

STREAM's counts leave out the read of the written array that the cache does first
(write-allocate), so a kernel that updates its arrays in place (every optimizer step) can move
more counted bytes per second than the triad. The in-place triad ``a[i] = a[i] + b[i] + s*c[i]``
(4 arrays: 3 read, 1 written back, no write-allocate) measures that pattern: it is the line the
report holds kernels against, with the STREAM triad beside it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from kernbench.bench import peers as pr

#: float64 elements per array: 3 x 128 MB, far past any cache on the machines we run on.
BANDWIDTH_ELEMENTS = 16_000_000
BANDWIDTH_REPEATS = 20  # best of many: on a shared 2-core machine a free moment is rare


def _stream_kernels():
    """The numba copy and triad loops, compiled on first use (cached on disk)."""
    import numba

    @numba.njit(parallel=True, cache=True)
    def copy(a, b):
        for i in numba.prange(a.size):
            a[i] = b[i]

    @numba.njit(parallel=True, cache=True)
    def triad(a, b, c, s):
        for i in numba.prange(a.size):
            a[i] = b[i] + s * c[i]

    @numba.njit(parallel=True, cache=True)
    def inplace_triad(a, b, c, s):
        for i in numba.prange(a.size):
            a[i] = a[i] + b[i] + s * c[i]

    return copy, triad, inplace_triad


def _best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: compile or cache load, page faults on first touch
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_bandwidth(threads: int, elements: int = BANDWIDTH_ELEMENTS,
                      repeats: int = BANDWIDTH_REPEATS) -> dict:
    """Copy, triad and in-place triad GB/s on one thread and on ``threads`` threads."""
    import numba

    copy, triad, inplace_triad = _stream_kernels()
    a = np.zeros(elements)
    b = np.ones(elements)
    c = np.full(elements, 2.0)
    nbytes = a.nbytes
    previous = numba.get_num_threads()
    result = {"elements": elements, "array_bytes": nbytes, "repeats": repeats,
              "statistic": "best of repeats"}
    try:
        for label, n in (("one_thread", 1), ("all_threads", threads)):
            numba.set_num_threads(n)
            t_copy = _best_seconds(lambda: copy(a, b), repeats)
            t_triad = _best_seconds(lambda: triad(a, b, c, 3.0), repeats)
            # tiny scale so that repeated in-place updates stay far from overflow
            t_inplace = _best_seconds(lambda: inplace_triad(a, b, c, 1e-9), repeats)
            result[label] = {"threads": n, "copy_gbps": 2 * nbytes / t_copy / 1e9,
                             "triad_gbps": 3 * nbytes / t_triad / 1e9,
                             "inplace_triad_gbps": 4 * nbytes / t_inplace / 1e9}
        result["threading_layer"] = numba.threading_layer()
    finally:
        numba.set_num_threads(previous)
    return result


def best_bandwidth(measurements: list[dict]) -> dict:
    """The best figure of each kind over several measurements (taken before and after a run:
    on a shared machine the other vCPU is busy part of the time), the raw ones kept."""
    best = dict(measurements[0])
    for label in ("one_thread", "all_threads"):
        entries = [m[label] for m in measurements if label in m]
        if entries:
            best[label] = {key: (max(e.get(key, 0.0) for e in entries) if key != "threads"
                                 else entries[0][key]) for key in entries[0]}
    best["statistic"] = f"best of {len(measurements)} measurements x {best['repeats']} repeats"
    best["measurements"] = measurements
    return best


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> dict:
    """The commit of the checkout kernbench runs from, and whether it has local changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=here, capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def versions() -> dict:
    import kernbench

    found = {"python": platform.python_version(), "kernbench": kernbench.__version__}
    for library in ("numpy", "numba", "llvmlite", "scipy", "torch", "matplotlib"):
        found[library] = pr.library_version(library)
    return found


def machine_info(threads: int, measure: bool = True) -> dict:
    """Everything the results file records about the machine; bandwidth only when ``measure``."""
    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads": threads,
        "versions": versions(),
        "git": _git_commit(),
        "python_executable": sys.executable,
    }
    if pr.library_available("numba"):
        import numba

        info["numba_threads"] = threads
        info["numba_max_threads"] = numba.config.NUMBA_NUM_THREADS
    if pr.library_available("torch"):
        info["torch_threads"] = pr.torch().get_num_threads()
    if measure and pr.library_available("numba"):
        info["bandwidth"] = measure_bandwidth(threads)
        info["numba_threading_layer"] = info["bandwidth"]["threading_layer"]
    return info
