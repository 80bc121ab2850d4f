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
(Adam params after the same steps, to the contract's float32 tolerance; entropy to 1e-9).

Two more figures per cluster explain where a dask step's time goes:

* ``small_step``: an Adam step over ``overhead_elements`` (1e4) elements in one chunk per
  worker thread: the fixed cost of a step (the scheduler round trip);
* ``adam_tasks``: the optimizer's chunk tasks alone, called on every worker at once on its
  share of the elements (``client.run``, no scheduler): what the kernel costs inside the
  workers. The dask backend writes each step's state into new buffers, so that a failed step
  leaves the old state intact; that moves more memory than numba's in-place update, and this
  figure shows by how much.

The result is a JSON document (:data:`KIND`, version :data:`SCHEMA_VERSION`) and a markdown
section (:func:`scaling_markdown`); ``kernbench dask-scaling`` writes both.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np

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
#: (rtol, atol) between the numba and dask Adam params: float32 backend vs backend.
ADAM_TOLERANCE = (1.3e-6, 1e-5)
ENTROPY_RTOL = 1e-9


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
    rtol, atol = ADAM_TOLERANCE
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
    return {"chunks": len(chunks[0]), "chunk_elements": int(max(chunks[0])), **summaries,
            "agree": bool(abs(a - b) <= ENTROPY_RTOL * abs(a)), "values": [a, b]}


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
    held = getattr(dask_worker, "_kernbench_adam_tasks", None)
    if held is None:
        rng = np.random.default_rng(seed)
        held = ([(rng.standard_normal(elements, dtype=np.float32),
                  np.zeros(elements, np.float32), np.zeros(elements, np.float32), None)
                 for _ in range(threads)],
                [rng.standard_normal(elements, dtype=np.float32) for _ in range(threads)])
        dask_worker._kernbench_adam_tasks = held
        rounds, timed = 2, False
    else:
        del dask_worker._kernbench_adam_tasks
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


# ---------------------------------------------------------------------------- the document

_TOP = ("schema_version", "kind", "command", "settings", "machine", "numba_threads", "clusters",
        "cases")
_CASE = ("kernel", "dtype", "elements", "workers", "threads_per_worker", "chunks", "numba",
         "dask", "dask_over_numba", "agree")
_CLUSTER = ("workers", "threads_per_worker", "cluster", "small_step", "adam_tasks")


def validate_scaling(doc) -> dict:
    """Check a scaling document's structure; return it, or raise ValueError saying where."""
    def need(obj, keys, where):
        if not isinstance(obj, dict):
            raise ValueError(f"{where} must be an object; got {type(obj).__name__}")
        missing = [k for k in keys if k not in obj]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)}")

    need(doc, _TOP, "dask scaling document")
    if doc["kind"] != KIND or doc["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"not a {KIND} document of version {SCHEMA_VERSION}: kind "
                         f"{doc['kind']!r}, version {doc['schema_version']!r}")
    for i, c in enumerate(doc["cases"]):
        need(c, _CASE, f"cases[{i}]")
        for side in ("numba", "dask"):
            need(c[side], ("median_s", "q1_s", "q3_s", "samples_s"), f"cases[{i}].{side}")
    for i, c in enumerate(doc["clusters"]):
        need(c, _CLUSTER, f"clusters[{i}]")
    return doc


def save_scaling(doc: dict, path) -> None:
    import json
    from pathlib import Path

    validate_scaling(doc)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def load_scaling(path) -> dict:
    import json
    from pathlib import Path

    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    try:
        return validate_scaling(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_scaling_readme(doc: dict, out):
    """``out/README.md``: the scaling section as a page of its own; returns its path."""
    from pathlib import Path

    readme = Path(out) / "README.md"
    readme.parent.mkdir(parents=True, exist_ok=True)
    command = doc.get("command") or "kernbench dask-scaling"
    readme.write_text("# kernbench: the dask backend's scaling\n\n"
                      f"Written by `{command}` with its results file `results.json`; every "
                      "figure below comes from that file.\n\n"
                      + scaling_markdown(doc, level=2) + "\n")
    return readme


def _msec(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}"


def _ms(summary: dict) -> str:
    """``median ms (q1-q3)``, three significant digits below 100 ms; ``~``: noisy."""
    mark = " ~" if summary.get("noisy") else ""
    return (f"{_msec(summary['median_s'])} ms ({_msec(summary['q1_s'])}-"
            f"{_msec(summary['q3_s'])}){mark}")


def _elements(n: int) -> str:
    exp = int(math.floor(math.log10(n))) if n > 0 else 0
    return f"1e{exp}" if n == 10**exp else f"{n:,}"


def _row(c: dict, base: dict | None) -> list[str]:
    speedup = (f"{base['dask']['median_s'] / c['dask']['median_s']:.2f}x"
               if base is not None else "-")
    check = "" if c["agree"] else " (results differ!)"
    return [c["kernel"], c["dtype"], _elements(c["elements"]),
            f"{c['workers']} x {c['threads_per_worker']}", str(c["chunks"]), _ms(c["numba"]),
            _ms(c["dask"]), f"**{c['dask_over_numba']:.2f}x**{check}", speedup]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def scaling_markdown(doc: dict, level: int = 2) -> str:
    """The scaling section: the table, where a step's time goes, and what it means."""
    h = "#" * level
    cases = doc["cases"]
    first = {}
    for c in cases:
        first.setdefault((c["kernel"], c["dtype"]), c)
    rows = []
    for kernel, dtype in CASES:
        for c in (c for c in cases if (c["kernel"], c["dtype"]) == (kernel, dtype)):
            base = first[(kernel, dtype)]
            rows.append(_row(c, base if base is not c else None))
    m = doc.get("machine", {})
    parts = [f"{h} Dask scaling", "",
             f"`{doc.get('command') or 'kernbench dask-scaling'}` on {m.get('cpu_model')} "
             f"({m.get('logical_cpus')} logical CPUs), {doc.get('created_utc', '?')}, "
             f"git {m.get('git', {}).get('commit', '?')}"
             f"{' (with local changes)' if m.get('git', {}).get('dirty') else ''}. "
             f"numba runs in the measuring process on {doc['numba_threads']} threads; each "
             "dask cluster is a LocalCluster of worker processes started for the measurement, "
             "with one numba thread per task. Times are medians (quartiles) of "
             f"{doc['settings']['repeats']} calls sampled alternately with numba's after "
             f"{doc['settings']['warmup']} warm-up calls, each call after the previous one's "
             "trailing work is done and a short quiet; `~` marks a noisy median. Inputs "
             "live on the workers before the timing (chunks scattered over them in turn, "
             "grads beside their params), as a model and its grads do on a cluster.", "",
             _table(["kernel", "dtype", "elements", "workers x threads", "chunks", "numba",
                     "dask", "dask / numba", "dask vs first row"], rows), ""]
    spread = []
    for kernel, _ in CASES:
        medians = [c["numba"]["median_s"] for c in cases if c["kernel"] == kernel]
        if len(medians) > 1:
            spread.append(f"{kernel} {_msec(min(medians))} to {_msec(max(medians))} ms")
    if spread:
        parts += ["numba's own medians differ from cluster to cluster (" + ", ".join(spread)
                  + "): its threads share the cores with the idle cluster beside it and with "
                  "whatever else runs on the machine, so read the dask times themselves too.",
                  ""]
    crow = []
    adam = {(c["workers"], c["threads_per_worker"]): c for c in cases if c["kernel"] == "adam"}
    for cl in doc["clusters"]:
        key = (cl["workers"], cl["threads_per_worker"])
        step = adam.get(key)
        tasks = cl["adam_tasks"]["median_s"]
        if step:
            crow.append([f"{key[0]} x {key[1]}", _ms(step["dask"]), _ms(cl["small_step"]),
                         _ms(cl["adam_tasks"]),
                         f"{tasks / step['numba']['median_s']:.2f}x"])
    parts += [f"{h}# Where a dask Adam step's time goes", "",
              f"The fixed cost is an Adam step over "
              f"{_elements(doc['settings']['overhead_elements'])} "
              "elements (one scheduler round trip). The chunk tasks alone are the step's own "
              "task function run on every worker at once on its share of the elements, "
              "without the scheduler, all starting at the same moment; beside them, their "
              "ratio to numba's in-place step. The three are measured apart, so they carry "
              "the machine's noise separately: they show the shares, they do not add up to "
              "the millisecond.", "",
              _table(["workers x threads", "whole step", "fixed cost per step",
                      "chunk tasks alone", "tasks / numba"], crow), ""]
    parts += [f"{h}# What it means for a real cluster", "", _meaning(doc), ""]
    return "\n".join(parts)


def _meaning(doc: dict) -> str:
    """The closing paragraph, with this document's own figures."""
    cases = {(c["kernel"], c["workers"], c["threads_per_worker"]): c for c in doc["cases"]}
    clusters = {(c["workers"], c["threads_per_worker"]): c for c in doc["clusters"]}
    widest = max(clusters, key=lambda k: (k[0] * k[1], k[0]))
    adam, ent = cases.get(("adam", *widest)), cases.get(("entropy", *widest))
    cl = clusters[widest]

    def label(key):
        w, t = key
        return f"{w} worker{'s' if w > 1 else ''} x {t} thread{'s' if t > 1 else ''}"

    text = ["On one machine the workers share the cores and the memory bus that numba's threads "
            "use, so dask can at best match numba there; the ratios are the price of running "
            "through a scheduler (a ratio below 1 is noise in numba's medians)."]
    if adam:
        text.append(
            f"At {label(widest)}, an Adam step costs {adam['dask_over_numba']:.2f}x numba's "
            f"({_msec(adam['dask']['median_s'])} ms): the chunk tasks alone take "
            f"{_msec(cl['adam_tasks']['median_s'])} ms (they write each step's state to new "
            "buffers, so that a step that fails, a worker lost mid-step, leaves the old state "
            "intact and retriable), and a step of any size pays about "
            f"{_msec(cl['small_step']['median_s'])} ms of scheduling.")
    if ent:
        text.append(f"Entropy costs {ent['dask_over_numba']:.2f}x "
                    f"({_msec(ent['dask']['median_s'])} ms).")
    one = (1, 1)
    if widest != one and ("adam", *one) in cases and adam and ent and ("entropy", *one) in cases:
        text.append(
            f"From {label(one)} to {label(widest)} on this machine, the Adam step goes from "
            f"{_msec(cases[('adam', *one)]['dask']['median_s'])} to "
            f"{_msec(adam['dask']['median_s'])} ms (it moves bytes, and one thread already "
            "draws most of what the memory bus gives) and entropy from "
            f"{_msec(cases[('entropy', *one)]['dask']['median_s'])} to "
            f"{_msec(ent['dask']['median_s'])} ms (it computes more per byte).")
    same = [k for k in clusters if k != widest and k[0] * k[1] == widest[0] * widest[1]]
    if adam and same and ("adam", *same[0]) in cases:
        other = cases[("adam", *same[0])]
        close = other["dask"]["median_s"] <= 1.15 * adam["dask"]["median_s"]
        text.append(
            f"{label(same[0])} steps in {_msec(other['dask']['median_s'])} ms against "
            f"{_msec(adam['dask']['median_s'])} ms: the compiled chunk functions release the "
            "GIL, so " + ("a worker's threads serve as well as processes, which only add "
                          "isolation." if close else "threads could serve as well, yet "
                          "processes were faster in this run."))
    per_worker = doc["settings"]["elements"] // widest[0]
    text.append(
        "On a real cluster each worker brings its own cores and memory bandwidth, so a step "
        "over N elements on W machines takes about the chunk-task time for N/W elements plus "
        "the fixed round trip: the state of a model that does not fit one machine is stepped "
        "at the machines' combined bandwidth, as long as each worker's share takes well over "
        f"the round trip (here {_msec(cl['adam_tasks']['median_s'])} ms of chunk tasks "
        f"for {_elements(per_worker)} elements per worker against "
        f"{_msec(cl['small_step']['median_s'])} ms of fixed cost), and as long as the "
        "grads are produced where their params live. Grads shipped to their params' workers "
        f"every step would add a network transfer of their size to each step: "
        f"{per_worker * 4 / 1e9:.1f} GB of float32 grads per worker here, "
        f"{per_worker * 4 * 8 / 10e9:.2f} s at 10 Gbit/s.")
    return " ".join(text)


__all__ = ["CASES", "KIND", "SCHEMA_VERSION", "ScalingSettings", "load_scaling",
           "parse_clusters", "run_scaling", "save_scaling", "scaling_markdown",
           "validate_scaling", "write_scaling_readme"]
