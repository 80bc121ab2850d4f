"""The fixed costs behind the numba backend's cold compile, and the per-call price of dropping
its serial builds.

1. Compile time of a trivial driver, serial and with one ``prange`` loop, whose task is already
   compiled: what every kernel's driver pays before any real work (an empty temporary
   ``NUMBA_CACHE_DIR``, set before numba is imported).
2. One call of the entropy row kernel at 1e3 elements: the serial build against the parallel
   build run on one thread (``numba.set_num_threads(1)``), medians over many calls, both warm.

Run: python reports/numba-tuning/compile_floor.py
"""

import os
import statistics
import sys
import tempfile
import time


def _compile_costs() -> dict:
    import numpy as np
    from numba import njit, prange

    @njit
    def task(x, t, part):
        part[t] = x[t] * 2.0

    def driver(x, part):
        for t in prange(x.size):
            task(x, np.int64(t), part)

    x, part = np.ones(8), np.empty(8)
    task(x, 0, part)
    costs = {}
    for name, build in (("serial driver", njit(driver)),
                        ("prange driver", njit(parallel=True)(driver))):
        start = time.perf_counter()
        build(x, part)
        costs[name] = time.perf_counter() - start
    return costs


def _call_costs(repeats: int = 2000) -> dict:
    import numba
    import numpy as np

    from kernbench.backends import _numba_kernels as K

    x = np.random.default_rng(0).random((1, 1000))
    values, status = np.empty(1), np.empty(1, dtype=np.int64)
    ch = x.shape[1]

    def serial():
        K.entropy_rows_serial(x, values, status, 1, ch)

    def parallel():
        K.entropy_rows_parallel(x, values, status, 1, ch)

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        samples = {"serial build": [], "parallel build, 1 thread": []}
        for fn in (serial, parallel):
            fn()
        for _ in range(15):
            for name, fn in (("serial build", serial), ("parallel build, 1 thread", parallel)):
                start = time.perf_counter()
                for _ in range(repeats):
                    fn()
                samples[name].append((time.perf_counter() - start) / repeats)
    finally:
        numba.set_num_threads(before)
    return {name: statistics.median(v) for name, v in samples.items()}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kernbench-floor-") as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache
        for name, seconds in _compile_costs().items():
            print(f"compile, {name:26s} {seconds:6.3f} s")
        for name, seconds in _call_costs().items():
            print(f"entropy of 1e3, {name:26s} {seconds * 1e6:6.2f} us per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
