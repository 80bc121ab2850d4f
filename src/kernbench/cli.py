"""The ``kernbench`` command line: demo, list, run, report, compare, dask-scaling, lecture."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def _demo(args) -> int:
    from kernbench.demo import main as demo_main

    demo_main()
    return 0


# ---------------------------------------------------------------------------- list

def _list(args) -> int:
    import kernbench as kb
    from kernbench.bench import peers as pr
    from kernbench.bench.workloads import WORKLOADS

    available = kb.available_backends()
    print("backends:")
    for name in kb.known_backends():
        try:
            kb.get_backend(name)
            state = "available"
        except kb.BackendUnavailableError as exc:
            state = f"unavailable ({exc})"
        print(f"  {name:<12} {state}")
    print("\nkernels (sizes of the full preset; peers, * = installed here):")
    for wl in WORKLOADS.values():
        sizes = ", ".join(f"{'x'.join(map(str, s))}" for s in wl.sizes("full"))
        peers = ", ".join(p + ("*" if pr.peer_available(p) else "") for p in wl.peers) or "-"
        print(f"  {wl.name:<21} {wl.summary}")
        print(f"  {'':<21} dtypes {', '.join(wl.dtypes)}; sizes {sizes}")
        print(f"  {'':<21} peers: {peers}")
    libs = sorted({pr.peer_library(p) for wl in WORKLOADS.values() for p in wl.peers})
    print("\npeer libraries: " + ", ".join(
        f"{lib} {'installed' if pr.library_available(lib) else 'not installed'}" for lib in libs))
    print(f"usable here: {', '.join(available)}")
    return 0


# ---------------------------------------------------------------------------- run

def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


def _element_counts(text: str) -> list[int]:
    counts = []
    for item in _split(text) or []:
        try:
            value = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--sizes takes element counts such as 1e3,1e6; "
                                             f"got {item!r}") from None
        if value < 1 or value != int(value):
            raise argparse.ArgumentTypeError(f"--sizes entries must be whole numbers >= 1; "
                                             f"got {item!r}")
        counts.append(int(value))
    return counts


def _positive_int(flag: str):
    """An argparse type: a whole number >= 1, the error naming ``flag``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number; got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be at least 1; got {value}")
        return value

    return parse


def _positive_seconds(flag: str):
    """An argparse type: a finite number of seconds > 0, the error naming ``flag``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes seconds; got {text!r}") from None
        if not (value > 0 and value != float("inf")):
            raise argparse.ArgumentTypeError(f"{flag} must be a finite number of seconds > 0; "
                                             f"got {text!r}")
        return value

    return parse


#: ``kernbench run`` exit codes: every case ran or was skipped or unavailable by design; the
#: command line asked for something impossible (nothing was timed); the results were written
#: but a case failed, gave a wrong result or timed out.
EXIT_OK, EXIT_USAGE, EXIT_CASES_FAILED = 0, 2, 3
#: Case statuses that make ``kernbench run`` exit with EXIT_CASES_FAILED.
FAILING_STATUSES = ("failed", "wrong-result", "timeout")


def _results_path(out: str) -> Path:
    """A .json path is the file; anything else is a folder for a timestamped file."""
    path = Path(out)
    if path.suffix == ".json":
        return path
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return path / f"kernbench-{stamp}.json"


class StderrProgress:
    """One progress line on stderr, rewritten in place on a terminal, one line per step in logs."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.start = time.perf_counter()
        self.tty = stream.isatty()

    def __call__(self, done: int, total: int, label: str) -> None:
        elapsed = time.perf_counter() - self.start
        width = 24
        filled = int(width * done / total) if total else width
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                f"{elapsed:6.0f}s  {label}")
        if self.tty:
            self.stream.write("\r" + line[:110].ljust(110))
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _or(value, default):
    return default if value is None else value


def _run(args) -> int:
    import kernbench as kb
    from kernbench.bench.results import save_results
    from kernbench.bench.runner import DEFAULT_BUDGETS, RunSettings, run_benchmarks
    from kernbench.bench.timing import FULL_POLICY, QUICK_POLICY
    from kernbench.bench.workloads import WORKLOADS

    kernels = _split(args.kernels) or list(WORKLOADS)
    unknown = [k for k in kernels if k not in WORKLOADS]
    if unknown:
        print(f"kernbench run: unknown kernel(s) {', '.join(unknown)}; "
              f"known: {', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    backends = _split(args.backends) or kb.available_backends()
    bad = [b for b in backends if b not in kb.known_backends()]
    if bad:
        print(f"kernbench run: unknown backend(s) {', '.join(bad)}; "
              f"known: {', '.join(kb.known_backends())}", file=sys.stderr)
        return 2
    requested = _split(args.backends) or []
    for name in requested:  # asked for by name: refused here, before anything is timed
        try:
            kb.get_backend(name)
        except kb.BackendUnavailableError as exc:
            print(f"kernbench run: error: argument --backends: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if "numpy" not in backends:  # the reference of every speedup: always measured
        backends = ["numpy"] + backends
    dtypes = _split(args.dtypes) or ["float32", "float64"]
    bad = [d for d in dtypes if d not in ("float32", "float64")]
    if bad:
        print(f"kernbench run: --dtypes takes float32 and/or float64; got {bad}",
              file=sys.stderr)
        return 2
    timing = args.timing or ("full" if args.preset == "full" and not args.sizes else "quick")
    settings = RunSettings(
        kernels=kernels, backends=backends, dtypes=dtypes, preset=args.preset,
        elements=args.sizes, peers=not args.no_peers, threads=args.threads,
        seed=args.seed,
        python_budget_s=_or(args.python_budget, DEFAULT_BUDGETS[timing]["python_budget_s"]),
        call_budget_s=_or(args.call_budget, DEFAULT_BUDGETS[timing]["call_budget_s"]),
        policy=FULL_POLICY if timing == "full" else QUICK_POLICY,
        measure_compile=not args.no_compile, measure_bandwidth=not args.no_bandwidth,
        cold=not args.no_cold, isolate=not args.no_isolation)
    command = "kernbench " + " ".join(shlex.quote(a) for a in (args.argv or []))
    results = run_benchmarks(settings, command=command, progress=StderrProgress())
    path = save_results(results, _results_path(args.out))
    counts: dict = {}
    for case in results["cases"]:
        counts[case["status"]] = counts.get(case["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"wrote {path} ({len(results['cases'])} cases: {summary}; "
          f"{results['elapsed_s']:.0f} s)")
    failing = [c for c in results["cases"] if c["status"] in FAILING_STATUSES]
    for c in failing[:20]:
        print(f"  {c['status']}: {c['kernel']} {c['dtype']} {c['size_label']} {c['target']}: "
              f"{c['reason']}", file=sys.stderr)
    if failing:
        print(f"kernbench run: {len(failing)} case(s) failed, gave a wrong result or timed out "
              f"(exit {EXIT_CASES_FAILED})", file=sys.stderr)
        return EXIT_CASES_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------------- report, compare

def _report(args) -> int:
    from kernbench.bench.report import write_report
    from kernbench.bench.results import ResultsError, load_results

    try:
        runs = [load_results(p) for p in args.results]
        if args.dask_scaling:
            from kernbench.bench.dask_scaling_report import load_scaling

            load_scaling(args.dask_scaling)
    except (ResultsError, OSError, ValueError) as exc:
        print(f"kernbench report: {exc}", file=sys.stderr)
        return 2
    command = "kernbench " + " ".join(shlex.quote(a) for a in (args.argv or []))
    readme = write_report(runs, Path(args.out), sources=[str(p) for p in args.results],
                          report_command=command, dask_scaling=args.dask_scaling)
    print(f"wrote {readme}")
    return 0


def _ratio_threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threshold takes a ratio such as 1.25; "
                                         f"got {text!r}") from None
    if not (1 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"--threshold must be a finite ratio > 1; got {text!r}")
    return value


def _compare(args) -> int:
    from kernbench.bench.compare import compare_runs
    from kernbench.bench.results import ResultsError, load_results

    try:
        base, new = load_results(args.baseline), load_results(args.candidate)
    except (ResultsError, OSError) as exc:
        print(f"kernbench compare: {exc}", file=sys.stderr)
        return 2
    return compare_runs(base, new, threshold=args.threshold, out=sys.stdout,
                        relative_to=args.relative_to, only_changed=args.only_changed)


# ---------------------------------------------------------------------------- dask scaling

def _dask_scaling(args) -> int:
    from kernbench.bench.dask_scaling import prepare_process_environment

    prepare_process_environment()  # before numba loads an OpenMP runtime
    import kernbench as kb
    from kernbench.bench import dask_scaling as ds
    from kernbench.bench import dask_scaling_report as dsr

    try:
        settings = ds.ScalingSettings(
            elements=args.elements, clusters=tuple(ds.parse_clusters(args.clusters)),
            repeats=args.repeats, warmup=args.warmup, chunk_bytes=args.chunk,
            seed=args.seed).validate()
        kb.get_backend("dask")
        kb.get_backend("numba")
    except (ValueError, kb.BackendUnavailableError) as exc:
        print(f"kernbench dask-scaling: {exc}", file=sys.stderr)
        return 2
    command = "kernbench " + " ".join(shlex.quote(a) for a in (args.argv or []))
    doc = ds.run_scaling(settings, command=command,
                         progress=lambda label: print(label, file=sys.stderr, flush=True))
    out = Path(args.out)
    dsr.save_scaling(doc, out / "results.json")
    readme = dsr.write_scaling_readme(doc, out)
    print(f"wrote {readme} and {out / 'results.json'} ({doc['elapsed_s']:.0f} s)")
    return 0


def _element_count(text: str) -> int:
    counts = _element_counts(text)
    if len(counts) != 1:
        raise argparse.ArgumentTypeError(f"--elements takes one element count; got {text!r}")
    return counts[0]


def _byte_size(text: str) -> int:
    from dask.utils import parse_bytes

    try:
        value = int(parse_bytes(text))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"--chunk takes a size such as 64MiB; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--chunk must be at least 1 byte; got {text!r}")
    return value


# ---------------------------------------------------------------------------- parser

def _lecture_cli():
    from kernbench.lecture import cli as lecture_cli

    return lecture_cli


def version() -> str:
    """The installed distribution's version; the package's own ``__version__`` when it runs
    from a source tree that is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version("kernbench")
    except importlib.metadata.PackageNotFoundError:
        import kernbench

        return kernbench.__version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kernbench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="time one Adam step per backend and print the speedups")
    demo.set_defaults(func=_demo)

    lister = sub.add_parser("list", help="kernels, backends and peers, and what runs here")
    lister.set_defaults(func=_list)

    lecture = sub.add_parser("lecture", help="the lecture's experiments as figures and a README")
    _lecture_cli().add_arguments(lecture)
    lecture.set_defaults(func=lambda args: _lecture_cli().run_from_args(args))

    run = sub.add_parser(
        "run", help="benchmark kernels on every backend and peer; write JSON",
        epilog="exit status: 0 every case ran (or was skipped or unavailable by design); "
               "2 a bad argument, such as a backend asked for by name that cannot run here "
               "(nothing is timed); 3 the results were written but a case failed, gave a wrong "
               "result or timed out")
    run.add_argument("--kernels", help="comma-separated kernel names (default: all)")
    run.add_argument("--backends", help="comma-separated backends (default: all available "
                                        "here; numpy, the reference, is always included)")
    sizes = run.add_mutually_exclusive_group()
    sizes.add_argument("--preset", choices=("quick", "full", "gpu"), default="quick",
                       help="size sweep: quick (1e4, 1e6), full (1e3 ... 1e7) or gpu (1e4, "
                            "1e6, 1e8, and 4096x50257 logits); default quick")
    sizes.add_argument("--sizes", type=_element_counts,
                       help="comma-separated element counts, e.g. 1e3,1e5 (instead of a preset)")
    run.add_argument("--dtypes", help="float32, float64 or both (default: both)")
    run.add_argument("--threads", type=_positive_int("--threads"), default=os.cpu_count() or 1,
                     help="threads for numba and torch (default: all CPUs)")
    run.add_argument("--out", default="results",
                     help="results file (*.json) or folder for a timestamped one "
                          "(default: results/)")
    run.add_argument("--no-peers", action="store_true", help="leave torch and scipy out")
    run.add_argument("--python-budget", type=_positive_seconds("--python-budget"),
                     metavar="SECONDS",
                     help="skip python at sizes predicted slower than this per call "
                          "(default 0.25 with full timing, 0.05 with quick)")
    run.add_argument("--call-budget", type=_positive_seconds("--call-budget"),
                     metavar="SECONDS",
                     help="the same for every other backend and peer but numpy, the reference "
                          "(default 1 with full timing, 0.25 with quick)")
    run.add_argument("--timing", choices=("quick", "full"),
                     help="sampling policy (default: full for --preset full, else quick)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--no-compile", action="store_true",
                     help="skip the compile-time measurement in fresh processes")
    run.add_argument("--no-bandwidth", action="store_true",
                     help="skip the memory bandwidth and compute-roof measurements")
    run.add_argument("--no-cold", action="store_true",
                     help="skip the cold-cache samples of memory-bound kernels")
    run.add_argument("--no-isolation", action="store_true",
                     help="time torch's peers in the runner's own process (beside numba's "
                          "OpenMP runtime) instead of a worker process")
    run.set_defaults(func=_run)

    report = sub.add_parser("report", help="README.md with tables and plots from results")
    report.add_argument("results", nargs="+", help="results JSON files of kernbench run")
    report.add_argument("--out", required=True, help="folder for README.md and the PNGs")
    report.add_argument("--dask-scaling", metavar="JSON",
                        help="add the section of a kernbench dask-scaling results file")
    report.set_defaults(func=_report)

    scaling = sub.add_parser(
        "dask-scaling", help="the dask backend on LocalClusters of 1 and 2 workers against "
                             "numba on the same data (Adam float32, entropy float64); writes "
                             "results.json and README.md")
    scaling.add_argument("--elements", type=_element_count, default=100_000_000,
                         help="elements of each case (default 1e8)")
    scaling.add_argument("--clusters", default="1x1,2x1,1x2",
                         help="WORKERSxTHREADS per worker, comma-separated "
                              "(default 1x1,2x1,1x2)")
    scaling.add_argument("--repeats", type=int, default=7,
                         help="timed calls per backend and case (default 7)")
    scaling.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    scaling.add_argument("--chunk", type=_byte_size,
                         help="bytes per chunk (default: the dask backend's, 256MiB)")
    scaling.add_argument("--seed", type=int, default=0)
    scaling.add_argument("--out", default="reports/dask-scaling",
                         help="folder for results.json and README.md "
                              "(default reports/dask-scaling)")
    scaling.set_defaults(func=_dask_scaling)

    compare = sub.add_parser(
        "compare", help="which cases changed between two runs (rank test and threshold, from "
                        "the raw samples); exit 1 on a confident slowdown",
        epilog="exit status: 0 no confident slowdown; 1 a case is SLOWER (significant, "
               "Mann-Whitney U p < 0.05, and past the threshold); 2 a file could not be read; "
               "3 no slowdown, but a case that was ok in A failed in B")
    compare.add_argument("baseline", help="results JSON of the earlier run")
    compare.add_argument("candidate", help="results JSON of the later run")
    compare.add_argument("--threshold", type=_ratio_threshold, default=1.25,
                         help="time ratio past which a significant change counts (default 1.25)")
    compare.add_argument("--relative-to", metavar="BACKEND",
                         help="judge each target by its per-round ratio to this backend measured "
                              "in the same run (e.g. numpy): cancels a drift of the machine "
                              "between the runs")
    compare.add_argument("--only-changed", action="store_true",
                         help="list only the cases that are SLOWER, FASTER or changed status")
    compare.set_defaults(func=_compare)

    # Listed here for the help; main() hands its arguments to pyperf's parser unparsed.
    sub.add_parser("small-calls", add_help=False,
                   help="one public call on 10 elements per function, beside scipy and torch "
                        "(pyperf); options: python -m kernbench.bench.small_calls --help")
    return parser


def _small_calls():
    from kernbench.bench import small_calls

    return small_calls


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["small-calls"]:
        return _small_calls().main(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
