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

Where the ``cuda`` backend runs on a real GPU, the probe also describes the device (name,
compute capability, driver, multiprocessors, memory) and measures its device-to-device copy
bandwidth (:func:`gpu_info`): bytes read plus bytes written per second, timed with CUDA
events, best of several repeats, once with the driver's copy and once with a grid-stride copy
kernel launched as the backend launches its elementwise kernels. Without a GPU (or under the
simulator) the record says why instead.
"""

from __future__ import annotations

import importlib.metadata
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


#: Elements of the arrays of the compute-roof measurements: 32K float64 (256 KB) stay in a core's
#: L2 cache, so that the loops measure arithmetic, not memory.
ROOF_ELEMENTS = 32_768
ROOF_REPEATS = 20
FMA_ROUNDS = 64  # multiply-adds per element per call
UFUNC_CALLS = 16  # ufunc calls per thread per timed repeat (a thread pool's hand-off is slow)


def _fma_kernel():
    """Multiply-add sweeps over an L1-sized block, the block loop threaded: vectorized FMAs."""
    import numba

    @numba.njit(parallel=True, fastmath={"contract"}, cache=True)
    def fma(a, s, t, rounds):
        block = 2048
        for b in numba.prange((a.size + block - 1) // block):
            lo, hi = b * block, min(a.size, (b + 1) * block)
            for _ in range(rounds):
                for i in range(lo, hi):
                    a[i] = a[i] * s + t
    return fma


def _threaded_rate(fn_per_thread, threads: int, repeats: int) -> float:
    """Best wall time of ``threads`` Python threads each calling its own function once."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda f: f(), fn_per_thread))  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(lambda f: f(), fn_per_thread))
            best = min(best, time.perf_counter() - start)
    return best


def measure_compute_roofs(threads: int, elements: int = ROOF_ELEMENTS,
                          repeats: int = ROOF_REPEATS) -> dict:
    """The arithmetic limits kernels are held against, on cache-resident arrays:

    * ``log_gps`` / ``exp_gps``: NumPy's SIMD ``np.log`` / ``np.exp`` evaluations per second
      (G/s), ``threads`` Python threads at once (NumPy's ufuncs release the GIL), per dtype;
      the roof of a kernel that takes one log or exp per element;
    * ``fma_gflops``: multiply-add GFLOP/s of a vectorized numba loop on all threads.

    Best of ``repeats``. A kernel with its own faster log (a vectorizable polynomial) can pass
    NumPy's rate: the roof is the best one measured here, not a law."""
    result = {"elements": elements, "repeats": repeats, "threads": threads,
              "statistic": "best of repeats", "log_gps": {}, "exp_gps": {}, "fma_gflops": {}}
    for dtype in ("float32", "float64"):
        arrays = [np.linspace(0.5, 2.0, elements, dtype=dtype) for _ in range(threads)]
        outs = [np.empty_like(a) for a in arrays]
        for name, ufunc in (("log_gps", np.log), ("exp_gps", np.exp)):
            calls = [lambda a=a, o=o, u=ufunc: [u(a, out=o) for _ in range(UFUNC_CALLS)]
                     for a, o in zip(arrays, outs)]
            best = _threaded_rate(calls, threads, repeats)
            result[name][dtype] = threads * elements * UFUNC_CALLS / best / 1e9
    if pr.library_available("numba"):
        import numba

        fma = _fma_kernel()
        previous = numba.get_num_threads()
        try:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            for dtype in ("float32", "float64"):
                a = np.full(elements * threads, 0.5, dtype=dtype)
                s, t = np.dtype(dtype).type(0.999), np.dtype(dtype).type(1e-4)
                best = _best_seconds(lambda a=a, s=s, t=t: fma(a, s, t, FMA_ROUNDS), repeats)
                result["fma_gflops"][dtype] = 2 * a.size * FMA_ROUNDS / best / 1e9
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


def _parse_size(text: str) -> int | None:
    """'32768K', '1024 KiB', '32 MiB', '48K' -> bytes; None when unreadable."""
    text = text.strip().split("(")[0].strip().replace("iB", "").replace("B", "").strip()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    try:
        if text and text[-1].upper() in units:
            return int(float(text[:-1].strip()) * units[text[-1].upper()])
        return int(text)
    except ValueError:
        return None


def cache_sizes(sysfs: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict:
    """L1d, L2 and L3 sizes in bytes of the caches CPU 0 sees, and the last-level one: from
    sysfs (``index*/level, type, size``), else from ``lscpu``; ``{"error": ...}`` when neither
    says. Sizes are per cache instance (an L2 per core, one L3 shared by the cores under it)."""
    found: dict = {}
    try:
        for index in sorted(sysfs.glob("index*")):
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
            if kind == "Instruction" or size is None:
                continue
            found[f"l{level}{'d' if level == 1 else ''}_bytes"] = size
        source = str(sysfs)
    except (OSError, ValueError):
        found = {}
    if not found:
        try:
            out = subprocess.run(["lscpu", "-C=NAME,ONE-SIZE", "-B"], capture_output=True,
                                 text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("L1d", "L2", "L3"):
                size = _parse_size(parts[1])
                if size:
                    found[f"{parts[0].lower()}_bytes"] = size
        source = "lscpu"
    levels = [k for k in ("l3_bytes", "l2_bytes", "l1d_bytes") if k in found]
    if not levels:
        return {"error": "neither sysfs nor lscpu reports the cache sizes"}
    return {**found, "llc_bytes": found[levels[0]], "source": source}


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


#: Bytes of each of the two arrays of the device copy measurement: far past the last-level cache
#: of any GPU (tens of MB), a small part of its memory.
GPU_COPY_BYTES = 1 << 30
GPU_COPY_REPEATS = 10


def best_copy_gbps(clock, copy, nbytes: int, repeats: int) -> float:
    """GB/s of the fastest of ``repeats`` copies of ``nbytes`` (read once, written once), by
    ``clock``, after one untimed copy (compile, first touch)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    copy()
    best = min(clock.time_calls(copy, 1) for _ in range(repeats))
    return 2 * nbytes / best / 1e9 if best > 0 else 0.0


def _copy_kernel(cuda):
    """A grid-stride copy, shaped like the backend's elementwise kernels."""

    @cuda.jit
    def copy(dst, src):
        for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
            dst[i] = src[i]

    return copy


def measure_gpu_copy(cuda, backend, nbytes: int = GPU_COPY_BYTES,
                     repeats: int = GPU_COPY_REPEATS) -> dict:
    """Device-to-device copy bandwidth, by the driver (``copy_to_device`` between device
    arrays) and by a copy kernel with the backend's launch configuration."""
    from kernbench.bench.timing import EventClock

    free = int(cuda.current_context().get_memory_info()[0])
    n = max(1, min(nbytes, free // 4) // 4)  # float32 elements; both arrays within half of free
    shape_of = np.broadcast_to(np.float32(0), (n,))  # shape and dtype only, no memory
    src = backend.zeros_like(shape_of)  # filled on the device: written before any timing
    dst = backend.zeros_like(shape_of)
    clock = EventClock(cuda.event)
    grid, block = backend.grid_for(n), backend.block
    launch = _copy_kernel(cuda)[grid, block]
    size = n * 4
    result = {"array_bytes": size, "repeats": repeats,
              "statistic": f"best of {repeats}, bytes read + bytes written per second",
              "memcpy_gbps": best_copy_gbps(clock, lambda: dst.copy_to_device(src), size,
                                            repeats),
              "kernel_gbps": best_copy_gbps(clock, lambda: launch(dst, src), size, repeats),
              "kernel_launch": {"blocks": int(grid), "threads_per_block": int(block)}}
    result["best_gbps"] = max(result["memcpy_gbps"], result["kernel_gbps"])
    return result


def _nvidia_smi(field: str) -> str | None:
    """One field of ``nvidia-smi --query-gpu`` for the first GPU, or None."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines() if out.returncode == 0 else []
    return lines[0].strip() if lines else None


def _attempt(fn, default=None):
    try:
        return fn()
    except Exception:
        return default


def describe_gpu(cuda) -> dict:
    """What the results record about the current CUDA device (``cuda`` is numba.cuda)."""
    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    total = _attempt(lambda: int(cuda.current_context().get_memory_info()[1]))
    driver_api = _attempt(lambda: cuda.cudadrv.driver.driver.get_version())
    toolkit = _attempt(lambda: cuda.runtime.get_version())
    clock_khz = _attempt(lambda: int(dev.MEMORY_CLOCK_RATE))
    bus_bits = _attempt(lambda: int(dev.GLOBAL_MEMORY_BUS_WIDTH))
    return {
        "available": True,
        "name": name,
        "compute_capability": [int(v) for v in dev.compute_capability],
        "multiprocessors": int(dev.MULTIPROCESSOR_COUNT),
        "memory_bytes": total,
        "driver_version": _nvidia_smi("driver_version"),
        "driver_cuda_version": ".".join(map(str, driver_api)) if driver_api else None,
        "toolkit_cuda_version": ".".join(map(str, toolkit)) if toolkit else None,
        # double data rate: two transfers per memory clock over the whole bus
        "nominal_bandwidth_gbps": (2 * clock_khz * 1e3 * bus_bits / 8 / 1e9
                                   if clock_khz and bus_bits else None),
    }


def gpu_info(measure: bool = True) -> dict:
    """The GPU the ``cuda`` backend runs on, with its copy bandwidth when ``measure``; or
    ``{"available": False, "reason": ...}`` where there is none."""
    import kernbench as kb

    try:
        backend = kb.get_backend("cuda")
    except kb.BackendUnavailableError as exc:
        return {"available": False, "reason": str(exc)}
    if backend.simulator:
        return {"available": False,
                "reason": "the cuda backend runs on numba's CUDA simulator "
                          "(NUMBA_ENABLE_CUDASIM=1): there is no GPU to describe"}
    from numba import cuda

    try:
        info = describe_gpu(cuda)
    except Exception as exc:
        return {"available": False,
                "reason": f"the GPU could not be described: {type(exc).__name__}: {exc}"}
    if measure:
        try:
            info["copy_bandwidth"] = measure_gpu_copy(cuda, backend)
        except Exception as exc:
            info["copy_bandwidth"] = {"error": f"{type(exc).__name__}: {exc}"}
    return info


def svml_info() -> dict:
    """Whether numba compiled ``math.log``/``math.exp`` loops to Intel SVML calls in this
    process (``used``), and what that needs: numba's switch (``NUMBA_DISABLE_INTEL_SVML``), an
    LLVM built with the SVML patch (``llvm_has_svml``; absent from numba 0.62 on) and the
    library itself (the ``intel-cmplr-lib-rt`` wheel, ``library``: its version or None)."""
    import llvmlite.binding as llvm
    import numba

    try:
        library = importlib.metadata.version("intel-cmplr-lib-rt")
    except importlib.metadata.PackageNotFoundError:
        library = None
    has_svml = getattr(llvm.targets, "has_svml", None)
    return {"used": bool(numba.config.USING_SVML),
            "disabled": bool(numba.config.DISABLE_INTEL_SVML),
            "llvm_has_svml": bool(has_svml()) if has_svml else None,
            "library": library}


def machine_info(threads: int, measure: bool = True) -> dict:
    """Everything the results file records about the machine; bandwidth only when ``measure``."""
    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads": threads,
        "caches": cache_sizes(),
        "versions": versions(),
        "git": _git_commit(),
        "python_executable": sys.executable,
    }
    if pr.library_available("numba"):
        import numba

        info["numba_threads"] = threads
        info["numba_max_threads"] = numba.config.NUMBA_NUM_THREADS
        info["numba_svml"] = svml_info()
        from kernbench.backends.numba_backend import runtime_name  # tuned or plain
        info["numba_runtime"] = runtime_name()
    if pr.library_available("torch"):
        info["torch_threads"] = pr.torch().get_num_threads()
    if measure and pr.library_available("numba"):
        info["bandwidth"] = measure_bandwidth(threads)
        info["numba_threading_layer"] = info["bandwidth"]["threading_layer"]
    if measure:
        info["compute_roofs"] = measure_compute_roofs(threads)
    info["gpu"] = gpu_info(measure)
    return info
