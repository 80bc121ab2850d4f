"""Benchmark classes built from the workload records (see benchmarks/kernels.py)."""

from __future__ import annotations

import hashlib
import inspect
import re
import statistics
import time

import kernbench as kb
from kernbench.bench.workloads import WORKLOADS

#: Element counts benchmarked; kernels with a 2-D layout map them to their own shapes. Two
#: decades apart, in cache and out of it on most machines (the time budget of a full
#: ``asv run``: see benchmarks/kernels.py).
SIZES = [10_000, 1_000_000]
#: The python backend's loops take about 0.5 us per element and per pass: smallest size only.
PYTHON_MAX_ELEMENTS = 10_000
DTYPES = ["float32", "float64"]
#: The size and dtype of the ratio to numpy (the ``*Relative`` tracks).
RELATIVE_SIZES = [1_000_000]
#: The one list of backends every generated class takes, in the order of the contract; a
#: backend not available here shows as n/a. dask is left to the runner
#: (``kernbench run --backends dask``): its per-call scheduling cost of tens of milliseconds
#: says nothing at these sizes and would take most of the time budget.
BACKENDS = [name for name in kb.known_backends() if name != "dask"]
#: Backends whose cold compile is benchmarked (``Compile<Kernel>.timeraw_compile_<kernel>``).
COMPILE_BACKENDS = [name for name in BACKENDS if name.startswith("numba")]


def _class_name(kernel: str) -> str:
    return "".join(part.capitalize() for part in kernel.split("_"))


def _source(obj, depth: int = 2) -> str:
    """The source of a function or class, with what a closure captured (records often share
    one factory, e.g. a builder per API function: the captured values tell them apart)."""
    try:
        text = inspect.getsource(obj)
    except (OSError, TypeError):
        text = getattr(obj, "__qualname__", repr(obj))
    for cell in getattr(obj, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(value) and depth > 0:
            text += "\n" + _source(value, depth - 1)
        else:
            text += "\n" + re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))  # no addresses
    return text


def workload_version(workload, sizes=SIZES, extra: str = "") -> str:
    """A hash of the workload's definition, for an asv benchmark's ``version``.

    It covers the record's fields (its layout, dtypes, argument roles, fixed sizes), the
    shapes the benchmarked element counts map to, and the source of its input maker and of
    the case class that makes and calls its inputs: change any of them and asv starts a new
    history for the benchmark instead of reading the change as a change of speed.
    """
    fields = {name: value for name, value in vars(workload).items() if not callable(value)}
    shapes = [workload.shape_for(n) for n in sizes]
    build = workload.build
    case_class = type(workload.make(sizes[0], workload.dtypes[0], seed=0))
    record = "\n".join([repr(sorted(fields.items(), key=lambda kv: kv[0])), repr(shapes),
                        _source(build), _source(case_class), extra])
    return hashlib.sha256(record.encode()).hexdigest()[:16]


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
        # asv runs setup before every sample (``number = 1`` below): the case is made and
        # warmed once per parameter set, and a kernel that writes its inputs gets them back
        # here, outside the timed region.
        key = (backend, size, dtype)
        if getattr(self, "_key", None) != key:
            self._key = None
            self.case, self.fn = _prepare(workload, backend, size, dtype)
            self._key = key
        elif needs_reset:
            self.case.reset()

    def time_kernel(self, backend, size, dtype):
        self.fn()

    time_kernel.version = workload_version(workload)
    attrs = {
        "__doc__": workload.summary,
        "params": [BACKENDS, SIZES, DTYPES],
        "param_names": ["backend", "size", "dtype"],
        "setup": setup,
        f"time_{workload.name}": time_kernel,
        # one call per sample, setup (and so the reset) before each one
        "number": 1,
        "repeat": (5, 20, 2.0),
        # One round in a plain `asv run`: two (asv's default) made these classes 14 of a full
        # run's 21 minutes on 2 cores. scripts/asv-continuous.sh asks for two (`-a rounds=2`),
        # interleaved base/head, for the comparisons that decide a regression.
        "rounds": 1,
        "warmup_time": 0.05,
        "timeout": 300,
    }
    return type(_class_name(workload.name), (), attrs)


def _relative_class(workload):
    def setup(self, backend, size, dtype):
        if backend == "numpy":
            raise NotImplementedError("numpy is the reference")
        self.case, self.fn = _prepare(workload, backend, size, dtype)
        self.ref_case, self.ref_fn = _prepare(workload, "numpy", size, dtype)

    def track_ratio(self, backend, size, dtype):
        mine, ref = [], []
        for _ in range(5):  # interleaved, so drift hits both alike; resets outside the timing
            mine.append(_median_call(self.case, self.fn, 3))
            ref.append(_median_call(self.ref_case, self.ref_fn, 3))
        return statistics.median(mine) / statistics.median(ref)

    track_ratio.unit = "time / numpy time"
    track_ratio.version = workload_version(workload, RELATIVE_SIZES)
    attrs = {
        "__doc__": f"{workload.summary}: time relative to the numpy backend (lower is better)",
        "params": [[b for b in BACKENDS if b != "numpy"], RELATIVE_SIZES, DTYPES],
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


#: Elements of the compile benchmark's call: the smallest benchmarked size.
COMPILE_ELEMENTS = SIZES[0]
#: Run in the fresh interpreter before the timed statement: an empty numba cache (so the
#: compile is cold, not a cache load), the imports, the inputs made and the call prepared.
_COMPILE_SETUP = """
import os, tempfile
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="kernbench-asv-cache-")
from kernbench.bench.workloads import WORKLOADS
fn = WORKLOADS[{kernel!r}].make({elements}, {dtype!r}, seed=0).call({backend!r}, warm=False)
"""


def compile_benchmark_classes() -> dict:
    """``Compile<Kernel>.timeraw_compile_<kernel>``: the first call in a fresh interpreter.

    asv's ``timeraw_`` family runs the returned statement in a new process per sample; its
    setup (imports, inputs, an empty ``NUMBA_CACHE_DIR``) is not timed, so the figure is the
    compile and the first call, which at this size is all compile.
    """
    def setup(self, backend, dtype):
        if backend not in kb.available_backends():
            raise NotImplementedError(f"backend {backend!r} is not available here")

    classes = {}
    for workload in WORKLOADS.values():
        def timeraw_compile(self, backend, dtype, _kernel=workload.name):
            return "fn()", _COMPILE_SETUP.format(kernel=_kernel, elements=COMPILE_ELEMENTS,
                                                 dtype=dtype, backend=backend)

        timeraw_compile.version = workload_version(workload, [COMPILE_ELEMENTS],
                                                   extra=_COMPILE_SETUP)
        name = "Compile" + _class_name(workload.name)
        classes[name] = type(name, (), {
            "__doc__": f"Cold compile of {workload.name} in a fresh process, empty cache",
            "params": [COMPILE_BACKENDS, list(workload.dtypes)],
            "param_names": ["backend", "dtype"],
            "setup": setup,
            f"timeraw_compile_{workload.name}": timeraw_compile,
            # A cold compile takes seconds and varies little: one sample in one round in a
            # plain `asv run` (asv's default of two rounds doubled the suite's longest part);
            # scripts/asv-continuous.sh runs two rounds (`-a rounds=2`) for its comparisons.
            "number": 1,
            "repeat": 1,
            "rounds": 1,
            "warmup_time": 0,
            "timeout": 600,
        })
    return classes
