"""``kernbench`` with one target of one kernel made 1.5x slower: the check of ``compare``.

    python scripts/planted_slowdown.py KERNEL TARGET FACTOR kernbench-arguments...

Every timed call of TARGET on KERNEL (the prepared call the runner samples) is stretched to
FACTOR times its own duration by spinning after it returns, so the planted slowdown follows the
machine's own noise. This file is the only place that plants anything; the library has no hook.
"""

from __future__ import annotations

import sys
import time


def plant(kernel: str, target: str, factor: float) -> None:
    from kernbench.bench import workloads

    honest_call = workloads.Case.call

    def call(self, name, warm=True, synchronize=True):
        fn = honest_call(self, name, warm=warm, synchronize=synchronize)
        if self.workload.name != kernel or name != target:
            return fn

        def slower():
            start = time.perf_counter()
            result = fn()
            stop = start + factor * (time.perf_counter() - start)
            while time.perf_counter() < stop:
                pass
            return result

        return slower

    workloads.Case.call = call


if __name__ == "__main__":
    kernel, target, factor, *argv = sys.argv[1:]
    plant(kernel, target, float(factor))
    from kernbench.cli import main

    sys.exit(main(argv))
