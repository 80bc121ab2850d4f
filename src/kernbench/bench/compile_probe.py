"""Compile time of a JIT backend, measured in fresh processes, apart from the steady state.

Two fresh subprocesses share one temporary ``NUMBA_CACHE_DIR``:

1. *cold*: the cache is empty, so each kernel's first call compiles it;
2. *cached*: the same calls again, now loading the machine code from that cache
   (what a user pays on every new process once ``cache=True`` has done its work).

Each process first starts numba's runtime and threading layer with a trivial parallel loop
(``runtime_init_s``), so that one-time cost is not charged to whichever kernel runs first.
Then every selected kernel is called through the public API at a small and a large size
(the compiled backends may switch to a parallel loop above a threshold, which is a second
compiled function), first call timed, then the steady call. ``compile_s`` is the sum over the
sizes of (first call - steady call). Kernels that share compiled helpers (``adam_step``,
``adamw_step`` and ``adam_model``) pay for them once, in whichever runs first: the order is the
order of :data:`kernbench.bench.workloads.WORKLOADS`, so ``adam_step`` carries that cost.

Run as ``python -m kernbench.bench.compile_probe --backend numba --kernels ... --dtypes ...``;
it prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

#: Element counts at which the first call is timed: a serial-sized and a parallel-sized case.
PROBE_ELEMENTS = (1_000, 1_000_000)


def _measure_here(backend: str, kernels: list[str], dtypes: list[str],
                  elements: list[int]) -> dict:
    start = time.perf_counter()
    import kernbench as kb
    from kernbench.bench.timing import time_once
    from kernbench.bench.workloads import get_workload

    kb.get_backend(backend)  # imports the backend module: eager compilation would show here
    import_s = time.perf_counter() - start
    runtime_init_s = _start_runtime()
    records = []
    for name in kernels:
        wl = get_workload(name)
        for dtype in (d for d in dtypes if d in wl.dtypes):
            shapes = sorted({wl.shape_for(n) for n in elements}, key=wl.elements)
            for shape in shapes:
                case = wl.make(shape, dtype, seed=0)
                try:
                    fn = case.call(backend, warm=False)
                    case.reset()
                    first = time_once(fn)
                    steady = []
                    for _ in range(3):
                        case.reset()
                        steady.append(time_once(fn))
                    records.append({"kernel": name, "dtype": dtype, "shape": list(shape),
                                    "first_call_s": first, "steady_s": min(steady)})
                except Exception as exc:  # recorded, so the parent can say which kernel failed
                    records.append({"kernel": name, "dtype": dtype, "shape": list(shape),
                                    "error": f"{type(exc).__name__}: {exc}"})
    return {"import_s": import_s, "runtime_init_s": runtime_init_s, "records": records}


def _start_runtime() -> float:
    """Seconds to compile (or load) and run a trivial parallel loop: numba's runtime start."""
    import numpy as np

    from kernbench.bench.probe import _stream_kernels

    start = time.perf_counter()
    copy = _stream_kernels()[0]
    copy(np.zeros(16), np.ones(16))
    return time.perf_counter() - start


def _run_fresh(backend, kernels, dtypes, elements, cache_dir, timeout_s) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    cmd = [sys.executable, "-m", "kernbench.bench.compile_probe", "--backend", backend,
           "--kernels", ",".join(kernels), "--dtypes", ",".join(dtypes),
           "--elements", ",".join(str(n) for n in elements)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"compile probe exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _per_kernel(run: dict) -> dict:
    """(kernel, dtype) -> {first_call_s, steady_s, jit_s, error}, summed over the probe sizes."""
    out: dict = {}
    for r in run["records"]:
        key = (r["kernel"], r["dtype"])
        entry = out.setdefault(key, {"first_call_s": 0.0, "steady_s": 0.0, "jit_s": 0.0,
                                     "error": None})
        if "error" in r:
            entry["error"] = r["error"]
            continue
        entry["first_call_s"] += r["first_call_s"]
        entry["steady_s"] += r["steady_s"]
        entry["jit_s"] += max(0.0, r["first_call_s"] - r["steady_s"])
    return out


def measure_compile(backend: str, kernels: list[str], dtypes: list[str],
                    elements=PROBE_ELEMENTS, timeout_s: float = 600.0) -> list[dict]:
    """Cold-compile and cached-load cost per (kernel, dtype), from two fresh processes.

    Returns records for the results file; a probe that fails gives records with status
    ``failed`` and the reason, never an exception.
    """
    elements = list(elements)
    with tempfile.TemporaryDirectory(prefix="kernbench-numba-cache-") as cache_dir:
        try:
            cold = _run_fresh(backend, kernels, dtypes, elements, cache_dir, timeout_s)
            cached = _run_fresh(backend, kernels, dtypes, elements, cache_dir, timeout_s)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            return [{"backend": backend, "kernel": k, "dtype": d, "status": "failed",
                     "reason": f"{type(exc).__name__}: {exc}"}
                    for k in kernels for d in dtypes]
    cold_k, cached_k = _per_kernel(cold), _per_kernel(cached)
    records = []
    for key, c in cold_k.items():
        warm = cached_k.get(key, {})
        error = c["error"] or warm.get("error")
        records.append({
            "backend": backend, "kernel": key[0], "dtype": key[1],
            "status": "failed" if error else "ok", "reason": error,
            "probe_elements": elements,
            "cold_first_call_s": c["first_call_s"], "compile_s": c["jit_s"],
            "cached_first_call_s": warm.get("first_call_s"),
            "cache_load_s": warm.get("jit_s"),
            "cold_import_s": cold["import_s"], "cached_import_s": cached["import_s"],
            "cold_runtime_init_s": cold.get("runtime_init_s"),
            "cached_runtime_init_s": cached.get("runtime_init_s"),
        })
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True)
    parser.add_argument("--kernels", required=True)
    parser.add_argument("--dtypes", required=True)
    parser.add_argument("--elements", default=",".join(str(n) for n in PROBE_ELEMENTS))
    args = parser.parse_args(argv)
    result = _measure_here(args.backend, args.kernels.split(","), args.dtypes.split(","),
                           [int(float(n)) for n in args.elements.split(",")])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
