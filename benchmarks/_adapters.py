"""Benchmark classes built from the workload records (see benchmarks/kernels.py)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import kernbench as kb
from kernbench.bench.workloads import WORKLOADS

#: Element counts benchmarked; kernels with a 2-D layout map them to their own shapes.
SIZES = [1_000, 100_000, 10_000_000]
#: The python backend's loops take about 0.5 us per element and per pass: smallest size only.
PYTHON_MAX_ELEMENTS = 1_000
DTYPES = ["float32", "float64"]
#: Backends in the order of the contract; a backend not available here shows as n/a. dask is
#: left to the runner (``kernbench run --backends dask``): its per-call scheduling cost of
#: tens of milliseconds says nothing at these sizes and would take most of the time budget.
BACKENDS = [name for name in kb.known_backends() if name != "dask"]


def _class_name(kernel: str) -> str:
    return "".join(part.capitalize() for part in kernel.split("_"))


def _prepare(workload, backend: str, size: int, dtype: str):
    """The case and its warmed callable, or NotImplementedError when it cannot run here."""
    if dtype not in workload.dtypes:
        raise NotImplementedError(f"{workload.name} has no {dtype} variant")
    if backend == "python" and size > PYTHON_MAX_ELEMENTS:
        raise NotImplementedError("python backend: smallest size only (time budget)")
    if backend not in kb.available_backends():
        raise NotImplementedError(f"backend {backend!r} is not available here")
    if workload.layout == "model" and size != SIZES[-1]:
        raise NotImplementedError("the model-shaped workload has one size")
    case = workload.make(size, dtype, seed=0)
    return case, case.call(backend)


def _median_call(case, fn, calls: int) -> float:
    samples = []
    for _ in range(calls):
        case.reset()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _time_class(workload):
    needs_reset = workload.reset_between_repeats

    def setup(self, backend, size, dtype):
        self.case, self.fn = _prepare(workload, backend, size, dtype)

    def time_kernel(self, backend, size, dtype):
        if needs_reset:
            self.case.reset()
        self.fn()

    attrs = {
        "__doc__": workload.summary,
        "params": [BACKENDS, SIZES, DTYPES],
        "param_names": ["backend", "size", "dtype"],
        "setup": setup,
        f"time_{workload.name}": time_kernel,
        "timeout": 300,
    }
    if needs_reset:
        attrs["number"] = 1  # the inputs are restored before every call
    return type(_class_name(workload.name), (), attrs)


def _relative_class(workload):
    def setup(self, backend, size, dtype):
        if backend == "numpy":
            raise NotImplementedError("numpy is the reference")
        self.case, self.fn = _prepare(workload, backend, size, dtype)
        self.ref_case, self.ref_fn = _prepare(workload, "numpy", size, dtype)

    def track_ratio(self, backend, size, dtype):
        mine, ref = [], []
        for _ in range(5):  # interleaved, so drift hits both alike
            mine.append(_median_call(self.case, self.fn, 3))
            ref.append(_median_call(self.ref_case, self.ref_fn, 3))
        return statistics.median(mine) / statistics.median(ref)

    track_ratio.unit = "time / numpy time"
    attrs = {
        "__doc__": f"{workload.summary}: time relative to the numpy backend (lower is better)",
        "params": [[b for b in BACKENDS if b != "numpy"], SIZES, DTYPES],
        "param_names": ["backend", "size", "dtype"],
        "setup": setup,
        f"track_{workload.name}_vs_numpy": track_ratio,
        "timeout": 300,
    }
    return type(_class_name(workload.name) + "Relative", (), attrs)


def kernel_benchmark_classes() -> dict:
    classes = {}
    for workload in WORKLOADS.values():
        for cls in (_time_class(workload), _relative_class(workload)):
            classes[cls.__name__] = cls
    return classes


#: The CPU backends that compile on first use: both numba tiers have a compile family.
COMPILED_BACKENDS = ["numba-plain", "numba"]


def _cold_compile(backend: str, kernel: str, dtype: str) -> None:
    """One fresh process, empty numba cache: compile the kernel at a small and a large size."""
    with tempfile.TemporaryDirectory(prefix="kernbench-asv-cache-") as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        subprocess.run([sys.executable, "-m", "kernbench.bench.compile_probe", "--backend",
                        backend, "--kernels", kernel, "--dtypes", dtype],
                       env=env, check=True, capture_output=True)


def compile_benchmark_classes() -> dict:
    """``Compile<Kernel>.time_compile_<kernel>``, one class per kernel over the compiled
    backends and the kernel's dtypes."""
    def setup(self, backend, dtype):
        if backend not in kb.available_backends():
            raise NotImplementedError(f"backend {backend!r} is not available here")

    classes = {}
    for workload in WORKLOADS.values():
        def time_compile(self, backend, dtype, _kernel=workload.name):
            _cold_compile(backend, _kernel, dtype)

        name = "Compile" + _class_name(workload.name)
        classes[name] = type(name, (), {
            "__doc__": f"Cold compile of {workload.name} on each numba tier, fresh process",
            "params": [COMPILED_BACKENDS, list(workload.dtypes)],
            "param_names": ["backend", "dtype"],
            "setup": setup,
            f"time_compile_{workload.name}": time_compile,
            "number": 1,
            "repeat": 1,
            "warmup_time": 0,
            "timeout": 600,
        })
    return classes
