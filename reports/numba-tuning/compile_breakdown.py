"""Where a cold compile of the whole numba backend goes: seconds per compiled function, from
numba's compile events, with the share of the parallel (``prange``) copies.

Every kernel is called as the runner's compile probe calls it (1e3 and 1e6 elements, float32
and float64), in this process, with an empty temporary ``NUMBA_CACHE_DIR`` set before numba
is imported. A function's own time excludes the compiles of what it calls.

Run: python reports/numba-tuning/compile_breakdown.py
"""

import os
import sys
import tempfile
import time


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kernbench-compile-") as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache
        from numba.core import event

        from kernbench.bench.compile_probe import _measure_here
        from kernbench.bench.workloads import WORKLOADS

        stack, own = [], {}

        class Listener(event.Listener):
            def on_start(self, ev):
                name = ev.data["dispatcher"].py_func.__qualname__
                stack.append([name, time.perf_counter(), 0.0])

            def on_end(self, ev):
                name, start, children = stack.pop()
                spent = time.perf_counter() - start
                own[name] = own.get(name, 0.0) + spent - children
                if stack:
                    stack[-1][2] += spent

        event.register("numba:compile", Listener())
        start = time.perf_counter()
        _measure_here("numba", list(WORKLOADS), ["float32", "float64"], [1_000, 1_000_000])
        wall = time.perf_counter() - start
    total = sum(own.values())
    parallel = sum(t for name, t in own.items() if name.endswith("_parallel"))
    print(f"compiling: {total:.1f} s of {wall:.1f} s; parallel copies {parallel:.1f} s "
          f"({100 * parallel / total:.0f}%) in "
          f"{sum(1 for n in own if n.endswith('_parallel'))} functions, "
          f"the rest in {sum(1 for n in own if not n.endswith('_parallel'))}")
    for name, t in sorted(own.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{t:6.2f} s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
