"""Per-call times of a parallel numba call under each of numba's threading layers.

Run once per layer, each in a fresh process (numba picks its layer at the first parallel call):

    for L in omp tbb omp tbb; do NUMBA_THREADING_LAYER=$L python scripts/threading-layers.py; done

Times are the best of 15 repeats of 200 calls: numba-plain runs ``prange`` at every size, so
its entropy over 1e4 elements shows what a parallel region costs to start; the tuned numba runs
that size serially.
"""

import timeit

import numba
import numpy as np

from kernbench import info


def main() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(10_000)
    p /= p.sum()
    x = rng.standard_normal((64, 1562)).astype(np.float32)
    out = []
    for backend in ("numba-plain", "numba"):
        info.entropy(p, backend=backend)  # compile or load the cache outside the timing
        info.softmax(x, backend=backend)
        t_ent = min(timeit.repeat(lambda b=backend: info.entropy(p, backend=b),
                                  number=200, repeat=15)) / 200
        t_soft = min(timeit.repeat(lambda b=backend: info.softmax(x, backend=b),
                                   number=200, repeat=15)) / 200
        out.append(f"{backend}: entropy 1e4 float64 {t_ent * 1e6:.1f} us, "
                   f"softmax 64x1562 float32 {t_soft * 1e6:.1f} us")
    print(numba.threading_layer(), "|", " | ".join(out))


if __name__ == "__main__":
    main()
