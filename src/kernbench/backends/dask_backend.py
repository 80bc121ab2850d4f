"""The ``dask`` backend: the numba kernels over ``dask.array`` chunks on a Dask cluster.

This module is the backend class and its array plumbing. The cluster and client lifecycle is in
:mod:`._dask_cluster`, the optimizer step graphs in :mod:`._dask_steps`, the reductions in
:mod:`._dask_reductions` and the compiled chunk kernels the tasks run in :mod:`._dask_kernels`.

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
      back as fresh data (:func:`kernbench.backends._dask_steps.checkpoint`), which bounds the
      history at the price of one round trip of the state through the client.
    * Pooled buffers stay on the workers after an optimizer is dropped (as many as its last
      steps used, per chunk size); :meth:`DaskBackend.release_buffers` frees them.
"""

from __future__ import annotations

import math
import os
import uuid

import numpy as np

from kernbench.backends import Backend, _finals
from kernbench.backends._dask_cluster import (
    cluster_info,
    get_client,
    local_cluster,
    use_client,
    using,
)
from kernbench.backends._dask_cluster import connect as _connect
from kernbench.backends._dask_cluster import threads as _threads

try:  # the module must import without dask: unavailable_reason() then says what to install
    import dask
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph
    from distributed import futures_of

    from kernbench.backends import _dask_reductions as reductions
    from kernbench.backends import _dask_steps as step_graphs
    from kernbench.backends._dask_cluster import failure as _failure
    from kernbench.backends._dask_reductions import FAN_IN
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
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _kern():
    from kernbench.backends import _dask_kernels

    return _dask_kernels


class DaskBackend(Backend):
    name = "dask"

    def __init__(self, chunk_bytes=None, split=DEFAULT_SPLIT, checkpoint_every=None):
        if chunk_bytes is None:
            env = os.environ.get("KERNBENCH_DASK_CHUNK")
            chunk_bytes = dask.utils.parse_bytes(env) if env else DEFAULT_CHUNK_BYTES
        self.chunk_bytes = int(chunk_bytes)
        self.split = int(split)
        #: Every this many steps on the same state, the state is re-entered from the client
        #: (:func:`_dask_steps.checkpoint`), so the scheduler's history stays bounded; 0: never.
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
        return _connect(address)

    def release_buffers(self) -> None:
        """Drop the workers' pooled chunk buffers (kept for reuse by the next optimizer step)."""
        self.client.run(_kern().clear_pool)

    @property
    def client(self):
        return get_client()

    def threads(self) -> int:
        """Task threads of the cluster in use (asked once per client)."""
        return _threads(self.client)

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
        offsets = step_graphs.offsets(chunks)
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
        step_graphs.mark_zeros(z)  # a step's task makes these zeros beside the param chunk
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

    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step):
        has_mom = momentum != 0
        scalars = [float(lr), float(weight_decay), float(momentum), 1.0 - float(dampening)]
        flags = [weight_decay != 0, has_mom, bool(nesterov), bool(maximize), bool(first_step)]
        buf = momentum_buffer if has_mom else None
        plan = step_graphs.plan_step(self, _kern().sgd_chunk, "kernbench-sgd", param, grad,
                                     [buf], [scalars, flags])
        return step_graphs.run_steps(self, [plan])[0]

    def _adam_plan(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                   eps, weight_decay, decoupled, amsgrad, maximize, step):
        from kernbench._hyper import adam_kernel_args

        scalars, flags = adam_kernel_args(lr, beta1, beta2, eps, weight_decay, decoupled,
                                          amsgrad, maximize, step)
        scalars, flags = list(scalars), list(flags)
        vmax = max_exp_avg_sq if amsgrad else None
        return step_graphs.plan_step(self, _kern().adam_chunk, "kernbench-adam", param, grad,
                                     [exp_avg, exp_avg_sq, vmax], [scalars, flags])

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step):
        plan = self._adam_plan(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr=lr,
                               beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                               decoupled=decoupled, amsgrad=amsgrad, maximize=maximize,
                               step=step)
        return step_graphs.run_steps(self, [plan])[0]

    def adam_steps(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1,
                   beta2, eps, weight_decay, decoupled, amsgrad, maximize, steps, cache=None):
        """Every tensor's step in one graph: one round of tasks for the whole model, and a
        failure anywhere leaves every tensor as it was."""
        plans = [self._adam_plan(p, g, m, v, vm, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                 weight_decay=weight_decay, decoupled=decoupled,
                                 amsgrad=amsgrad, maximize=maximize, step=t)
                 for p, g, m, v, vm, t in zip(params, grads, exp_avgs, exp_avg_sqs,
                                             max_exp_avg_sqs, steps)]
        return step_graphs.run_steps(self, plans)

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
    # The reductions are in _dask_reductions; the row-wise and elementwise kernels are here.
    def entropy_rows(self, p):
        return reductions.entropy_rows(self, p)

    def cross_entropy_rows(self, p, q):
        return reductions.pq_rows(self, p, q, False)

    def kl_divergence_rows(self, p, q):
        return reductions.pq_rows(self, p, q, True)

    def js_divergence_rows(self, p, q):
        return reductions.js_divergence_rows(self, p, q)

    def _joint_terms(self, joint):
        return reductions.joint_terms(self, joint)

    def _joint_scaled(self, joint, s, col):
        return reductions.joint_scaled(self, joint, s, col)

    def mutual_information(self, joint):
        s, a, rr, cc, status, col = self._joint_terms(joint)
        return _finals.mutual_information(s, a, rr, cc, status,
                                          lambda: self._joint_scaled(joint, s, col))

    def conditional_entropy(self, joint):
        s, a, rr, _, status, col = self._joint_terms(joint)
        return _finals.conditional_entropy(s, a, rr, status,
                                           lambda: self._joint_scaled(joint, s, col))

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


__all__ = ["DEFAULT_CHUNK_BYTES", "DEFAULT_SPLIT", "FAN_IN", "DaskBackend", "cluster_info",
           "get_client", "local_cluster", "use_client", "using"]

