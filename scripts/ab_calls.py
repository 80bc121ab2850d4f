"""Times a fixed set of public calls in this interpreter and prints {case: seconds} as JSON.

Also run alone, once per numba threading layer, each in a fresh process:
``NUMBA_THREADING_LAYER=omp python scripts/ab_calls.py`` (then ``tbb``).

Run by scripts/ab-trees.sh once per source tree (``PYTHONPATH=<tree>/src``), alternately, so
that two commits are compared side by side on one machine: the minimum of 7 timeit repeats per
case, each case called once first (compiling or loading numba's cache is never timed).
"""

from __future__ import annotations

import json
import timeit

import numpy as np

from kernbench import info
from kernbench.optim import Adam


def cases() -> dict:
    rng = np.random.default_rng(0)
    p4, p5, p6 = rng.random(10_000), rng.random(100_000), rng.random(1_000_000)
    joint = rng.random((3162, 3162))
    sigma = rng.random(10_000_000).astype(np.float32) + 0.1
    logits = rng.standard_normal((64, 15625))
    grads = [rng.standard_normal(1_000_000).astype(np.float32)]
    out = {
        "entropy python f64 1e4": lambda: info.entropy(p4, backend="python"),
        "entropy numpy f64 1e5": lambda: info.entropy(p5, backend="numpy"),
        # numba-plain runs prange at every size: what a parallel region costs to start (the
        # threading layer's price, NUMBA_THREADING_LAYER=omp|tbb); the tuned numba runs it serially
        "entropy numba-plain f64 1e4": lambda: info.entropy(p4, backend="numba-plain"),
        "entropy numba f64 1e4": lambda: info.entropy(p4, backend="numba"),
        "entropy numba-plain f64 1e5": lambda: info.entropy(p5, backend="numba-plain"),
        "entropy numba f64 1e6": lambda: info.entropy(p6, backend="numba"),
        "MI numba f64 3162x3162": lambda: info.mutual_information(joint, backend="numba"),
        "MI numba-plain f64 3162x3162":
            lambda: info.mutual_information(joint, backend="numba-plain"),
        "gaussian_entropy numba f32 1e7": lambda: info.gaussian_entropy(sigma, backend="numba"),
        "softmax numba f64 64x15625": lambda: info.softmax(logits, backend="numba"),
        "softmax numba-plain f64 64x15625":
            lambda: info.softmax(logits, backend="numba-plain"),
    }
    logits32 = logits.astype(np.float32)
    small = logits32[:4, :2500]  # 1e4 elements
    m32, s32 = rng.standard_normal(1_000_000).astype(np.float32), sigma[:1_000_000]
    out.update({
        "log_softmax numba f32 64x15625": lambda: info.log_softmax(logits32, backend="numba"),
        "softmax numba f32 4x2500": lambda: info.softmax(small, backend="numba"),
        "cross_entropy_logits numba f32 64x15625":
            lambda: info.cross_entropy_logits(logits32, np.arange(64), backend="numba"),
        "gaussian_kl numpy f32 1e6":
            lambda: info.gaussian_kl(m32, s32, m32[::-1], s32[::-1], backend="numpy"),
        "gaussian_kl numba f32 1e6":
            lambda: info.gaussian_kl(m32, s32, m32[::-1], s32[::-1], backend="numba"),
    })
    small_opt = Adam([rng.standard_normal(10_000).astype(np.float32)], backend="numba")
    small_grads = [rng.standard_normal(10_000).astype(np.float32)]
    out["Adam numba f32 1e4"] = lambda: small_opt.step(small_grads)
    for backend in ("numba", "numba-plain"):
        params = [rng.standard_normal(1_000_000).astype(np.float32)]
        opt = Adam(params, lr=1e-3, backend=backend)
        out[f"Adam {backend} f32 1e6"] = lambda opt=opt: opt.step(grads)
    return out


def main() -> None:
    seconds = {}
    for name, fn in cases().items():
        fn()
        timer = timeit.Timer(fn)
        number, _ = timer.autorange()
        seconds[name] = min(timer.repeat(7, number)) / number
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
