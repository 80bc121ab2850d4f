"""Where a cold compile of the whole numba backend goes: seconds per compiled kernel (numba's
compile events), and the share spent in LLVM (optimization passes, machine code) against
numba's own Python pipeline (typing, lowering).

Every kernel is called as the runner's compile probe calls it (1e3 and 1e6 elements, float32
and float64), in this process, with an empty temporary ``NUMBA_CACHE_DIR`` set before numba
is imported. A kernel's own time excludes the compiles of other dispatchers it calls; the
tasks and helpers it links (``_linked``) are compiled inside it and counted in it.

Run: python reports/numba-tuning/compile_breakdown.py
"""

import collections
import os
import sys
import tempfile
import time


def _timed(cls, name, key, totals):
    original = getattr(cls, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    setattr(cls, name, wrapper)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kernbench-compile-") as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache
        from llvmlite.binding import executionengine, newpassmanagers

        llvm_s = collections.Counter()  # patched before numba holds on to any of them
        _timed(newpassmanagers.ModulePassManager, "run", "optimization passes", llvm_s)
        _timed(newpassmanagers.FunctionPassManager, "run", "optimization passes", llvm_s)
        _timed(executionengine.ExecutionEngine, "finalize_object", "machine code", llvm_s)

        from numba.core import event

        from kernbench.bench.compile_probe import _measure_here
        from kernbench.bench.workloads import WORKLOADS

        stack, own, count = [], {}, collections.Counter()

        class Listener(event.Listener):
            def on_start(self, ev):
                name = ev.data["dispatcher"].py_func.__qualname__
                stack.append([name, time.perf_counter(), 0.0])

            def on_end(self, ev):
                name, start, children = stack.pop()
                spent = time.perf_counter() - start
                own[name] = own.get(name, 0.0) + spent - children
                count[name] += 1
                if stack:
                    stack[-1][2] += spent

        event.register("numba:compile", Listener())
        start = time.perf_counter()
        _measure_here("numba", list(WORKLOADS), ["float32", "float64"], [1_000, 1_000_000])
        wall = time.perf_counter() - start
    total = sum(own.values())
    llvm = sum(llvm_s.values())
    print(f"compiling: {total:.1f} s of {wall:.1f} s, in {sum(count.values())} compiles of "
          f"{len(own)} dispatchers; LLVM {llvm:.1f} s ("
          + ", ".join(f"{k} {v:.1f} s" for k, v in llvm_s.items()) + ")")
    for name, t in sorted(own.items(), key=lambda kv: -kv[1])[:int(os.environ.get("TOP", 20))]:
        print(f"{t:6.2f} s  {count[name]:2d} x  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
