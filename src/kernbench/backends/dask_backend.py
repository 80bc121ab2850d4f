"""The ``dask`` backend: the numba kernels over ``dask.array`` chunks on a Dask cluster.

Where it computes
    With no address, a ``distributed.LocalCluster`` (``KERNBENCH_DASK_WORKERS`` workers, default
    2, one thread each, worker processes unless ``KERNBENCH_DASK_PROCESSES=0``) is started lazily
    on the first kernel call, never at import or at ``get_backend`` (``available_backends()``
    instantiates every backend), and closed at exit. ``KERNBENCH_DASK_SCHEDULER=<address>``,
    :func:`use_client` (or the block ``with using(client):``) or :meth:`DaskBackend.connect`
    use an existing cluster instead; :func:`local_cluster` starts one of a chosen size, and
    :func:`cluster_info` says how big the one in use is.

Arrays
    Information functions take dask arrays or anything NumPy takes; a NumPy input becomes a dask
    array cut into chunks by :meth:`DaskBackend.chunks_for`: chunks of at most ``chunk_bytes``
    (``DaskBackend(chunk_bytes=...)``, env ``KERNBENCH_DASK_CHUNK``, default 256 MiB), cut
    along the first axis into a multiple of the cluster's threads, and an array smaller than
    one chunk is still cut into ``split`` (3) or more pieces along its longest axis, so that
    small inputs exercise the cross-chunk combination too. Reductions return NumPy (values
    float64 (R,), status int8 (R,)); row-wise and elementwise results are dask arrays, computed
    and persisted in the cluster before the kernel returns.

Optimizers
    Params given as dask arrays stay dask arrays: every step builds one task per chunk that
    calls a compiled numba kernel on the aligned chunks of param, grad and state (state is
    created with the param's chunks; a grad with other chunks is rechunked to them) and
    returns the chunk's whole new state as one tuple; the step waits for those tasks. The
    arrays the optimizer holds (``opt.params`` and the state) are persisted views of that
    tuple, and the next step's task reads the tuple itself, so a step is one round of tasks
    and one scheduler round trip. The first step makes the zero state inside the chunk tasks,
    so the state is born on the worker that holds the param chunk and stays there: give the
    grads the params' chunks and placement, and a step moves no chunk between workers. Adam
    and AdamW step every param in one graph. Params given as NumPy arrays keep their meaning
    everywhere else in kernbench: they are updated in place (the new values are gathered into
    them after the step), while the state stays in the cluster; NumPy grads and params travel
    inside the tasks. Chunk outputs come from a worker-side buffer pool (see
    :mod:`kernbench.backends._dask_kernels`), so the steady state allocates nothing, yet the
    previous step's chunks are never overwritten: a failed step leaves the optimizer as it was.

    That guarantee moves more memory than an in-place update (each output line is read
    before it is written); ``kernbench dask-scaling`` times the chunk tasks alone against
    numba's in-place step, and the whole step against both (``reports/dask-scaling``).

Known limits
    * Adam and AdamW steps are atomic across params (one graph, one wait); an SGD step is
      atomic per param: with several params, a failure in the k-th param's kernel leaves the
      params before it stepped.
    * Recovery from a lost worker relies on Dask's lineage, so the scheduler keeps the task
      records of every earlier step (one per chunk per step), and NumPy grads or params,
      which enter the graph as data, stay in those records: long runs grow the scheduler's
      memory (measured: +600 MiB after 15 steps of a 2e6-element float64 NumPy param with
      NumPy grads). So every ``checkpoint_every`` (64) steps the state is gathered and sent
      back as fresh data (:meth:`DaskBackend._checkpoint`), which bounds the history at the
      price of one round trip of the state through the client.
    * Pooled buffers stay on the workers after an optimizer is dropped (as many as its last
      steps used, per chunk size); :meth:`DaskBackend.release_buffers` frees them.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import operator
import os
import threading
import uuid

import numpy as np

from kernbench.backends import Backend

try:  # the module must import without dask: unavailable_reason() then says what to install
    import dask
    import dask.array as da
    import distributed
    from dask.highlevelgraph import HighLevelGraph
    from distributed import futures_of

    try:
        from dask._task_spec import Alias as _Alias
    except ImportError:  # pragma: no cover - dask before its task spec: nothing to resolve
        class _Alias:
            pass
except ImportError as _exc:  # pragma: no cover - exercised where dask is missing
    _MISSING = _exc.name or "dask"
else:
    _MISSING = None

#: Default bytes per chunk. Every chunk is a task per step and its own scheduling, so fewer,
#: larger chunks win as long as every worker thread gets the same share (chunks_for cuts
#: them so). Measured on the 2-core machine, 2 workers, 1e8 elements, medians of 3 rounds of
#: 7 calls sampled in turn: Adam float32 step 110 ms at 64 MiB (6 chunks), 105 ms at 256 MiB
#: (2); entropy float64 105 / 91 ms (12 / 4 chunks).
DEFAULT_CHUNK_BYTES = 256 * 2**20
#: An array smaller than one chunk is still cut into up to this many pieces per axis.
DEFAULT_SPLIT = 3
#: Reductions fetch up to this many partial sums per row and add them on the client; more
#: are first combined on the cluster, in a tree of this fan-in.
FAN_IN = 32
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# ---------------------------------------------------------------------------- the client

_lock = threading.RLock()
_client = None          # the client in use (embedded, from the env address, or use_client)
_owned = []             # [client, cluster] that this module started and must close


def _close_owned() -> None:
    global _client
    with _lock:
        owned = list(_owned)
        _owned.clear()
        if _client is not None and any(_client is o for o in owned):
            _client = None
    for obj in owned:
        try:
            obj.close()
        except Exception:
            pass


atexit.register(_close_owned)


def use_client(client) -> None:
    """Compute on ``client`` (a ``distributed.Client``) from now on; None goes back to default."""
    global _client
    with _lock:
        _client = client


def get_client():
    """The client the backend computes with, starting the embedded LocalCluster if needed."""
    global _client
    with _lock:
        c = _client
        if c is not None and c.status not in ("closing", "closed"):
            return c
        address = os.environ.get("KERNBENCH_DASK_SCHEDULER")
        if address:
            c = distributed.Client(address)
            _owned.append(c)
        else:
            c = _start_local_cluster()
        _client = c
        return c


def _start_local_cluster():
    workers = int(os.environ.get("KERNBENCH_DASK_WORKERS", "2"))
    processes = os.environ.get("KERNBENCH_DASK_PROCESSES", "1") not in ("0", "false", "no")
    client = local_cluster(workers, processes=processes)
    client._kernbench_embedded = True
    _owned.extend([client, client.cluster])
    return client


def local_cluster(workers: int, threads_per_worker: int = 1, processes: bool = True):
    """A ``distributed.Client`` on a new LocalCluster set up as the embedded one.

    Each worker runs ``threads_per_worker`` task threads and one numba thread per task (the
    chunk kernels run serially: Dask's tasks are the parallelism, so numba's own thread
    pool would only oversubscribe the cores). The caller closes it: ``client.close()`` and
    ``client.cluster.close()``.
    """
    import logging

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
    global _client
    with _lock:
        previous = _client
        _client = client
    try:
        yield client
    finally:
        with _lock:
            _client = previous


def cluster_info(client=None) -> dict:
    """The size of the cluster the backend computes on (default: its current client).

    ``{"scheduler", "workers", "threads", "threads_per_worker", "memory_limit_bytes",
    "worker_processes", "embedded"}``; ``embedded`` is true for the LocalCluster kernbench
    started itself.
    """
    client = client or get_client()
    info = client.scheduler_info()
    workers = info.get("workers", {})
    threads = [int(w.get("nthreads", 0)) for w in workers.values()]
    return {
        "scheduler": info.get("address"),
        "workers": len(workers),
        "threads": sum(threads),
        "threads_per_worker": sorted(set(threads)),
        "memory_limit_bytes": sorted({int(w.get("memory_limit") or 0)
                                      for w in workers.values()}),
        "worker_processes": not any(str(a).startswith("inproc") for a in workers),
        "embedded": bool(getattr(client, "_kernbench_embedded", False)),
    }


# ---------------------------------------------------------------------------- helpers

def _kern():
    from kernbench.backends import _dask_kernels

    return _dask_kernels


class _StepPlan:
    """One param's step before it is sent: its chunk tasks (``shard``) and the arrays the
    optimizer adopts (``views``: param and state, None where a state entry is absent)."""

    __slots__ = ("depth", "host", "param", "shard", "views")

    def __init__(self, param, host, shard, views, depth):
        self.param, self.host, self.shard = param, host, shard
        self.views, self.depth = views, depth


def _failure(futures) -> BaseException | None:
    """Wait for ``futures``; None if all finished, else the first failure as an exception.

    A failed task's exception is returned as a copy: raising the original would chain this
    call's frames, which hold the futures, into the exception the client keeps for those very
    futures, and that cycle through the client would pin the failed tasks (and the state they
    read) in the cluster for the client's lifetime.
    """
    import copy

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


def _offsets(chunks) -> list:
    return [np.concatenate([[0], np.cumsum(c)]).astype(int) for c in chunks]


class DaskBackend(Backend):
    name = "dask"

    def __init__(self, chunk_bytes=None, split=DEFAULT_SPLIT, checkpoint_every=None):
        if chunk_bytes is None:
            env = os.environ.get("KERNBENCH_DASK_CHUNK")
            chunk_bytes = dask.utils.parse_bytes(env) if env else DEFAULT_CHUNK_BYTES
        self.chunk_bytes = int(chunk_bytes)
        self.split = int(split)
        #: Every this many steps on the same state, the state is re-entered from the client
        #: (:meth:`_checkpoint`) so the scheduler's history stays bounded; 0 never does.
        self.checkpoint_every = int(checkpoint_every if checkpoint_every is not None else
                                    os.environ.get("KERNBENCH_DASK_CHECKPOINT", "64"))
        #: Graphs this backend has sent to the cluster (persist or compute calls).
        self.submissions = 0

    # ------------------------------------------------------------------ plumbing
    @classmethod
    def unavailable_reason(cls):
        if _MISSING:
            return (f"{_MISSING} is not installed; install the dask backend with "
                    'pip install "kernbench[dask]"')
        return None

    @classmethod
    def connect(cls, address):
        """Compute on the cluster whose scheduler is at ``address``; returns the client."""
        client = distributed.Client(address)
        with _lock:
            _owned.append(client)
        use_client(client)
        return client

    def release_buffers(self) -> None:
        """Drop the workers' pooled chunk buffers (kept for reuse by the next optimizer step)."""
        self.client.run(_kern().clear_pool)

    @property
    def client(self):
        return get_client()

    def threads(self) -> int:
        """Task threads of the cluster in use (asked once per client)."""
        client = self.client
        n = getattr(client, "_kernbench_threads", None)
        if n is None:
            n = sum(client.nthreads().values())
            if n < 1:  # no worker yet: assume one, ask again next time
                return 1
            client._kernbench_threads = n
        return n

    def _pieces(self, n: int, blocks: int) -> tuple:
        """n cut into a multiple of the cluster's threads, at least ``blocks``, of equal
        sizes (within one): every thread gets the same work."""
        threads = self.threads()
        k = min(max(n, 1), -(-max(blocks, 1) // threads) * threads)
        return tuple(n // k + (1 if i < n % k else 0) for i in range(k)) if n else (0,)

    def chunks_for(self, shape, dtype) -> tuple:
        """The chunks a NumPy array of this shape and dtype gets (normalized).

        Blocks of at most ``chunk_bytes``, as dask's ``"auto"`` makes them, but the first
        axis (the longest, for an array of at most ``chunk_bytes``) is cut into equal pieces
        so that the number of blocks is a multiple of the cluster's threads: with 2 threads, a
        400 MB array in 256 MiB blocks is 2 x 200 MB, not 256 + 144 MB.
        """
        shape = tuple(int(n) for n in shape)
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if not shape:
            return ()
        if nbytes <= self.chunk_bytes:
            # small: only the longest axis is cut (few tasks, yet reductions cross chunks)
            longest = int(np.argmax(shape))
            return tuple(self._pieces(n, self.split) if i == longest else (n,)
                         for i, n in enumerate(shape))
        auto = da.core.normalize_chunks("auto", shape, limit=self.chunk_bytes, dtype=dtype)
        others = math.prod(len(c) for c in auto[1:])
        step = self.threads() // math.gcd(self.threads(), others)
        # blocks along axis 0: at least auto's, a multiple of step (so, of the threads)
        k = min(shape[0], -(-len(auto[0]) // step) * step)
        return (tuple(shape[0] // k + (1 if i < shape[0] % k else 0) for i in range(k)),
                *auto[1:])

    def _row_blocks(self, rows: int, row_bytes: int) -> tuple:
        """Blocks of whole rows: about chunk_bytes each, in a multiple of the threads."""
        if rows * row_bytes <= self.chunk_bytes:
            return self._pieces(rows, self.split)
        return self._pieces(rows, -(-rows // max(1, self.chunk_bytes // max(1, row_bytes))))

    def scatter(self, a, chunks=None):
        """A persisted dask array holding a copy of NumPy array ``a``, its chunks sent now to
        the workers in turn (block i to worker i mod W, workers in address order), so that
        work on it spreads evenly. ``chunks`` as in ``dask.array`` (default: chunks_for).

        Arrays of the same shape and chunks scattered on the same workers are placed alike:
        params and grads made this way meet on one worker per chunk.
        """
        a = np.asarray(a)
        chunks = da.core.normalize_chunks(
            chunks if chunks is not None else self.chunks_for(a.shape, a.dtype), a.shape,
            dtype=a.dtype)
        client = self.client
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise RuntimeError("the dask cluster has no workers to scatter to")
        name = f"kernbench-scatter-{uuid.uuid4().hex}"
        offsets = _offsets(chunks)
        by_worker: dict = {}
        for n, idx in enumerate(np.ndindex(*(len(c) for c in chunks))):
            piece = a[tuple(slice(o[i], o[i + 1]) for o, i in zip(offsets, idx))]
            by_worker.setdefault(workers[n % len(workers)], {})[(name,) + idx] = \
                np.array(piece, copy=True, order="C")
        futures = {}
        for worker, pieces in by_worker.items():
            futures.update(client.scatter(pieces, workers=[worker]))
        graph = HighLevelGraph.from_collections(name, futures, dependencies=())
        return da.Array(graph, name, chunks, dtype=a.dtype)

    def _chunks_of(self, a):
        return a.chunks if isinstance(a, da.Array) else self.chunks_for(a.shape, a.dtype)

    def _dask(self, a, chunks=None):
        """a as a dask array (NumPy input chunked), rechunked to ``chunks`` when given."""
        if isinstance(a, da.Array):
            return a if chunks is None or a.chunks == tuple(chunks) else a.rechunk(chunks)
        a = np.asarray(a)
        return da.from_array(a, chunks=chunks if chunks is not None else self._chunks_of(a))

    def _persist(self, arrays):
        """Persist ``arrays`` together and wait; raise (changing nothing) if any task failed."""
        client = self.client
        self.submissions += 1
        persisted = client.persist(list(arrays))
        error = _failure(futures_of(persisted))
        if error is not None:
            del persisted  # the failed tasks are released before the error travels up
            try:
                raise error
            finally:
                del error  # no frame-traceback cycle left for the garbage collector
        return persisted

    def _gather(self, a):
        """A NumPy copy of dask array a: its chunks fetched directly when a is persisted."""
        futures = {f.key: f for f in futures_of(a)}
        keys = a.__dask_keys__()
        flat = list(dask.core.flatten(keys))
        if not flat or any(k not in futures for k in flat):
            return np.asarray(self._compute(a)[0])
        self.submissions += 1
        chunks = dict(zip(flat, self.client.gather([futures[k] for k in flat])))

        def build(node):
            return [build(n) for n in node] if isinstance(node, list) else chunks[node]

        out = np.block(build(keys)) if a.ndim else chunks[flat[0]]
        return np.asarray(out, dtype=a.dtype).reshape(a.shape)

    def _compute(self, *collections):
        self.submissions += 1
        return self.client.compute(list(collections), sync=True)

    def as_array(self, x, name):
        from kernbench._validate import float_array, float_dtype

        if isinstance(x, da.Array):
            return x.astype(float_dtype(x.dtype, name), copy=False)
        a = float_array(x, name)
        return da.from_array(a, chunks=self.chunks_for(a.shape, a.dtype))

    def new_output(self, shape, dtype):
        return None

    def deliver(self, out, *inputs):
        # A 0-d result of scalar (non-dask) arguments is gathered, so that the caller gets
        # the NumPy scalar every other backend gives; larger results stay in the cluster.
        if isinstance(out, da.Array) and out.ndim == 0 \
                and not any(isinstance(x, da.Array) for x in inputs):
            return self._gather(out)
        return out

    def as_param(self, p, name):
        from kernbench._validate import param_array

        if isinstance(p, da.Array):
            if p.dtype not in _FLOATS:
                raise ValueError(f"{name} must have dtype float32 or float64; got {p.dtype}")
            return p
        if not isinstance(p, np.ndarray):
            raise TypeError(f"{name} must be a NumPy or dask array; got {type(p).__name__}")
        return param_array(p, name)

    def check_grad(self, g, p, name, param_name):
        if not isinstance(g, (np.ndarray, da.Array)):
            raise TypeError(f"{name} must be a NumPy or dask array or None; "
                            f"got {type(g).__name__}")
        if g.shape != p.shape:
            raise ValueError(f"{name} has shape {g.shape}; {param_name} has {p.shape}")
        if g.dtype != p.dtype:
            raise ValueError(f"{name} has dtype {g.dtype}; {param_name} has {p.dtype}")

    def updates_in_place(self, a):
        # NumPy params and grads are updated in place; dask arrays are immutable.
        return not isinstance(a, da.Array)

    def zeros_like(self, p):
        z = da.zeros(p.shape, dtype=p.dtype, chunks=self._chunks_of(p))
        z._kernbench_zeros = True  # a step's task makes these zeros beside the param chunk
        return z

    def to_numpy(self, a):
        if isinstance(a, da.Array):
            return np.array(self._gather(a), copy=True)
        return np.array(a, copy=True)

    def from_numpy(self, a, like):
        # Lazy: the copy travels with the next step's graph (no round trip per state array).
        return da.from_array(np.array(a, dtype=like.dtype, copy=True),
                             chunks=self._chunks_of(like))

    # ------------------------------------------------------------------ optimizers
    def _chunk_ref(self, a, chunks, deps):
        """idx -> what a step task gets for array ``a`` at block idx (a key, data or None)."""
        if a is None:
            return lambda idx: None
        if isinstance(a, np.ndarray):
            # NumPy data goes into the task itself: no task of its own that the scheduler
            # could place on another worker than the param chunk's.
            offsets = _offsets(chunks)

            def data(idx):
                return a[tuple(slice(o[i], o[i + 1]) for o, i in zip(offsets, idx))]

            return data
        if getattr(a, "_kernbench_zeros", False) and a.chunks == tuple(chunks):
            zeros = _kern().ZEROS
            return lambda idx: zeros
        a = self._dask(a, chunks)
        deps.append(a)
        return lambda idx: (a.name,) + idx

    @staticmethod
    def _state_source(entries):
        """The previous step's shard when ``entries`` (param, *state) are exactly its views."""
        first = getattr(entries[0], "_kernbench_shard", None)
        if first is None or len(entries) != len(first[0]._kernbench_present):
            return None
        shard = first[0]
        for k, (a, here) in enumerate(zip(entries, shard._kernbench_present)):
            if (a is not None) != here:
                return None
            src = getattr(a, "_kernbench_shard", None) if a is not None else None
            if a is not None and (src is None or src[0] is not shard or src[1] != k):
                return None
        return shard

    def _plan_step(self, func, prefix, param, grad, state, args) -> _StepPlan:
        """The graph of one step of ``param``: one task per chunk, state in, state out."""
        host = isinstance(param, np.ndarray)
        entries = [param, *state]
        depth = 1 + max((getattr(a, "_kernbench_depth", 0) for a in entries
                         if isinstance(a, da.Array)), default=0)
        chunks = self._chunks_of(param)
        token = uuid.uuid4().hex
        name = f"{prefix}-{token}"
        deps = []
        source = None if host else self._state_source(entries)
        if source is not None:  # the steady state: one input key per chunk
            deps.append(source)

            def state_arg(idx):
                return (source.name,) + idx
        else:
            refs = [self._chunk_ref(a, chunks, deps) for a in entries]

            def state_arg(idx):
                return [ref(idx) for ref in refs]
        grad_ref = self._chunk_ref(grad, chunks, deps)
        blocks = list(np.ndindex(*(len(c) for c in chunks)))
        dsk = {(name,) + idx: (func, state_arg(idx), grad_ref(idx), *args) for idx in blocks}
        meta = np.empty((0,) * len(chunks), dtype=param.dtype)
        # Its blocks are tuples of arrays: a collection to persist, never to compute.
        shard = da.Array(HighLevelGraph.from_collections(name, dsk, dependencies=deps), name,
                         chunks, meta=meta)
        views = []
        for k, a in enumerate(entries):
            if a is None:
                views.append(None)
                continue
            vname = f"{prefix}-out{k}-{token}"
            vdsk = {(vname,) + idx: (operator.getitem, (name,) + idx, k) for idx in blocks}
            views.append(da.Array(HighLevelGraph.from_collections(vname, vdsk, [shard]), vname,
                                  chunks, meta=meta))
        return _StepPlan(param, host, shard, views, depth)

    def _run_steps(self, plans) -> list:
        """Send every planned step as one graph and wait for the new state of all of them.

        Returns, per plan, the new (param, *state) (NumPy params updated in place). If any
        task fails, this raises and nothing is returned: the optimizer keeps its state.
        The views (the arrays the optimizer holds) are persisted too but not waited for: the
        next step reads the shard, so a step costs one round of tasks.
        """
        collections = []
        for plan in plans:
            collections += [plan.shard] + [v for v in plan.views if v is not None]
        self.submissions += 1
        persisted = iter(self.client.persist(collections, optimize_graph=False))
        results = []
        for plan in plans:
            shard = next(persisted)
            views = [None if v is None else next(persisted) for v in plan.views]
            results.append((shard, views))
        error = _failure([f for shard, _ in results for f in futures_of(shard)])
        if error is not None:
            del persisted, results  # the failed step's tasks are released before it raises
            try:
                raise error
            finally:
                del error  # no frame-traceback cycle left for the garbage collector
        out = []
        for plan, (shard, views) in zip(plans, results):
            shard._kernbench_present = tuple(v is not None for v in views)
            for k, v in enumerate(views):
                if v is not None:
                    v._kernbench_shard = (shard, k)
            if plan.host:
                plan.param[...] = self._gather(views[0])
                views[0] = plan.param
            first = 1 if plan.host else 0
            depth = plan.depth
            if self.checkpoint_every and depth >= self.checkpoint_every:
                present = [k for k in range(first, len(views)) if views[k] is not None]
                fresh = self._checkpoint([views[k] for k in present])
                for k, a in zip(present, fresh):
                    views[k] = a
                depth = 0
            for v in views[first:]:
                if v is not None:
                    v._kernbench_depth = depth
            out.append(views)
        return out

    def _checkpoint(self, arrays):
        """The same arrays re-entered from the client, so the scheduler forgets their history.

        Dask recovers lost chunks from lineage, so without this the scheduler would keep the
        records of every step (and the NumPy grads embedded in them) for ever. The copy costs
        one round trip of the state through the client every ``checkpoint_every`` steps.
        """
        import warnings

        host = [self._gather(a) for a in arrays]
        fresh = [da.from_array(h, chunks=a.chunks) for h, a in zip(host, arrays)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*large graph.*")
            return self._persist(fresh)

    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step):
        has_mom = momentum != 0
        scalars = [float(lr), float(weight_decay), float(momentum), 1.0 - float(dampening)]
        flags = [weight_decay != 0, has_mom, bool(nesterov), bool(maximize), bool(first_step)]
        buf = momentum_buffer if has_mom else None
        plan = self._plan_step(_kern().sgd_chunk, "kernbench-sgd", param, grad, [buf],
                               [scalars, flags])
        return tuple(self._run_steps([plan])[0])

    def _adam_plan(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                   eps, weight_decay, decoupled, amsgrad, maximize, step) -> _StepPlan:
        from kernbench._hyper import adam_kernel_args

        scalars, flags = adam_kernel_args(lr, beta1, beta2, eps, weight_decay, decoupled,
                                          amsgrad, maximize, step)
        scalars, flags = list(scalars), list(flags)
        vmax = max_exp_avg_sq if amsgrad else None
        return self._plan_step(_kern().adam_chunk, "kernbench-adam", param, grad,
                               [exp_avg, exp_avg_sq, vmax], [scalars, flags])

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step):
        plan = self._adam_plan(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr=lr,
                               beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                               decoupled=decoupled, amsgrad=amsgrad, maximize=maximize,
                               step=step)
        return tuple(self._run_steps([plan])[0])

    def adam_steps(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1,
                   beta2, eps, weight_decay, decoupled, amsgrad, maximize, steps, cache=None):
        """Every tensor's step in one graph: one round of tasks for the whole model, and a
        failure anywhere leaves every tensor as it was."""
        plans = [self._adam_plan(p, g, m, v, vm, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                 weight_decay=weight_decay, decoupled=decoupled,
                                 amsgrad=amsgrad, maximize=maximize, step=t)
                 for p, g, m, v, vm, t in zip(params, grads, exp_avgs, exp_avg_sqs,
                                             max_exp_avg_sqs, steps)]
        return [tuple(r) for r in self._run_steps(plans)]

    def sum_squares(self, x):
        if math.prod(x.shape) == 0:
            return 0.0
        d = self._dask(x)
        ind = tuple(range(d.ndim))
        parts = da.blockwise(_kern().sum_squares_chunk, ind, d, ind, dtype=np.float64,
                             adjust_chunks={i: 1 for i in ind},
                             meta=np.empty((0,) * d.ndim, dtype=np.float64))
        return float(self._compute(parts.sum())[0])

    def scale_(self, x, factor):
        d = self._dask(x)
        scaled = d.map_blocks(_kern().scale_chunk, float(factor), dtype=d.dtype)
        if isinstance(x, np.ndarray):
            x[...] = self._compute(scaled)[0]
            return x
        return self._persist([scaled])[0]

    def cosine_schedule(self, steps, total_steps, lr_max, lr_min):
        steps = np.ascontiguousarray(steps, dtype=np.float64).reshape(-1)
        if steps.size == 0:
            return np.empty(0)
        d = da.from_array(steps, chunks=self.chunks_for(steps.shape, steps.dtype))
        out = d.map_blocks(_kern().cosine_chunk, float(total_steps), float(lr_max),
                           float(lr_min), dtype=np.float64)
        return np.asarray(self._compute(out)[0], dtype=np.float64)

    # ------------------------------------------------------------------ information
    def _row_parts(self, func, arrays, k, *args):
        """(R, k) per-row sums of func's (rows, 1, k) block partials (see _sum_blocks)."""
        first = arrays[0]
        pairs = []
        for a in arrays:
            pairs += [a, "ij"]
        for a in args:
            pairs += [a, None]
        # A fresh name per call: the partials of an earlier call, still held while their
        # release is in flight, must not stand in for this call's computation.
        parts = da.blockwise(func, "ijk", *pairs, new_axes={"k": k}, adjust_chunks={"j": 1},
                             dtype=np.float64, meta=np.empty((0, 0, 0)),
                             name=f"kernbench-{func.__name__}-{uuid.uuid4().hex}")
        assert parts.shape[0] == first.shape[0]
        return self._sum_blocks(parts)

    def _sum_blocks(self, parts) -> np.ndarray:
        """(R, k): the (R, nb, k) block partials summed over axis 1.

        Up to :data:`FAN_IN` partials per row are fetched in the round of tasks that computes
        them and added here, in block order; more are first combined on the cluster, in a
        tree of that fan-in. (Dask's own ``sum`` would add a round of tasks for every level
        and one to gather the result, each costing a scheduler round trip.)
        """
        if parts.numblocks[1] > FAN_IN:
            parts = parts.sum(axis=1, keepdims=True, split_every={1: FAN_IN})
        # Fused, the caller's reshape and transpose of the input run inside the block tasks;
        # the fused tasks' own keys are fetched, not the aliases fusion leaves under the old
        # names (each a task of its own, and a round trip more).
        (parts,) = dask.optimize(parts)
        graph = dict(parts.__dask_graph__())

        def fused(node):
            if isinstance(node, list):
                return [fused(n) for n in node]
            while isinstance(graph.get(node), _Alias):
                node = graph[node].target
            return node

        keys = fused(parts.__dask_keys__())
        self.submissions += 1
        blocks = self.client.get(graph, keys, sync=True)
        return np.block(blocks).sum(axis=1)

    def _rows_pair(self, p, q):
        p = self._dask(p)
        return p, self._dask(q, p.chunks)

    def entropy_rows(self, p):
        K = _kern()
        p = self._dask(p)
        if p.shape[0] == 0:
            return np.empty(0), np.empty(0, dtype=np.int8)
        sums = self._row_parts(K.entropy_part, [p], 3)
        values, status = K.entropy_final(np.ascontiguousarray(sums))
        redo = (status == 0) & ~np.isfinite(values)
        if redo.any():  # an overflow: the contract's second pass
            acc = self._second_pass(K.entropy_scaled_part, [p], sums[:, :1], redo)
            values[redo] = np.maximum(0.0 - acc[redo], 0.0)
        return values, status

    def _second_pass(self, func, arrays, sums, redo, *args):
        """(R,) row sums of func's (rows, 1, 1) block partials, func taking the blocks of
        ``arrays``, the rows' ``sums`` (nan for the rows not in ``redo``) and ``args``."""
        sums = np.ascontiguousarray(np.where(redo[:, None], sums, np.nan))
        sd = da.from_array(sums, chunks=(arrays[0].chunks[0], sums.shape[1]))
        pairs = []
        for a in arrays:
            pairs += [a, "ij"]
        pairs += [sd, "il"]
        for a in args:
            pairs += [a, None]
        parts = da.blockwise(func, "ijk", *pairs, new_axes={"k": 1}, adjust_chunks={"j": 1},
                             concatenate=True, dtype=np.float64, meta=np.empty((0, 0, 0)),
                             name=f"kernbench-{func.__name__}-{uuid.uuid4().hex}")
        return self._sum_blocks(parts)[:, 0]

    def _pq_rows(self, p, q, kl):
        K = _kern()
        p, q = self._rows_pair(p, q)
        if p.shape[0] == 0:
            return np.empty(0), np.empty(0, dtype=np.int8)
        sums = self._row_parts(K.pq_part, [p, q], 5, bool(kl))
        values, status = K.pq_final(np.ascontiguousarray(sums), bool(kl))
        redo = (status == 0) & ~np.isfinite(values)
        if redo.any():  # an overflow, or a true +inf: the contract's second pass
            acc = self._second_pass(K.pq_scaled_part, [p, q], sums[:, :2], redo, bool(kl))
            values[redo] = np.maximum(acc[redo], 0.0) if kl else 0.0 - acc[redo]
        return values, status

    def cross_entropy_rows(self, p, q):
        return self._pq_rows(p, q, False)

    def kl_divergence_rows(self, p, q):
        return self._pq_rows(p, q, True)

    def js_divergence_rows(self, p, q):
        K = _kern()
        p, q = self._rows_pair(p, q)
        R = p.shape[0]
        if R == 0:
            return np.empty(0), np.empty(0, dtype=np.int8)
        sums = np.ascontiguousarray(self._row_parts(K.js_sums_part, [p, q], 4))
        status = K.js_status(sums)
        if np.all(status != 0):
            return np.full(R, np.nan), status
        sd = da.from_array(np.ascontiguousarray(sums[:, :2]), chunks=(p.chunks[0], 2))
        parts = da.blockwise(K.js_terms_part, "ijk", p, "ij", q, "ij", sd, "il",
                             new_axes={"k": 1}, adjust_chunks={"j": 1}, concatenate=True,
                             dtype=np.float64, meta=np.empty((0, 0, 0)),
                             name=f"kernbench-js-terms-{uuid.uuid4().hex}")
        acc = self._sum_blocks(parts)
        return K.js_final(np.ascontiguousarray(acc[:, 0]), status), status

    def _joint_terms(self, joint):
        """(S, A, R, C, status, column sums) of a joint table, from blocks of whole rows."""
        K = _kern()
        from kernbench.backends import _numba_kernels as NK

        j = self._row_block_table(joint)
        parts = [dask.delayed(K.joint_part, pure=True)(b) for b in j.to_delayed().ravel()]
        while len(parts) > 1:  # tree combine, fan-in 8
            parts = [dask.delayed(K.joint_combine, pure=True)(*parts[i:i + 8])
                     for i in range(0, len(parts), 8)]
        part, col = self._compute(parts[0])[0]
        s, a, rr, neg = (float(v) for v in part)
        status = int(NK._status(neg, s))
        cc = float(K.xlogx_sum(np.ascontiguousarray(col)))
        return s, a, rr, cc, status, col

    def _row_block_table(self, joint):
        """The table as a dask array of blocks of whole rows."""
        j = self._dask(joint)
        R, C = j.shape
        return j.rechunk({0: self._row_blocks(R, C * j.dtype.itemsize), 1: -1})

    def _joint_scaled(self, joint, s, col):
        """(A', R', C') of the contract's second pass, over blocks of whole rows in order."""
        K = _kern()
        j = self._row_block_table(joint)
        parts = [dask.delayed(K.joint_scaled_part, pure=True)(b, s)
                 for b in j.to_delayed().ravel()]
        a = 0.0
        rr = 0.0
        for part in self._compute(*parts):
            a += float(part[0])
            rr += float(part[1])
        return a, rr, float(K.xlogx_scaled_sum(np.ascontiguousarray(col), s))

    def mutual_information(self, joint):
        from kernbench.backends import _numba_kernels as NK

        s, a, rr, cc, status, col = self._joint_terms(joint)
        if status:
            return 0.0, status
        value = float(NK.mutual_information_value(s, a, rr, cc))
        if not math.isfinite(value):  # an overflow: the contract's second pass
            a, rr, cc = self._joint_scaled(joint, s, col)
            value = max(a - rr - cc, 0.0)
        return value, 0

    def conditional_entropy(self, joint):
        from kernbench.backends import _numba_kernels as NK

        s, a, rr, _, status, col = self._joint_terms(joint)
        if status:
            return 0.0, status
        value = float(NK.conditional_entropy_value(s, a, rr))
        if not math.isfinite(value):  # an overflow: the contract's second pass
            a, rr, _ = self._joint_scaled(joint, s, col)
            value = max(rr - a, 0.0)
        return value, 0

    def _whole_rows(self, x):
        """x rechunked so that every block holds whole rows (about chunk_bytes each)."""
        x = self._dask(x)
        R, n = x.shape
        return x.rechunk({0: self._row_blocks(R, n * x.dtype.itemsize), 1: -1})

    def _deliver(self, result, out):
        if out is None:
            return self._persist([result])[0]
        out[...] = self._compute(result)[0]
        return None

    def _softmax(self, x, temperature, out, log):
        xr = self._whole_rows(x)
        result = xr.map_blocks(_kern().softmax_block, float(temperature), bool(log),
                               dtype=xr.dtype)
        return self._deliver(result, out)

    def softmax_rows(self, x, temperature, out):
        return self._softmax(x, temperature, out, False)

    def log_softmax_rows(self, x, temperature, out):
        return self._softmax(x, temperature, out, True)

    def cross_entropy_logits_rows(self, logits, targets, ignore_index, label_smoothing):
        xr = self._whole_rows(logits)
        if xr.shape[0] == 0:
            return np.empty(0)
        t = da.from_array(np.ascontiguousarray(targets, dtype=np.int64), chunks=(xr.chunks[0],))
        losses = da.blockwise(_kern().ce_logits_block, "i", xr, "ij", t, "i",
                              int(ignore_index), None, float(label_smoothing), None,
                              concatenate=True, dtype=np.float64, meta=np.empty(0))
        return np.asarray(self._compute(losses)[0], dtype=np.float64)

    def gaussian_kl(self, mu1, sigma1, mu2, sigma2, out):
        args = [self._dask(a) for a in (mu1, sigma1, mu2, sigma2)]
        chunks = max(args, key=lambda a: math.prod(a.numblocks)).chunks
        args = [self._dask(a, chunks) for a in args]
        dtype = np.result_type(*(a.dtype for a in args))
        result = da.map_blocks(_kern().gaussian_kl_block, *args, dtype=dtype)
        return self._deliver(result, out)

    def gaussian_entropy(self, sigma, out):
        s = self._dask(sigma)
        result = s.map_blocks(_kern().gaussian_entropy_block, dtype=s.dtype)
        return self._deliver(result, out)


__all__ = ["DEFAULT_CHUNK_BYTES", "DaskBackend", "cluster_info", "get_client", "local_cluster",
           "use_client", "using"]
