"""What one call through the public API costs on 10 elements: the per-call floor.

Every information function of :mod:`kernbench.info` and a one-tensor optimizer step is timed
on tiny inputs (10 elements; 4 x 10 logits for the softmax family, as torch's
``F.cross_entropy`` is usually called), where the kernel is a small part of the call and
argument checks, array plumbing and dispatch are the rest. Beside them, the peers a user would
call instead (``scipy.stats.entropy``, ``scipy.special.softmax``, torch's ``F.softmax``,
``F.cross_entropy``, fused ``torch.optim.Adam``), on the same data.

pyperf does the timing: every case runs in fresh worker processes (so torch, imported only by
its own cases, never shares a process with numba's threads), loops are calibrated, the garbage
collector is off, and the raw values are kept. Run it as::

    python -m kernbench.bench.small_calls --out reports/small-calls
    kernbench small-calls --out reports/small-calls --baseline reports/small-calls/before.json

``--out`` gets ``results.json`` (pyperf's format: ``python -m pyperf compare_to A.json B.json``
compares two runs with its significance test) and ``README.md`` (median, interquartile range
and the ratio to the per-call budget of :data:`BUDGET_SECONDS`). pyperf's own options
(``--fast``, ``--rigorous``, ``--processes``, ``--values``, ``-b NAME``...) pass through.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kernbench.bench.peers import library_available

#: The cost one call on 10 elements may have, with the default backend.
BUDGET_SECONDS = 4e-6
#: Fewer worker processes and values than pyperf's defaults (20 x 3): each worker imports
#: numba and loads the cached kernels (about 2 s), and this suite has some 30 cases.
DEFAULT_PROCESSES = 6
DEFAULT_VALUES = 5
BACKEND = "numba"


@dataclass
class Case:
    """One timed call: ``make()`` returns (function, positional arguments); ``of`` is the
    kernbench function a peer stands beside (None for kernbench's own cases)."""

    name: str
    make: object
    shape: str
    of: str | None = None
    library: str = "kernbench"
    _made: tuple | None = field(default=None, repr=False)

    def prepared(self) -> tuple:
        """(function, args), made on first use and called once there, so that loading
        compiled code (or compiling it) is never timed."""
        if self._made is None:
            fn, args = self.make()
            fn(*args)
            self._made = fn, args
        return self._made


def _rng():
    return np.random.default_rng(0)


def _dist(n=10, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).random(n).astype(dtype) + 0.05


def _logits():
    return _rng().standard_normal((4, 10)), np.array([1, 4, 0, 9], dtype=np.int64)


def _joint():
    return _dist(10).reshape(2, 5)


def _info(fn_name: str, *make_args, **kwargs):
    def make():
        from functools import partial

        from kernbench import info

        fn = getattr(info, fn_name)
        return (partial(fn, **kwargs) if kwargs else fn), make_args_value(make_args)
    return make


def make_args_value(make_args) -> tuple:
    return tuple(a() if callable(a) else a for a in make_args)


def _optimizer(kind: str, dtype=np.float32):
    def make():
        from kernbench import optim

        param = _dist(10, dtype)
        grad = _dist(10, dtype, seed=1) - 0.5
        opt = getattr(optim, kind)([param], backend=BACKEND,
                                   **({"momentum": 0.9} if kind == "SGD" else {}))
        opt.step([grad])  # the state exists: the steady state is timed, not the first step
        return opt.step, ([grad],)
    return make


def _scipy(path: str, *make_args, square=False):
    def make():
        import importlib

        module_name, attr = path.rsplit(".", 1)
        fn = getattr(importlib.import_module(module_name), attr)
        if square:
            def sq(*a, _fn=fn):
                return _fn(*a) ** 2
            return sq, make_args_value(make_args)
        return fn, make_args_value(make_args)
    return make


def _torch_threads() -> None:
    """torch's intra-op threads as ``KERNBENCH_TORCH_THREADS`` says (``--torch-threads``);
    torch's own default when it is unset. On a loaded machine torch's default threads can
    turn a 3 us call into milliseconds (its OpenMP threads spin for a core), which is a fact
    about the load, not about the call."""
    threads = os.environ.get("KERNBENCH_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def _torch_fn(kind: str):
    def make():
        import torch
        import torch.nn.functional as F

        _torch_threads()

        x, t = _logits()
        xt, tt = torch.from_numpy(x), torch.from_numpy(t)
        p = torch.from_numpy(_dist())
        if kind == "softmax":
            return F.softmax, (xt, -1)
        if kind == "log_softmax":
            return F.log_softmax, (xt, -1)
        if kind == "cross_entropy":
            return F.cross_entropy, (xt, tt)
        if kind == "entropy":  # what a torch user writes: normalize, then -sum p log p
            def entropy(p):
                q = p / p.sum()
                return -(q * q.log()).sum()
            return entropy, (p,)
        raise ValueError(kind)
    return make


def _torch_adam():
    import torch

    _torch_threads()
    param = torch.nn.Parameter(torch.from_numpy(_dist(10, np.float32)))
    opt = torch.optim.Adam([param], lr=1e-3, fused=True)
    param.grad = torch.from_numpy(_dist(10, np.float32, seed=1) - 0.5)
    opt.step()
    return opt.step, ()


def cases() -> list[Case]:
    """Every case, in a fixed order (pyperf's workers find their case by position)."""
    p, q = (lambda: _dist(10)), (lambda: _dist(10, seed=1))
    sigma = lambda: _dist(10, seed=2) + 0.5  # noqa: E731
    logits = lambda: _logits()[0]  # noqa: E731
    targets = lambda: _logits()[1]  # noqa: E731
    own = [
        Case("entropy", _info("entropy", p), "10"),
        Case("cross_entropy", _info("cross_entropy", p, q), "10"),
        Case("kl_divergence", _info("kl_divergence", p, q), "10"),
        Case("js_divergence", _info("js_divergence", p, q), "10"),
        Case("mutual_information", _info("mutual_information", _joint), "2x5"),
        Case("conditional_entropy", _info("conditional_entropy", _joint), "2x5"),
        Case("softmax", _info("softmax", logits), "4x10"),
        Case("log_softmax", _info("log_softmax", logits), "4x10"),
        Case("cross_entropy_logits", _info("cross_entropy_logits", logits, targets), "4x10"),
        Case("perplexity", _info("perplexity", logits, targets), "4x10"),
        Case("gaussian_kl", _info("gaussian_kl", p, sigma, q, sigma), "10"),
        Case("gaussian_entropy", _info("gaussian_entropy", sigma), "10"),
        Case("Adam.step", _optimizer("Adam"), "10 float32"),
        Case("AdamW.step", _optimizer("AdamW"), "10 float32"),
        Case("SGD.step", _optimizer("SGD"), "10 float32, momentum"),
    ]
    peers = []
    if library_available("scipy"):
        peers += [
            Case("scipy.stats.entropy", _scipy("scipy.stats.entropy", p), "10", "entropy",
                 "scipy"),
            Case("scipy.stats.entropy(p, q)", _scipy("scipy.stats.entropy", p, q), "10",
                 "kl_divergence", "scipy"),
            Case("scipy.spatial.distance.jensenshannon**2",
                 _scipy("scipy.spatial.distance.jensenshannon", p, q, square=True), "10",
                 "js_divergence", "scipy"),
            Case("scipy.special.softmax", _scipy("scipy.special.softmax", logits, -1), "4x10",
                 "softmax", "scipy"),
            Case("scipy.special.log_softmax", _scipy("scipy.special.log_softmax", logits, -1),
                 "4x10", "log_softmax", "scipy"),
        ]
    if library_available("torch"):
        peers += [
            Case("torch entropy (p/p.sum(), -(q*q.log()).sum())", _torch_fn("entropy"), "10",
                 "entropy", "torch"),
            Case("torch F.softmax", _torch_fn("softmax"), "4x10", "softmax", "torch"),
            Case("torch F.log_softmax", _torch_fn("log_softmax"), "4x10", "log_softmax",
                 "torch"),
            Case("torch F.cross_entropy", _torch_fn("cross_entropy"), "4x10",
                 "cross_entropy_logits", "torch"),
            Case("torch.optim.Adam(fused=True).step", _torch_adam, "10 float32", "Adam.step",
                 "torch"),
        ]
    return own + peers


def _time_case(loops: int, case: Case) -> float:
    fn, args = case.prepared()
    counter = time.perf_counter
    t0 = counter()
    for _ in range(loops):
        fn(*args)
    return counter() - t0


# ---------------------------------------------------------------------------- report

def _summary(bench) -> dict:
    values = bench.get_values()
    return {"median_s": bench.median(), "min_s": min(values),
            "q1_s": float(np.percentile(values, 25)), "q3_s": float(np.percentile(values, 75)),
            "values": len(values)}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f}"


def markdown(summaries: dict, baseline: dict | None = None, note: str = "") -> str:
    """The README table: one row per kernbench case, its peers beside it."""
    all_cases = cases()
    peers: dict = {}
    for c in all_cases:
        if c.of is not None and c.name in summaries:
            s = summaries[c.name]
            peers.setdefault(c.of, []).append(f"{c.name} {_us(s['median_s'])}")
    lines = [
        "# Small calls: one call through the public API on 10 elements",
        "",
        f"Backend `{BACKEND}`, float64 unless the shape says otherwise; budget "
        f"{BUDGET_SECONDS * 1e6:g} µs per call. Median and interquartile range (IQR) of "
        "pyperf's values (each the mean of a calibrated loop, in fresh worker processes).",
    ]
    if note:
        lines += ["", note]
    head = "| function | shape | median (µs) | IQR (µs) | min (µs) | median / budget |"
    rule = "|---|---|---:|---:|---:|---:|"
    if baseline is not None:
        head += " before (µs) | before / after |"
        rule += "---:|---:|"
    head += " peers, median (µs) |"
    rule += "---|"
    lines += ["", head, rule]
    for c in all_cases:
        if c.of is not None or c.name not in summaries:
            continue
        s = summaries[c.name]
        row = (f"| `{c.name}` | {c.shape} | {_us(s['median_s'])} | "
               f"{_us(s['q1_s'])}-{_us(s['q3_s'])} | {_us(s['min_s'])} | "
               f"{s['median_s'] / BUDGET_SECONDS:.2f} |")
        if baseline is not None:
            b = baseline.get(c.name)
            if b is None:
                row += " - | - |"
            else:
                row += f" {_us(b['median_s'])} | {b['median_s'] / s['median_s']:.2f}x |"
        row += " " + ("; ".join(peers.get(c.name, [])) or "-") + " |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def load_summaries(path) -> dict:
    """Per-case summaries of a pyperf results file written by this module."""
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(path))
    return {b.get_name(): _summary(b) for b in suite.get_benchmarks()}


def write_report(benchmarks: list, out: Path, baseline_path=None, note: str = "") -> dict:
    import pyperf

    out.mkdir(parents=True, exist_ok=True)
    suite = pyperf.BenchmarkSuite(benchmarks)
    suite.dump(str(out / "results.json"), replace=True)
    summaries = {b.get_name(): _summary(b) for b in benchmarks}
    baseline = load_summaries(baseline_path) if baseline_path else None
    (out / "README.md").write_text(markdown(summaries, baseline, note), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(
        {"budget_s": BUDGET_SECONDS, "backend": BACKEND, "cases": summaries}, indent=2) + "\n",
        encoding="utf-8")
    return summaries


def _forward_args(cmd: list, args) -> None:
    if args.only:
        cmd.extend(("--only", args.only))
    if args.torch_threads:
        cmd.extend(("--torch-threads", str(args.torch_threads)))


def main(argv=None) -> int:
    import pyperf

    runner = pyperf.Runner(processes=DEFAULT_PROCESSES, values=DEFAULT_VALUES,
                           program_args=("-m", "kernbench.bench.small_calls"),
                           add_cmdline_args=_forward_args)
    runner.argparser.add_argument("--out", help="folder for results.json and README.md")
    runner.argparser.add_argument("--only", help="comma-separated case names")
    runner.argparser.add_argument("--baseline", help="a results.json of an earlier run: its "
                                                     "medians go in a 'before' column")
    runner.argparser.add_argument("--note", default="", help="a line for the README")
    runner.argparser.add_argument("--torch-threads", type=int,
                                  help="torch.set_num_threads in torch's cases (default: "
                                       "torch's own); recorded in the README")
    args = runner.parse_args(argv)
    if args.torch_threads:  # read by _torch_threads in this process (a worker)
        os.environ["KERNBENCH_TORCH_THREADS"] = str(args.torch_threads)
    if args.torch_threads and not args.worker:
        args.note = (args.note + " " if args.note else "") + \
            f"torch ran with torch.set_num_threads({args.torch_threads})."
    only = set(args.only.split(",")) if args.only else None
    benchmarks = []
    for case in cases():
        if only is not None and case.name not in only:
            continue
        bench = runner.bench_time_func(case.name, _time_case, case, inner_loops=1)
        if bench is not None:
            benchmarks.append(bench)
    if args.worker or not args.out or not benchmarks:
        return 0
    summaries = write_report(benchmarks, Path(args.out), args.baseline, args.note)
    worst = max((s["median_s"] for n, s in summaries.items()
                 if n in {c.name for c in cases() if c.of is None}), default=math.nan)
    print(f"wrote {os.path.join(args.out, 'README.md')}; slowest kernbench call "
          f"{worst * 1e6:.2f} us (budget {BUDGET_SECONDS * 1e6:g} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
