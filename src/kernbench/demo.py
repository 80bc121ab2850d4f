"""A one-minute demonstration: one Adam step per backend, timed side by side.

``kernbench demo`` (or ``python -m kernbench.demo``) prints the median time of an Adam step on
each available backend, after a warm-up so that Numba's compile time is not counted, and the
speedups relative to the numpy backend.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import kernbench as kb
from kernbench.optim import Adam


def time_adam_step(backend: str, n: int, dtype=np.float64, repeats: int = 7) -> float:
    """Median seconds of one Adam step over ``n`` elements, the JIT warmed up first."""
    rng = np.random.default_rng(0)
    param = rng.standard_normal(n).astype(dtype)
    grad = rng.standard_normal(n).astype(dtype)
    opt = Adam([param], lr=1e-3, backend=backend)
    opt.step([grad])  # warm-up: compiles (or loads from cache) and allocates state
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        opt.step([grad])
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(sizes=(10_000, 1_000_000)) -> None:
    backends = kb.available_backends()
    print(f"Adam step, float64, median of 7 after warm-up; backends: {', '.join(backends)}")
    for n in sizes:
        times = {}
        for name in backends:
            if name == "python" and n > 100_000:
                continue  # about a second per million elements per step: skipped, not hidden
            times[name] = time_adam_step(name, n, repeats=3 if name == "python" else 7)
        print(f"\n n = {n:>10,}")
        ref = times.get("numpy")
        for name, t in times.items():
            ratio = f"{ref / t:8.2f}x numpy" if ref else ""
            print(f"  {name:>7}: {t * 1e3:10.3f} ms  {ratio}")
        if "python" not in times:
            print("   python: skipped at this size (time budget)")


if __name__ == "__main__":
    main()
