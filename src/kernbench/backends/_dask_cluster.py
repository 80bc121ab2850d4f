"""The dask backend's cluster and client: which client computes, the LocalCluster kernbench
starts (lazily, on the first kernel call) and closes at exit, and what it knows about each client.

The state is one :class:`_Session` record (the client in use and what this module started) and a
side table of :class:`ClientRecord` keyed weakly by client; nothing is set on dask's objects.
The module imports without dask: ``distributed`` is imported where a client is made.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import dataclasses
import os
import threading
import weakref

import numpy as np


@dataclasses.dataclass
class _Session:
    """The client in use (embedded, from the env address, or use_client) and the clients and
    clusters this module started, which it closes at exit."""

    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)
    client: object = None
    owned: list = dataclasses.field(default_factory=list)
    closes_at_exit: bool = False


@dataclasses.dataclass
class ClientRecord:
    """What the backend knows about one client."""

    #: The client of the LocalCluster kernbench started itself.
    embedded: bool = False
    #: Task threads of its cluster, asked once (None until a worker answered).
    threads: int | None = None


_session = _Session()
_records: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def record(client) -> ClientRecord:
    """The record of ``client``, made on first use; it goes when the client does."""
    with _session.lock:
        rec = _records.get(client)
        if rec is None:
            rec = _records[client] = ClientRecord()
        return rec


def current_client():
    """The client in use, or None when none was chosen or started yet (starts nothing)."""
    return _session.client


def owned() -> list:
    """The clients and clusters this module started and will close at exit."""
    with _session.lock:
        return list(_session.owned)


def _own(*objects) -> None:
    with _session.lock:
        _session.owned.extend(objects)
        if not _session.closes_at_exit:
            atexit.register(close_owned)
            _session.closes_at_exit = True


def close_owned() -> None:
    """Close every client and cluster this module started (at exit)."""
    with _session.lock:
        objects = list(_session.owned)
        _session.owned.clear()
        if _session.client is not None and any(_session.client is o for o in objects):
            _session.client = None
    for obj in objects:
        try:
            obj.close()
        except Exception:
            pass


def use_client(client) -> None:
    """Compute on ``client`` (a ``distributed.Client``) from now on; None goes back to default."""
    with _session.lock:
        _session.client = client


def get_client():
    """The client the backend computes with, starting the embedded LocalCluster if needed."""
    import distributed

    with _session.lock:
        c = _session.client
        if c is not None and c.status not in ("closing", "closed"):
            return c
        address = os.environ.get("KERNBENCH_DASK_SCHEDULER")
        if address:
            c = distributed.Client(address)
            _own(c)
        else:
            c = _start_local_cluster()
        _session.client = c
        return c


def connect(address):
    """A client of the scheduler at ``address``, in use from now on and closed at exit."""
    import distributed

    client = distributed.Client(address)
    _own(client)
    use_client(client)
    return client


def _start_local_cluster():
    workers = int(os.environ.get("KERNBENCH_DASK_WORKERS", "2"))
    processes = os.environ.get("KERNBENCH_DASK_PROCESSES", "1") not in ("0", "false", "no")
    client = local_cluster(workers, processes=processes)
    record(client).embedded = True
    _own(client, client.cluster)
    return client


def local_cluster(workers: int, threads_per_worker: int = 1, processes: bool = True):
    """A ``distributed.Client`` on a new LocalCluster set up as the embedded one.

    Each worker runs ``threads_per_worker`` task threads and one numba thread per task (the
    chunk kernels run serially: Dask's tasks are the parallelism, so numba's own thread
    pool would only oversubscribe the cores). The caller closes it: ``client.close()`` and
    ``client.cluster.close()``.
    """
    import logging

    import distributed

    for value, name in ((workers, "workers"), (threads_per_worker, "threads_per_worker")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    # Logs up to CRITICAL are silenced: task errors reach the caller through the client, and
    # the workers' heartbeat complaints while the cluster closes at exit are noise.
    cluster = distributed.LocalCluster(
        n_workers=int(workers), threads_per_worker=int(threads_per_worker),
        processes=processes, dashboard_address=":0", silence_logs=logging.CRITICAL,
        **({"env": {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}} if processes else {}))
    return distributed.Client(cluster)


@contextlib.contextmanager
def using(client):
    """Compute on ``client`` inside the block, then on whatever was in use before."""
    with _session.lock:
        previous = _session.client
        _session.client = client
    try:
        yield client
    finally:
        with _session.lock:
            _session.client = previous


def threads(client) -> int:
    """Task threads of ``client``'s cluster (asked once per client)."""
    rec = record(client)
    if rec.threads is None:
        n = sum(client.nthreads().values())
        if n < 1:  # no worker yet: assume one, ask again next time
            return 1
        rec.threads = n
    return rec.threads


def cluster_info(client=None) -> dict:
    """The size of the cluster the backend computes on (default: its current client).

    ``{"scheduler", "workers", "threads", "threads_per_worker", "memory_limit_bytes",
    "worker_processes", "embedded"}``; ``embedded`` is true for the LocalCluster kernbench
    started itself.
    """
    client = client or get_client()
    info = client.scheduler_info()
    workers = info.get("workers", {})
    nthreads = [int(w.get("nthreads", 0)) for w in workers.values()]
    rec = _records.get(client)
    return {
        "scheduler": info.get("address"),
        "workers": len(workers),
        "threads": sum(nthreads),
        "threads_per_worker": sorted(set(nthreads)),
        "memory_limit_bytes": sorted({int(w.get("memory_limit") or 0)
                                      for w in workers.values()}),
        "worker_processes": not any(str(a).startswith("inproc") for a in workers),
        "embedded": bool(rec is not None and rec.embedded),
    }


def failure(futures) -> BaseException | None:
    """Wait for ``futures``; None if all finished, else the first failure as an exception.

    A failed task's exception is returned as a copy: raising the original would chain this
    call's frames, which hold the futures, into the exception the client keeps for those very
    futures, and that cycle through the client would pin the failed tasks (and the state they
    read) in the cluster for the client's lifetime.
    """
    import distributed

    distributed.wait(futures)
    for f in futures:
        if f.status == "error":
            exc, tb = f.exception(), f.traceback()
            try:
                error = copy.copy(exc)
            except Exception:
                error = RuntimeError(f"dask task {f.key} failed: {exc!r}")
            return error.with_traceback(tb)
        if f.status != "finished":
            return RuntimeError(f"dask task {f.key} ended as {f.status!r}")
    return None


__all__ = ["ClientRecord", "cluster_info", "connect", "current_client", "failure",
           "get_client", "local_cluster", "owned", "record", "threads", "use_client", "using"]
