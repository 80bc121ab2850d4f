"""One Adam step over the model-shaped workload (148 tensors, 10.6M float32 params): kernbench's
numba backend against torch's fused CPU Adam, each in a fresh process of its own with the
environment as the user has it (no OMP_WAIT_POLICY set by kernbench), medians of 30 steps
after 5 warm-up steps. ``kernbench run`` sets OMP_WAIT_POLICY=PASSIVE because it times numba
and torch round-robin in one process, where two OpenMP runtimes' spinning threads starve each
other on a small machine; PASSIVE makes every parallel region wake its threads, which a step
that opens one region per tensor (torch's fused Adam over a list) pays 148 times.

Run: python reports/numba-tuning/model_adam.py
"""

import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
from kernbench.bench.workloads import MODEL_SHAPES
which = sys.argv[1]
rng = np.random.default_rng(0)
params = [(0.02 * rng.standard_normal(s)).astype(np.float32) for s in MODEL_SHAPES]
grads = [rng.standard_normal(s).astype(np.float32) for s in MODEL_SHAPES]
if which == "numba":
    from kernbench import optim
    opt = optim.Adam(params, lr=1e-3, backend="numba")
    step = lambda: opt.step(grads)
else:
    import torch
    tp = [torch.from_numpy(p).requires_grad_() for p in params]
    for t, g in zip(tp, grads):
        t.grad = torch.from_numpy(g)
    opt = torch.optim.Adam(tp, lr=1e-3, fused=True)
    step = opt.step
for _ in range(5):
    step()
times = []
for _ in range(30):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
print(json.dumps({"median_ms": float(np.median(times)) * 1e3,
                  "q1_ms": float(np.percentile(times, 25)) * 1e3,
                  "q3_ms": float(np.percentile(times, 75)) * 1e3}))
"""


def main() -> int:
    out = {}
    for which in ("numba", "torch.fused"):
        done = subprocess.run([sys.executable, "-c", CHILD, which], capture_output=True,
                              text=True, check=True)
        out[which] = json.loads(done.stdout.strip().splitlines()[-1])
        r = out[which]
        print(f"{which:<12} median {r['median_ms']:.2f} ms (IQR {r['q1_ms']:.2f}-"
              f"{r['q3_ms']:.2f})")
    ratio = out["torch.fused"]["median_ms"] / out["numba"]["median_ms"]
    print(f"torch.fused / numba = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
