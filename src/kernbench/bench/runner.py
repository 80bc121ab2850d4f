"""The benchmark run: every selected kernel x dtype x size, on every backend and peer.

For one case (a kernel at one size and dtype) the runner

1. makes the seeded inputs once (:meth:`Workload.make`);
2. validates every target against the numpy backend, from pristine inputs, with the contract's
   tolerances (peers, which compute in their own ways and orders, get rtol 1e-4 in float32);
3. warms every target up (first call timed apart) and samples them round-robin
   (:mod:`kernbench.bench.timing`): host targets by the host's clock, targets that compute on
   a GPU (the ``cuda`` backend, ``torch.cuda.*`` peers) by CUDA events, with their inputs on
   the device where their API takes device arrays (:mod:`kernbench.bench.device`); the
   host-device transfers of a case's inputs are timed apart and recorded beside;
   torch's host peers are validated, warmed up and sampled in a worker process of their own,
   interleaved with the others in batches (:mod:`kernbench.bench.isolation`); no process-wide
   threading setting is made for any contestant. Memory-bound kernels whose working set fits
   in the last-level cache are then sampled cold too (caches flushed before each call);
4. records one entry per target with its status: ``ok``, ``skipped`` (a time budget),
   ``unavailable`` (a backend or peer cannot run here: a library or a GPU is missing),
   ``failed`` (it raised), ``wrong-result`` (validation failed) or ``timeout``. A failure never
   stops the run.

Every target but the numpy reference runs under a time budget per call: the ``python`` backend
under ``python_budget_s`` (its cost per element first estimated by one call at 1e3 elements),
the others (a cluster backend such as ``dask``, slow peers) under ``call_budget_s``. The sizes
already measured (smallest first) predict the next one: ``t = a + b*n`` through the last two, so
a fixed per-call overhead is not mistaken for a cost per element; from one size, ``t``
proportional to ``n``. A size predicted past the budget is recorded as ``skipped`` with the
prediction, not dropped.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

import kernbench as kb
from kernbench.backends.interface import TOLERANCES, peer_f32_tolerance
from kernbench.bench import peers as pr
from kernbench.bench.cases import synchronized
from kernbench.bench.compile_probe import measure_compile
from kernbench.bench.device import measure_transfers
from kernbench.bench.isolation import (
    RemoteClock,
    Workers,
    isolation_group,
    process_settings,
)
from kernbench.bench.probe import best_bandwidth, machine_info, measure_bandwidth
from kernbench.bench.results import KIND, SCHEMA_VERSION
from kernbench.bench.timing import (
    CacheFlusher,
    Contestant,
    TimingPolicy,
    collect_and_freeze,
    sample_cold,
    sample_interleaved,
    summarize,
    time_once,
    warm_up,
)
from kernbench.bench.workloads import WORKLOADS, Workload, size_label

#: Backends whose cost per element is estimated before their first large size is tried (they
#: get ``python_budget_s``; every other target but the reference gets ``call_budget_s``).
CALIBRATED_BACKENDS = ("python",)
#: Backends that compile on first use: their compile time is measured apart.
JIT_BACKENDS = ("numba-plain", "numba", "cuda")
#: The backend every result is validated against and every speedup is relative to.
REFERENCE_BACKEND = "numpy"
#: Backends that compute in a cluster of processes of their own (dask: a scheduler and workers).
#: They are timed in a pass of their own, after every other target: the cluster's periodic work
#: (heartbeats, the workers' profiler ticks, memory monitors) took CPU time from whichever
#: target ran beside it on 2 cores. With a LocalCluster up, 61% of the other targets' medians
#: were flagged noisy against 19% without it (entropy, Adam and softmax, 1e3 to 1e6, both
#: dtypes); the cluster is started at the first dask case and stays up to the end of the run.
CLUSTER_BACKENDS = ("dask",)

#: Seconds per call past which a size is skipped, by timing policy: quick runs keep python to
#: the small sizes (where "python vs numpy" is read) and a cluster backend to its first size.
DEFAULT_BUDGETS = {"full": {"python_budget_s": 0.25, "call_budget_s": 1.0},
                   "quick": {"python_budget_s": 0.05, "call_budget_s": 0.25}}

@dataclass
class RunSettings:
    kernels: list[str]
    backends: list[str]
    dtypes: list[str]
    preset: str | None = "quick"
    elements: list[int] | None = None  # explicit sizes (element counts) instead of a preset
    peers: bool = True
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    seed: int = 0
    python_budget_s: float = 0.25  # predicted seconds per call above which python is skipped
    call_budget_s: float = 1.0  # the same for every other target but the numpy reference
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    measure_compile: bool = True
    measure_bandwidth: bool = True
    cold: bool = True  # also sample memory-bound kernels that fit in the LLC with cold caches
    isolate: bool = True  # time torch's host peers in a worker process (kernbench.bench.isolation)

    def shapes(self, wl: Workload) -> list[tuple]:
        if self.elements:
            return sorted({wl.shape_for(n) for n in self.elements}, key=math.prod)
        return wl.sizes(self.preset or "quick")

    def as_dict(self) -> dict:
        return {"preset": None if self.elements else self.preset, "elements": self.elements,
                "kernels": list(self.kernels), "backends": list(self.backends),
                "peers": self.peers, "dtypes": list(self.dtypes), "threads": self.threads,
                "seed": self.seed, "python_budget_s": self.python_budget_s,
                "call_budget_s": self.call_budget_s, "cold": self.cold,
                "isolate": self.isolate,
                "timing": self.policy.as_dict()}


def tolerance(dtype: str, target_kind: str, reduced: int = 1) -> tuple[float, float]:
    """(rtol, atol) a target's result is held to against numpy's: the contract's
    TOLERANCES by dtype; for a float32 peer whose result sums ``reduced`` elements, the looser
    :func:`~kernbench.backends.interface.peer_f32_tolerance`."""
    if target_kind == "peer" and dtype == "float32":
        return peer_f32_tolerance(reduced)
    return TOLERANCES[dtype]


def compare_values(actual, expected, rtol: float, atol: float) -> tuple[bool, float | None, str]:
    """(agree, max abs error over finite entries or None, why not); inf and NaN positions must
    match exactly."""
    a = np.asarray(actual, dtype=np.float64).reshape(-1)
    e = np.asarray(expected, dtype=np.float64).reshape(-1)
    if a.shape != e.shape:
        return False, None, f"{a.size} values, the numpy backend gives {e.size}"
    for name, mask in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        if not np.array_equal(mask(a), mask(e)):
            return False, None, f"{name} positions differ from the numpy backend"
    finite = np.isfinite(e)
    err = np.abs(a[finite] - e[finite])
    max_err = float(err.max()) if err.size else 0.0
    bad = err > atol + rtol * np.abs(e[finite])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return False, max_err, (f"{int(bad.sum())} of {err.size} values off (first: "
                                f"{float(a[finite][i])!r} vs numpy {float(e[finite][i])!r}; "
                                f"rtol {rtol:g}, "
                                f"atol {atol:g})")
    return True, max_err, ""


_backend_problems: dict = {}


def backend_problem(name: str) -> str | None:
    """Why a requested backend cannot run here (None when it can); asked once per name."""
    if name not in _backend_problems:
        try:
            kb.get_backend(name)
            _backend_problems[name] = None
        except (kb.BackendUnavailableError, ValueError) as exc:
            _backend_problems[name] = str(exc)
    return _backend_problems[name]


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


#: Element count at which a calibrated backend's cost per element is first estimated.
CALIBRATION_ELEMENTS = 1_000


class CallBudget:
    """Predicts each target's time per call at the next size from the sizes measured so far."""

    def __init__(self, python_budget_s: float, call_budget_s: float):
        self.python_budget_s = python_budget_s
        self.call_budget_s = call_budget_s
        self._seen: dict = {}  # (kernel, dtype, target) -> [(elements, seconds)], ascending

    def budget_for(self, target: str) -> float | None:
        if target == REFERENCE_BACKEND:
            return None  # the reference of every speedup always runs
        return self.python_budget_s if target in CALIBRATED_BACKENDS else self.call_budget_s

    def record(self, kernel: str, dtype: str, target: str, elements: int, seconds: float):
        points = self._seen.setdefault((kernel, dtype, target), [])
        points[:] = sorted([p for p in points if p[0] != elements] + [(elements, seconds)])

    def calibrate(self, wl: Workload, dtype: str, backend: str, seed: int) -> None:
        """Time one warm call at a small size, unless a size was measured already; errors are
        left to the real case, which records them."""
        if self._seen.get((wl.name, dtype, backend)):
            return
        source = WORKLOADS.get(wl.cost_proxy, wl) if wl.cost_proxy else wl
        case = source.make(source.shape_for(CALIBRATION_ELEMENTS), dtype, seed)
        try:
            fn = case.call(backend, warm=False)
            fn()
            case.reset()
            seconds = time_once(fn)
        except Exception:
            return
        self.record(wl.name, dtype, backend, source.elements(case.shape), seconds)

    def predict(self, kernel: str, dtype: str, target: str, elements: int,
                proxy: str | None = None) -> tuple | None:
        """(predicted seconds, how) or None when nothing was measured yet, for ``kernel`` or,
        when it has no smaller size (a one-size workload), for its ``proxy`` workload."""
        points = [p for p in self._seen.get((kernel, dtype, target), []) if p[0] < elements]
        if not points and proxy:
            points = [p for p in self._seen.get((proxy, dtype, target), []) if p[0] < elements]
        if not points:
            return None
        n2, t2 = points[-1]
        if len(points) == 1:
            return t2 * elements / n2, f"{t2:.3g} s at {n2:,} elements, scaled by size"
        n1, t1 = points[-2]
        slope = max(0.0, (t2 - t1) / (n2 - n1))
        intercept = max(0.0, t2 - slope * n2)
        return (intercept + slope * elements,
                f"{intercept:.3g} s + {slope * 1e9:.3g} ns per element, through {n1:,} and "
                f"{n2:,} elements")

    def skip_reason(self, kernel: str, dtype: str, target: str, elements: int,
                    proxy: str | None = None) -> str | None:
        budget = self.budget_for(target)
        prediction = self.predict(kernel, dtype, target, elements, proxy) if budget else None
        if prediction is None or prediction[0] <= budget:
            return None
        return (f"time budget: predicted {prediction[0]:.3g} s per call ({prediction[1]}) > "
                f"budget {budget:g} s")


def _why_not_run(wl, dtype, elements, target, kind, settings, budget) -> tuple | None:
    """(status, reason) when a target is not to run at this size, else None."""
    if kind == "peer" and pr.peer_problem(target):
        return "unavailable", pr.peer_problem(target)
    if kind == "backend" and backend_problem(target):
        return "unavailable", backend_problem(target)
    if kind == "backend" and target in CALIBRATED_BACKENDS and elements > CALIBRATION_ELEMENTS:
        budget.calibrate(wl, dtype, target, settings.seed)
    reason = budget.skip_reason(wl.name, dtype, target, elements, proxy=wl.cost_proxy)
    return ("skipped", reason) if reason else None


def _validate(case, target, kind, dtype, reference, reference_error) -> tuple:
    """(status, note or reason, max abs error): one call from pristine inputs against numpy."""
    try:
        value = case.check_value(target)
    except Exception as exc:
        return "failed", _error_text(exc), None
    value = np.asarray(value) if value is not None else None
    if value is None or value.size == 0 or value.dtype == object:
        return "failed", "returned nothing", None
    if reference is None:
        return "ok", (f"not validated: the {REFERENCE_BACKEND} reference failed "
                      f"({reference_error})"), None
    reduced = math.prod(case.shape) if case.workload.reduces_all else 1
    agree, max_err, why = compare_values(value, reference, *tolerance(dtype, kind, reduced))
    if not agree:
        return "wrong-result", why, max_err
    return "ok", None, max_err


def cold_targets(wl: Workload, contestants: list, fits_llc: bool | None,
                 policy: TimingPolicy) -> list:
    """The contestants a case samples with cold caches too: every host-timed one of a
    memory-bound kernel whose working set fits in the last-level cache, but the calibrated
    (interpreter-bound) backends and calls slower than ``cold_max_call_s``, whose time no cache
    changes much."""
    if not (wl.memory_bound and fits_llc):
        return []
    return [c for c in contestants if not c.error and c.samples and not c.clock.on_device
            and c.name not in CALIBRATED_BACKENDS
            and float(np.median(c.samples)) <= policy.cold_max_call_s]


def run_case(wl: Workload, shape: tuple, dtype: str, settings: RunSettings,
             budget: CallBudget, llc_bytes: int | None = None,
             flusher: CacheFlusher | None = None, workers: Workers | None = None,
             only: Collection[str] | None = None, exclude: Collection[str] = ()) -> list[dict]:
    """Validate and time one kernel at one shape and dtype on every target; one record each.

    ``llc_bytes``: the last-level cache, to label the case (``fits_llc``); ``flusher``: what
    evicts the caches for the cold samples (none: warm samples only); ``workers``: the worker
    processes of the targets that must not share the runner's process (none: every target runs
    here); ``only`` / ``exclude``: the targets of this pass (see :data:`CLUSTER_BACKENDS`)."""
    elements = wl.elements(shape)
    working_set = wl.working_set_bytes(shape, dtype)
    fits_llc = working_set <= llc_bytes if llc_bytes else None
    base = {"kernel": wl.name, "dtype": dtype, "shape": [int(d) for d in shape],
            "size_label": size_label(shape), "elements": elements,
            "bytes_moved": wl.bytes_moved(shape, dtype), "flops": wl.flops(shape),
            "working_set_bytes": working_set, "fits_llc": fits_llc,
            "memory_bound": wl.memory_bound}
    targets = [(b, "backend") for b in settings.backends]
    if settings.peers:
        # a device peer (torch.cuda.*) stands beside the backend of its device: the device
        # is named as that backend
        targets += [(p, "peer") for p in wl.peers
                    if pr.peer_device(p) is None or pr.peer_device(p) in settings.backends]
    targets = [(t, kind) for t, kind in targets
               if t not in exclude and (only is None or t in only)]
    records: dict[str, dict] = {}

    def finish(target, kind, status, reason=None, **extra):
        records[target] = {**base, "target": target, "target_kind": kind, "status": status,
                           "reason": reason, **extra}

    if dtype not in wl.dtypes:
        for target, kind in targets:
            finish(target, kind, "skipped", f"{wl.name} runs in {', '.join(wl.dtypes)} only")
        return list(records.values())
    try:
        case = wl.make(shape, dtype, settings.seed)
    except Exception as exc:
        for target, kind in targets:
            finish(target, kind, "failed", f"making the inputs failed: {_error_text(exc)}")
        return list(records.values())

    try:
        reference, reference_error = case.check_value(REFERENCE_BACKEND), None
    except Exception as exc:
        reference, reference_error = None, _error_text(exc)

    contestants, validation, remote = [], {}, {}
    for target, kind in targets:
        reason = _why_not_run(wl, dtype, elements, target, kind, settings, budget)
        if reason:
            finish(target, kind, *reason)
            continue
        group = isolation_group(target, kind) if workers is not None else None
        if group:
            remote.setdefault(group, []).append((target, kind))
            continue
        status, why, max_err = _validate(case, target, kind, dtype, reference, reference_error)
        if status != "ok":
            finish(target, kind, status, why, max_abs_err=max_err)
            continue
        validation[target] = (max_err, why)
        try:
            queued = case.call(target, warm=False, synchronize=False)
            waiting = synchronized(queued, case.synchronizer(target))
            # the first call, on the host's clock, waits for the device: compile time shows
            first, _, number = warm_up(waiting, settings.policy, case.needs_reset, case.reset)
            device = case.device(target)
        except TimeoutError as exc:
            finish(target, kind, "timeout", str(exc))
            continue
        except Exception as exc:
            finish(target, kind, "failed", _error_text(exc))
            continue
        contestant = (Contestant(target, queued, number, [], clock=device.clock) if device
                      else Contestant(target, waiting, number, []))
        contestants.append((contestant, kind, first))
    process = {}
    for group, members in remote.items():
        worker = workers.get(group)
        try:
            answers = worker.prepare(wl.name, shape, dtype, settings.seed,
                                     [t for t, _ in members], settings.policy)
        except Exception as exc:
            answers = {t: ("failed", f"the {group} worker: {_error_text(exc)}", None, None,
                           None) for t, _ in members}
        for target, kind in members:
            status, why, max_err, first, number = answers[target]
            process[target] = group
            if status != "ok":
                finish(target, kind, status, why, max_abs_err=max_err, process=group)
                continue
            validation[target] = (max_err, why)
            contestants.append((Contestant(target, lambda: None, number, [],
                                           clock=RemoteClock(worker, target)), kind, first))

    try:
        sample_interleaved([c for c, _, _ in contestants], settings.policy, case.reset,
                           case.needs_reset, case.calls_per_reset)
        cold_samples = _sample_cold_regime(wl, contestants, fits_llc, settings, case, flusher)
    finally:
        for group in remote:
            try:
                workers.get(group).release()
            except Exception:
                workers.discard(group)
    transfers = _device_transfers(case, [c for c, _, _ in contestants if not c.error])
    for c, kind, first in contestants:
        if c.error:
            finish(c.name, kind, "failed", f"raised while timed: {c.error[:300]}")
            continue
        if not c.samples:
            finish(c.name, kind, "failed", "no samples were taken")
            continue
        stats = summarize(c.samples, settings.policy.noise_threshold)
        max_err, note = validation[c.name]
        median = stats["median_s"]
        device = case.device(c.name)
        extra = ({"inputs": "device" if case.placement(c.name) else "host",
                  "transfer": transfers.get(device.name)} if device else {})
        cold = cold_samples.get(c.name)
        if cold:
            extra["cold"] = {"samples_s": cold, "calls_per_sample": 1,
                             "flush_bytes": flusher.nbytes, "flushed_by": flusher.how,
                             **summarize(cold, settings.policy.noise_threshold)}
        finish(c.name, kind, "ok", note, samples_s=list(c.samples), calls_per_sample=c.number,
               first_call_s=first, cache_regime="warm", process=process.get(c.name, "main"),
               **stats,
               gbps=base["bytes_moved"] / median / 1e9 if median > 0 else 0.0,
               gflops=base["flops"] / median / 1e9 if median > 0 else 0.0,
               max_abs_err=max_err, timer=c.clock.timer, **extra)
        budget.record(wl.name, dtype, c.name, elements, median)
    case.reset()
    return [records[t] for t, _ in targets if t in records]


def _sample_cold_regime(wl, contestants, fits_llc, settings, case, flusher) -> dict:
    """Cold samples of the case's eligible contestants (see :func:`cold_targets`)."""
    if flusher is None:
        return {}
    chosen = cold_targets(wl, [c for c, _, _ in contestants], fits_llc, settings.policy)
    if not chosen:
        return {}
    for c in chosen:
        if isinstance(c.clock, RemoteClock):
            c.clock.one_at_a_time()
    return sample_cold(chosen, settings.policy.cold_samples, flusher, case.reset,
                       case.needs_reset)


def _device_transfers(case, contestants: list[Contestant]) -> dict:
    """The host-to-device and device-to-host copy times of the case's inputs, measured once
    per device that a timed target computes on (by the first such target's library)."""
    transfers: dict = {}
    for c in contestants:
        device = case.device(c.name)
        if device is None or device.name in transfers:
            continue
        arrays = case.input_arrays()
        try:
            transfers[device.name] = measure_transfers(device, arrays)
        except Exception as exc:  # a failed measurement must not fail the timed targets
            transfers[device.name] = {"bytes": int(sum(a.nbytes for a in arrays)),
                                      "error": _error_text(exc)}
    return transfers


def plan(settings: RunSettings) -> list[tuple[Workload, str, tuple]]:
    """Every (workload, dtype, shape) of the run, in the order it is measured."""
    return [(WORKLOADS[k], dtype, shape)
            for k in settings.kernels for dtype in settings.dtypes
            for shape in settings.shapes(WORKLOADS[k])]


def set_threads(threads: int) -> None:
    """Same thread count for numba's prange loops and for torch's peers."""
    if pr.library_available("numba"):
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    pr.set_torch_threads(threads)


def run_benchmarks(settings: RunSettings, command: str = "",
                   progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Measure everything ``settings`` selects; return the results document (see
    :mod:`kernbench.bench.results`)."""
    started = time.perf_counter()
    set_threads(settings.threads)
    machine = machine_info(settings.threads, measure=settings.measure_bandwidth)
    machine["environment"] = {name: os.environ.get(name) for name in
                              ("OMP_WAIT_POLICY", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                               "NUMBA_THREADING_LAYER")}
    compile_records = []
    if settings.measure_compile:
        for backend in (b for b in settings.backends
                        if b in JIT_BACKENDS and not backend_problem(b)):
            if progress:
                progress(0, 1, f"{backend}: compile time in fresh processes")
            compile_records += measure_compile(backend, settings.kernels, settings.dtypes)
    steps = plan(settings)
    budget = CallBudget(settings.python_budget_s, settings.call_budget_s)
    llc = machine.get("caches", {}).get("llc_bytes")
    flusher = None
    if settings.cold and llc and any(
            wl.memory_bound and wl.working_set_bytes(shape, dtype) <= llc
            for wl, dtype, shape in steps):
        flusher = CacheFlusher(llc)
    cases = []
    workers = Workers(settings.threads) if settings.isolate and settings.peers else None
    main_settings = process_settings()  # before a dask cluster changes the environment
    # Two passes: every target but the cluster backends, then the cluster backends alone, so
    # that no other target is timed while a cluster's processes are up (CLUSTER_BACKENDS).
    cluster = [b for b in settings.backends if b in CLUSTER_BACKENDS]
    passes = [{"exclude": cluster}] + ([{"only": cluster}] if cluster else [])
    total = len(steps) * len(passes)
    blocks: list[list[dict]] = [[] for _ in steps]
    try:
        for k, selection in enumerate(passes):
            # the cluster pass samples longer (TimingPolicy.for_cluster says why)
            timed = (replace(settings, policy=settings.policy.for_cluster())
                     if "only" in selection else settings)
            for i, (wl, dtype, shape) in enumerate(steps):
                if progress:
                    label = f" ({', '.join(cluster)})" if "only" in selection else ""
                    progress(k * len(steps) + i, total,
                             f"{wl.name} {dtype} {size_label(shape)}{label}")
                blocks[i] += run_case(wl, shape, dtype, timed, budget, llc, flusher, workers,
                                      **selection)
                collect_and_freeze()  # the case's inputs go before the next case is made
                pr.release_cuda_memory()
        cases = [record for block in blocks for record in block]
        after = process_settings()  # the threading layer is known once a region ran
        main_settings["numba_threading_layer"] = (main_settings.get("numba_threading_layer")
                                                  or after.get("numba_threading_layer"))
        machine["contestant_settings"] = {"main": main_settings,
                                          **(workers.settings() if workers else {})}
        for record in cases:  # each record states the settings its contestant ran under
            if record.get("process") in machine["contestant_settings"]:
                record["contestant_settings"] = machine["contestant_settings"][record["process"]]
    finally:
        gc.unfreeze()  # what collect_and_freeze set aside is the collector's again
        if workers:
            workers.close()
    if "dask" in settings.backends and not backend_problem("dask"):
        machine["dask_cluster"] = dask_cluster()
    if settings.measure_bandwidth and "bandwidth" in machine:
        # measured again after the timing; the best of the two is the machine's figure
        first = machine["bandwidth"]
        again = measure_bandwidth(settings.threads)
        machine["bandwidth"] = best_bandwidth([{k: v for k, v in first.items()
                                                if k != "measurements"}, again])
    if progress:
        progress(total, total, "done")
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "settings": settings.as_dict(),
        "machine": machine,
        "compile": compile_records,
        "cases": cases,
        "elapsed_s": time.perf_counter() - started,
    }


def dask_cluster() -> dict:
    """The size of the cluster the dask cases ran on (see ``dask_backend.cluster_info``)."""
    from kernbench.backends.dask_backend import cluster_info

    try:
        return cluster_info()
    except Exception as exc:
        return {"error": _error_text(exc)}


def default_backends() -> list[str]:
    return kb.available_backends()
