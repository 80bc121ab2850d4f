"""``kernbench lecture --out DIR``: run every lecture experiment, write the figures and README.md.

``python -m kernbench.lecture --out DIR`` does the same. ``--quick`` runs small settings (a few
seconds; used by the tests); the committed report in ``reports/lecture/`` is the full run.
This module runs the experiments and parses the command line; the figures and README.md are
written by :mod:`kernbench.lecture.report`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import kernbench as kb
from kernbench.lecture import experiments as ex
from kernbench.lecture.report import write_figures, write_readme

#: settings per mode: experiment -> keyword arguments
SETTINGS = {
    "full": {
        "landscape": dict(kappa=100.0, steps=100, kappas=(1, 10, 100, 1000), max_steps=5000),
        "timing": dict(d=10_000, steps=1000, python_steps=20, repeats=3),
        "temperature": dict(num=81),
        "gaussian_kl": dict(repeats=10),
        "max_entropy": dict(ns=(2, 4, 16)),
        "xor": dict(steps=1000),
        "source_coding": dict(),
        "clipping": dict(steps=400),
    },
    "quick": {
        "landscape": dict(kappa=100.0, steps=100, kappas=(1, 100), max_steps=1000),
        "timing": dict(d=1000, steps=50, python_steps=5, repeats=1),
        "temperature": dict(num=21),
        "gaussian_kl": dict(ns=(100, 1000, 10_000), repeats=2),
        "max_entropy": dict(ns=(2, 4)),
        "xor": dict(steps=300),
        "source_coding": dict(),
        "clipping": dict(steps=100),
    },
}

def run_all(quick: bool = False, backends=None, log=print) -> dict:
    """Run the eight experiments in order; a dict of their results and seconds taken."""
    cfg = SETTINGS["quick" if quick else "full"]
    names = ex._backends(backends)
    b = ex.default_backend() if ex.default_backend() in names else names[0]
    results, seconds = {}, {}
    steps = [
        ("landscape", lambda: ex.landscape_experiment(backends=names, backend=b,
                                                     **cfg["landscape"])),
        ("timing", lambda: ex.sgd_timing_experiment(backends=names, **cfg["timing"])),
        ("temperature", lambda: ex.temperature_experiment(backend=b, **cfg["temperature"])),
        ("gaussian_kl", lambda: ex.gaussian_kl_experiment(backend=b, **cfg["gaussian_kl"])),
        ("max_entropy", lambda: ex.max_entropy_experiment(backend=b, **cfg["max_entropy"])),
        ("xor", lambda: ex.xor_experiment(backends=names, **cfg["xor"])),
        ("source_coding", lambda: ex.source_coding_experiment(backend=b,
                                                             **cfg["source_coding"])),
        ("clipping", lambda: ex.clipping_experiment(backend=b, **cfg["clipping"])),
    ]
    for i, (name, fn) in enumerate(steps, 1):
        start = time.perf_counter()
        results[name] = fn()
        seconds[name] = time.perf_counter() - start
        log(f"[{i}/{len(steps)}] {name}: {seconds[name]:.2f} s")
    return {"results": results, "seconds": seconds, "backends": names, "backend": b,
            "quick": quick}


# ------------------------------------------------------------------------------ entry point

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the lecture options to a parser (or a ``kernbench`` subparser); returns it."""
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true",
                        help="small settings (seconds), for tests and smoke runs")
    parser.add_argument("--backends", default=None,
                        help="comma-separated backends to compare (default: every available)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    return add_arguments(argparse.ArgumentParser(
        prog="kernbench lecture",
        description="Run the lecture experiments; write DIR/README.md and the PNG figures."))


def run(out, quick: bool = False, backends=None, command: str | None = None,
        log=print) -> dict:
    """Run everything and write ``out``/README.md and the figures; returns the run dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(backends, str):
        backends = [b.strip() for b in backends.split(",") if b.strip()]
    if backends is not None:
        for b in backends:
            kb.get_backend(b)  # a clear error for an unknown or unavailable backend
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    start = time.perf_counter()
    result = run_all(quick=quick, backends=backends, log=log)
    result["load_average"] = load
    figures = write_figures(result, out)
    total = time.perf_counter() - start
    if command is None:
        command = "kernbench lecture --out " + str(out) + (" --quick" if quick else "")
    readme = write_readme(result, out, command, total)
    result.update(figures=figures, readme=readme, total_seconds=total)
    log(f"wrote {readme} and {len(figures)} figures in {total:.1f} s")
    return result


def main(argv=None) -> int:
    """Entry point of ``kernbench lecture`` and ``python -m kernbench.lecture``."""
    return run_from_args(build_parser().parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    """Run from parsed arguments (``out``, ``quick``, ``backends``); the exit status."""
    try:
        run(args.out, quick=args.quick, backends=args.backends)
    except (ValueError, kb.BackendUnavailableError) as exc:
        print(f"kernbench lecture: error: {exc}", file=sys.stderr)
        return 2
    return 0
