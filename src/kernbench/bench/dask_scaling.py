"""How the ``dask`` backend scales, and what it costs against ``numba`` on the same data.

For each cluster shape asked for (default: 1 worker x 1 thread, 2 workers x 1 thread and
1 worker x 2 threads, LocalClusters of worker processes started here one after the other),
:func:`run_scaling` times two cases against the numba backend in this process:

* ``adam``: one Adam step over ``elements`` float32 params (public ``optim.Adam``). The dask
  params and grads are scattered chunk by chunk over the workers in turn
  (:meth:`DaskBackend.scatter`), the way a model's shards and the grads computed beside them
  live on a cluster, so a step moves no chunk between workers;
* ``entropy``: the entropy of ``elements`` float64 probabilities, scattered the same way.

numba gets NumPy copies of the same seeded arrays. Calls are warmed up, then sampled
alternately (numba, dask, numba, ...) so that both see the same machine load, each after the
previous call's trailing work (a dask step's view tasks) is done and 50 ms of quiet; medians
and quartiles of the samples are recorded. After the timing the two backends' results are compared
(Adam params after the same steps, entropy values) to the contract's tolerances,
:data:`kernbench.backends.interface.TOLERANCES`.

Two more figures per cluster explain where a dask step's time goes:

* ``small_step``: an Adam step over ``overhead_elements`` (1e4) elements in one chunk per
  worker thread: the fixed cost of a step (the scheduler round trip);
* ``adam_tasks``: the optimizer's chunk tasks alone, called on every worker at once on its
  share of the elements (``client.run``, no scheduler): what the kernel costs inside the
  workers. The dask backend writes each step's state into new buffers, so that a failed step
  leaves the old state intact; that moves more memory than numba's in-place update, and this
  figure shows by how much.

The result is a JSON document (:data:`KIND`, version :data:`SCHEMA_VERSION`); its schema and
its markdown section are :mod:`kernbench.bench.dask_scaling_report`. ``kernbench dask-scaling``
writes both.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np

from kernbench.backends.interface import TOLERANCES

KIND = "kernbench-dask-scaling"
SCHEMA_VERSION = 1

#: Environment set for this command's process (unless the user set it) before numba loads its
#: OpenMP runtime: the runner's process and the dask workers' each hold numba threads on the
#: same cores, and PASSIVE makes the idle ones sleep instead of spinning on the others' cores.
#: Both contestants (numba and the dask backend's per-chunk numba kernels) run numba's runtime,
#: so the setting applies to both alike. ``kernbench run`` sets nothing of the kind (see
#: kernbench.bench.isolation).
PROCESS_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}


def prepare_process_environment() -> dict:
    """Apply :data:`PROCESS_ENVIRONMENT` where unset; call before numba is imported."""
    for name, value in PROCESS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return {name: os.environ.get(name) for name in PROCESS_ENVIRONMENT}
#: (kernel, dtype) of the cases, in table order.
CASES = (("adam", "float32"), ("entropy", "float64"))
#: (workers, threads per worker) of the default clusters.
DEFAULT_CLUSTERS = ((1, 1), (2, 1), (1, 2))
#: IQR / median above which a median is marked noisy (as the runner does).
NOISE_THRESHOLD = 0.10
LR = 1e-3


@dataclass
class ScalingSettings:
    elements: int = 100_000_000
    clusters: tuple = DEFAULT_CLUSTERS  # (workers, threads per worker) pairs
    repeats: int = 7  # samples per backend and case, after the warm-up
    warmup: int = 2
    chunk_bytes: int | None = None  # None: the dask backend's default chunk size
    overhead_elements: int = 10_000
    seed: int = 0

    def validate(self) -> ScalingSettings:
        """Raise ValueError naming the first bad field; return self."""
        for name in ("elements", "repeats", "overhead_elements"):
            _positive_int(getattr(self, name), name)
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup must be an integer >= 0; got {self.warmup!r}")
        if self.chunk_bytes is not None:
            _positive_int(self.chunk_bytes, "chunk_bytes")
        clusters = tuple(tuple(c) for c in self.clusters)
        if not clusters:
            raise ValueError("clusters is empty: give at least one (workers, threads) pair")
        for c in clusters:
            if len(c) != 2:
                raise ValueError(f"clusters entries must be (workers, threads) pairs; got {c!r}")
            _positive_int(c[0], "clusters workers")
            _positive_int(c[1], "clusters threads per worker")
        self.clusters = clusters
        return self

    def as_dict(self) -> dict:
        d = asdict(self)
        d["clusters"] = [list(c) for c in self.clusters]
        return d


def _positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def parse_clusters(text: str) -> list[tuple[int, int]]:
    """``"1x1,2x1,1x2"`` -> [(1, 1), (2, 1), (1, 2)] (workers x threads per worker)."""
    clusters = []
    for item in (t.strip() for t in str(text).split(",")):
        if not item:
            continue
        parts = item.lower().split("x")
        try:
            workers, threads = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f"--clusters takes WORKERSxTHREADS items such as 2x1; "
                             f"got {item!r}") from None
        if workers < 1 or threads < 1:
            raise ValueError(f"--clusters needs at least 1 worker and 1 thread; got {item!r}")
        clusters.append((workers, threads))
    if not clusters:
        raise ValueError(f"--clusters is empty; got {text!r}")
    return clusters


# ---------------------------------------------------------------------------- timing

def _summary(samples: list[float]) -> dict:
    from kernbench.bench.timing import summarize

    return {"samples_s": list(samples), **summarize(samples, NOISE_THRESHOLD)}


#: Seconds of quiet before every timed call, so that no call is timed while the work the
#: previous one left behind (a dask step's view tasks, released keys) still runs.
SETTLE_S = 0.05


def _interleaved(calls: dict[str, Callable[[], object]], warmup: int, repeats: int,
                 settle: Callable[[], None] | None = None) -> tuple[dict, dict]:
    """({name: summary}, {name: last result}): calls warmed up, then sampled in turn;
    ``settle`` (untimed) runs after every call, then :data:`SETTLE_S` of quiet."""
    last = {}
    for name, fn in calls.items():
        for _ in range(warmup):
            last[name] = fn()
    samples: dict = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            if settle:
                settle()
            time.sleep(SETTLE_S)
            start = time.perf_counter()
            last[name] = fn()
            samples[name].append(time.perf_counter() - start)
    return {name: _summary(s) for name, s in samples.items()}, last


def _views_done(opt) -> None:
    """Wait for the arrays a dask optimizer holds (the step itself waits for its tasks only)."""
    from distributed import futures_of, wait

    wait([f for a in opt.params + [x for st in opt.state for x in st.values()
                                   if not isinstance(x, int)] for f in futures_of(a)])


def _inputs(settings: ScalingSettings) -> dict:
    """The seeded NumPy inputs every cluster and both backends start from."""
    rng = np.random.default_rng(settings.seed)
    n = settings.elements
    return {"adam": (rng.standard_normal(n, dtype=np.float32),
                     rng.standard_normal(n, dtype=np.float32)),
            "entropy": rng.random(n)}


# ---------------------------------------------------------------------------- measurements

def _chunks(be, settings: ScalingSettings, shape: tuple, dtype) -> tuple:
    if settings.chunk_bytes is None:
        return be.chunks_for(shape, dtype)
    from kernbench.backends.dask_backend import DaskBackend

    return DaskBackend(chunk_bytes=settings.chunk_bytes).chunks_for(shape, dtype)


def _measure_adam(be, settings, inputs) -> dict:
    from kernbench import optim

    p0, g = inputs["adam"]
    chunks = _chunks(be, settings, p0.shape, p0.dtype)
    params, grads = be.scatter(p0, chunks), be.scatter(g, chunks)
    dask_opt = optim.Adam([params], lr=LR, backend="dask")
    host = p0.copy()
    numba_opt = optim.Adam([host], lr=LR, backend="numba")
    del params
    summaries, _ = _interleaved({"numba": lambda: numba_opt.step([g]),
                                 "dask": lambda: dask_opt.step([grads])},
                                settings.warmup, settings.repeats,
                                settle=lambda: _views_done(dask_opt))
    got = dask_opt.backend.to_numpy(dask_opt.params[0])
    rtol, atol = TOLERANCES["float32"]  # backend against backend in float32
    err = np.abs(got.astype(np.float64) - host)
    agree = bool(np.all(err <= atol + rtol * np.abs(host)))
    return {"chunks": len(chunks[0]), "chunk_elements": int(max(chunks[0])), **summaries,
            "steps": settings.warmup + settings.repeats, "agree": agree,
            "max_abs_err": float(err.max())}


def _measure_entropy(be, settings, inputs) -> dict:
    from kernbench import info

    x = inputs["entropy"]
    chunks = _chunks(be, settings, x.shape, x.dtype)
    xd = be.scatter(x, chunks)
    summaries, last = _interleaved({"numba": lambda: info.entropy(x, backend="numba"),
                                    "dask": lambda: info.entropy(xd, backend="dask")},
                                   settings.warmup, settings.repeats)
    a, b = float(last["numba"]), float(last["dask"])
    rtol, atol = TOLERANCES["float64"]
    return {"chunks": len(chunks[0]), "chunk_elements": int(max(chunks[0])), **summaries,
            "agree": bool(abs(a - b) <= atol + rtol * abs(a)), "values": [a, b]}


def _small_step(be, settings, threads: int) -> dict:
    """An Adam step over overhead_elements float32, one chunk per worker thread."""
    from kernbench import optim

    rng = np.random.default_rng(settings.seed + 1)
    n = max(settings.overhead_elements, threads)
    per = -(-n // threads)
    p = be.scatter(rng.standard_normal(n, dtype=np.float32), per)
    g = be.scatter(rng.standard_normal(n, dtype=np.float32), per)
    opt = optim.Adam([p], lr=LR, backend="dask")
    del p
    summaries, _ = _interleaved({"dask": lambda: opt.step([g])}, max(settings.warmup, 2),
                                max(settings.repeats, 9), settle=lambda: _views_done(opt))
    return {"elements": n, **summaries["dask"]}


#: The arrays :func:`_worker_adam_tasks` makes in its first call and times in its second, by
#: worker address: module state of the worker's process, kept off the worker object itself.
_WORKER_ARRAYS: dict[str, tuple[list, list]] = {}


def _worker_adam_tasks(elements: int, threads: int, repeats: int, seed: int,
                       start_at: float = 0.0, dask_worker=None) -> list[float]:
    """On one worker: ``threads`` threads each stepping ``elements`` float32 elements with the
    dask backend's chunk task, all at once; the wall time of each round, in seconds.

    Called twice: the first call makes the arrays and runs two untimed rounds (they fault in
    the pooled output buffers, which costs far more than a step) and returns []; the second
    times ``repeats`` rounds from the wall-clock time ``start_at`` (the same for every worker
    of a LocalCluster, whose calls otherwise start tens of milliseconds apart: their rounds
    must overlap as a step's tasks do) and frees everything.
    """
    import threading

    from kernbench._hyper import adam_scalars
    from kernbench.backends import _dask_kernels as D

    s = adam_scalars(LR, 0.9, 0.999, 3, 0.0, False)
    scalars = [s.step_size, s.bias_correction2_sqrt, 0.9, s.one_minus_beta1, 0.999,
               s.one_minus_beta2, 1e-8, 0.0, s.decay_factor]
    flags = [False, False, False, False]
    held = _WORKER_ARRAYS.get(dask_worker.address)
    if held is None:
        rng = np.random.default_rng(seed)
        held = ([(rng.standard_normal(elements, dtype=np.float32),
                  np.zeros(elements, np.float32), np.zeros(elements, np.float32), None)
                 for _ in range(threads)],
                [rng.standard_normal(elements, dtype=np.float32) for _ in range(threads)])
        _WORKER_ARRAYS[dask_worker.address] = held
        rounds, timed = 2, False
    else:
        del _WORKER_ARRAYS[dask_worker.address]
        rounds, timed = repeats, True
    states, grads = held
    if timed:
        time.sleep(max(0.0, start_at - time.time()))
    barrier = threading.Barrier(threads)
    times: list[float] = []

    def run(k: int) -> None:
        for _ in range(rounds):
            barrier.wait()
            start = time.perf_counter()
            states[k] = D.adam_chunk(states[k], grads[k], scalars, flags)  # noqa: F821 (del below)
            barrier.wait()
            if k == 0:
                times.append(time.perf_counter() - start)

    pool = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if not timed:
        return []
    del held, states, grads
    D.clear_pool()
    return times


def _adam_tasks(client, settings, workers: int, threads: int) -> dict:
    per_thread = -(-settings.elements // (workers * threads))
    args = (per_thread, threads, settings.repeats, settings.seed)
    client.run(_worker_adam_tasks, *args)  # arrays made, output buffers faulted in
    rounds = client.run(_worker_adam_tasks, *args, time.time() + 0.5)
    # the workers ran at the same time; a round ends when the slowest worker's ends
    samples = [max(r) for r in zip(*rounds.values())]
    return {"elements_per_thread": per_thread, **_summary(samples)}


def _one_cluster(workers: int, threads: int, settings, inputs, progress) -> tuple[dict, list]:
    import kernbench as kb
    from kernbench.backends import dask_backend

    client = dask_backend.local_cluster(workers, threads)
    try:
        with dask_backend.using(client):
            client.wait_for_workers(workers, timeout=120)
            be = kb.get_backend("dask")
            label = f"{workers}x{threads}"
            records = []
            for kernel, dtype in CASES:
                if progress:
                    progress(f"{label}: {kernel} {dtype}")
                measure = _measure_adam if kernel == "adam" else _measure_entropy
                rec = {"kernel": kernel, "dtype": dtype, "elements": settings.elements,
                       "workers": workers, "threads_per_worker": threads,
                       **measure(be, settings, inputs)}
                rec["dask_over_numba"] = rec["dask"]["median_s"] / rec["numba"]["median_s"]
                records.append(rec)
                be.release_buffers()
                gc.collect()
            if progress:
                progress(f"{label}: fixed cost and chunk tasks alone")
            cluster = {"workers": workers, "threads_per_worker": threads,
                       "cluster": dask_backend.cluster_info(client),
                       "small_step": _small_step(be, settings, workers * threads)}
            be.release_buffers()
            cluster["adam_tasks"] = _adam_tasks(client, settings, workers, threads)
            return cluster, records
    finally:
        client.close()
        client.cluster.close()


def run_scaling(settings: ScalingSettings, command: str = "",
                progress: Callable[[str], None] | None = None) -> dict:
    """Measure every cluster of ``settings``; return the JSON document (see module doc)."""
    import numba

    from kernbench.bench.probe import machine_info

    settings.validate()
    started = time.perf_counter()
    inputs = _inputs(settings)
    clusters, cases = [], []
    for workers, threads in settings.clusters:
        cluster, records = _one_cluster(workers, threads, settings, inputs, progress)
        clusters.append(cluster)
        cases += records
    machine = machine_info(numba.get_num_threads(), measure=False)
    machine.pop("gpu", None)
    return {"schema_version": SCHEMA_VERSION, "kind": KIND,
            "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command, "settings": settings.as_dict(), "machine": machine,
            "numba_threads": numba.get_num_threads(), "clusters": clusters, "cases": cases,
            "elapsed_s": time.perf_counter() - started}


__all__ = ["CASES", "KIND", "SCHEMA_VERSION", "ScalingSettings", "parse_clusters",
           "prepare_process_environment", "run_scaling"]
