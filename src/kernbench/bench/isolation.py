"""Contestants that must not share a process: torch's host peers timed in a worker process.

numba's ``omp`` threading layer and torch's bundled libgomp are two OpenMP runtimes. In one
process, on a machine with as many cores as threads, each runtime's idle threads spin-wait on
the cores the other's workers need. Setting ``OMP_WAIT_POLICY=PASSIVE`` for the whole process
stops the spinning, but then every torch call pays a thread wake-up (per tensor, in torch's
multi-tensor optimizers), which handicaps torch and not numba. So no process-wide setting is
made: torch's host peers run in a worker process of their own, under torch's defaults, and the
runner's process never computes with torch.

The worker is a ``multiprocessing`` child (spawned, so it inherits no runtime state) that
makes each case's inputs itself from the same seed, validates its targets against the numpy
backend, warms them up and then takes one sample at a time when asked. The runner asks for
those samples inside its round-robin loop (:func:`kernbench.bench.timing.sample_interleaved`),
so the worker's targets are interleaved with the runner's in batches of :data:`BATCH` samples
(each sample a series of calls lasting about ``target_sample_s``), and sample ``i`` of every
target of a case still comes from round ``i`` give or take a batch. Requests and replies
travel outside the timed region.

pyperf's worker model (one process per benchmark, values collected over fresh processes)
cannot interleave contestants of one case batch by batch, which is what pairs their samples
by round; so this is a small pipe protocol instead.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from typing import Any

from kernbench.bench import peers as pr

#: Libraries whose host peers are timed in a worker process of their own (a second OpenMP
#: runtime that must not share a process with numba's).
ISOLATED_LIBRARIES = ("torch",)


def isolation_group(target: str, kind: str) -> str | None:
    """The worker a target is timed in, or None for the runner's own process."""
    if kind != "peer" or pr.peer_device(target) is not None:
        return None
    library = pr.peer_library(target)
    return library if library in ISOLATED_LIBRARIES else None


def process_settings() -> dict:
    """The settings a process's contestants run under: its threads, OpenMP environment and,
    for the libraries it has loaded, their threading."""
    import sys

    env = {name: os.environ.get(name) for name in
           ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "NUMBA_NUM_THREADS",
            "NUMBA_THREADING_LAYER", "MKL_NUM_THREADS", "KERNBENCH_NUMBA_RUNTIME")}
    settings: dict[str, Any] = {"pid": os.getpid(),
                                "environment": {k: v for k, v in env.items() if v is not None}}
    if "numba" in sys.modules:
        import numba

        settings["numba_threads"] = numba.get_num_threads()
        try:
            settings["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel region has run yet
            settings["numba_threading_layer"] = None
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        settings["torch_threads"] = torch.get_num_threads()
        settings["torch_interop_threads"] = torch.get_num_interop_threads()
    return settings


#: Samples a worker takes per request: the runner's targets and the worker's alternate in
#: batches of this many rounds, so that the idle OpenMP threads of one process, spinning for a
#: moment after its last parallel region, meet the other's work once per batch, not per sample.
BATCH = 5


class RemoteClock:
    """A Contestant's clock whose samples a worker takes, :data:`BATCH` at a time: each call of
    ``time_calls`` hands out the next one, asking for a new batch when none is left."""

    timer = "host"
    on_device = False
    resets_itself = True  # the worker resets its own copy of the case between runs of calls

    def __init__(self, worker: Worker, name: str, batch: int = BATCH):
        self.worker, self.name, self.batch = worker, name, batch
        self._queue: list = []
        self._number: int | None = None

    def time_calls(self, fn, number: int) -> float:
        if not self._queue or number != self._number:
            self._number = number
            self._queue = list(self.worker.sample(self.name, number, self.batch))
        return self._queue.pop(0)

    def one_at_a_time(self) -> None:
        """Drop the batch in hand and take single samples from now on (cold samples, each
        after a flush of the caches)."""
        self._queue, self.batch = [], 1


class Worker:
    """A worker process for one isolation group; every call waits for its answer."""

    def __init__(self, group: str, threads: int, environment: dict | None = None):
        ctx = multiprocessing.get_context("spawn")
        self.group = group
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, group, threads, environment),
                                    daemon=True, name=f"kernbench-{group}-worker")
        self._process.start()
        child.close()
        self.settings = self._ask("settings")

    def _ask(self, *message):
        self._conn.send(message)
        status, value = self._conn.recv()
        if status == "error":
            raise RuntimeError(value)
        return value

    def prepare(self, kernel: str, shape: tuple, dtype: str, seed: int,
                targets: list[str], policy) -> dict:
        """Make the case, validate and warm up ``targets``: ``{target: (status, why,
        max_err, first_s, number)}``."""
        return self._ask("prepare", kernel, tuple(shape), dtype, seed, list(targets), policy)

    def sample(self, target: str, number: int, count: int = 1) -> list[float]:
        """Seconds per call of ``count`` samples of ``number`` calls, taken in the worker."""
        return self._ask("sample", target, number, count)

    def release(self) -> None:
        self._ask("release")

    def close(self) -> None:
        try:
            self._conn.send(("close",))
        except (OSError, BrokenPipeError):
            pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()


class Workers:
    """The run's worker processes, started on first use, one per isolation group."""

    def __init__(self, threads: int):
        self.threads = threads
        self._workers: dict[str, Worker] = {}
        # the environment of the run's start: starting a dask cluster sets OMP_NUM_THREADS=1
        # and the like in this process's environment (for its worker processes), which a
        # worker started later must not inherit
        self.environment = dict(os.environ)

    def get(self, group: str) -> Worker:
        if group not in self._workers:
            self._workers[group] = Worker(group, self.threads, self.environment)
        return self._workers[group]

    def settings(self) -> dict:
        return {group: w.settings for group, w in self._workers.items()}

    def discard(self, group: str) -> None:
        """Stop a worker that misbehaved; the next case starts a fresh one."""
        worker = self._workers.pop(group, None)
        if worker is not None:
            worker.close()

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()


def _serve(conn, group: str, threads: int, environment: dict | None = None) -> None:
    """The worker's loop: answer ``(status, value)`` to each request until ``close``.
    ``environment`` replaces the inherited one before any library of the group is loaded."""
    if environment is not None:
        os.environ.clear()
        os.environ.update(environment)
    from kernbench.bench import runner as rn
    from kernbench.bench.timing import Contestant, collect_and_freeze, time_sample, warm_up
    from kernbench.bench.workloads import WORKLOADS

    if group == "torch":
        pr.set_torch_threads(threads)
    case, calls, numbers = None, {}, {}
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        verb, args = message[0], message[1:]
        try:
            if verb == "close":
                return
            if verb == "settings":
                if group == "torch":
                    pr.torch()
                conn.send(("ok", process_settings()))
            elif verb == "prepare":
                kernel, shape, dtype, seed, targets, policy = args
                case, calls, numbers = WORKLOADS[kernel].make(shape, dtype, seed), {}, {}
                try:
                    reference, reference_error = case.check_value(rn.REFERENCE_BACKEND), None
                except Exception as exc:
                    reference, reference_error = None, rn._error_text(exc)
                answers = {}
                for target in targets:
                    status, why, max_err = rn._validate(case, target, "peer", dtype, reference,
                                                        reference_error)
                    first = number = None
                    if status == "ok":
                        try:
                            fn = case.call(target, warm=False)
                            first, _, number = warm_up(fn, policy, case.needs_reset, case.reset)
                            calls[target], numbers[target] = fn, number
                        except TimeoutError as exc:
                            status, why = "timeout", str(exc)
                        except Exception as exc:
                            status, why = "failed", rn._error_text(exc)
                    answers[target] = (status, why, max_err, first, number)
                conn.send(("ok", answers))
            elif verb == "sample":
                target, number, count = args
                seconds = []
                gc.disable()  # as in the runner's own sampling
                try:
                    timed = Contestant(target, calls[target], number, [])
                    for _ in range(count):
                        seconds.append(time_sample(timed, case.reset, case.needs_reset,
                                                   case.calls_per_reset))
                finally:
                    gc.enable()
                conn.send(("ok", seconds))
            elif verb == "release":
                case, calls, numbers = None, {}, {}
                collect_and_freeze()
                conn.send(("ok", None))
            else:
                conn.send(("error", f"unknown request {verb!r}"))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
