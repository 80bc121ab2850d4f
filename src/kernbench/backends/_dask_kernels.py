"""Worker-side functions of the ``dask`` backend: what one task does to one chunk.

Every function here runs on a Dask worker on plain NumPy chunks and calls the numba backend's
compiled code (:mod:`kernbench.backends._numba_kernels`), always with ``parallel=False``: Dask
supplies the parallelism (one task per chunk, one thread per worker), so a chunk never starts
numba threads.

Optimizer chunks are updated out of place (the previous step's chunks stay valid, so a step
that fails, for instance because a worker died, leaves the optimizer's state intact and Dask
can recompute lost chunks), but without fresh allocations in the steady state: outputs come
from a worker-local pool of buffers, and a buffer is reused only once nothing but the pool
references it (Dask has released the key that held it). So step t+1 writes into the memory
of step t-1, as a double-buffered in-place update would, and no page is faulted in anew.

One task updates every array of a chunk: it takes the chunk's state as one sequence
``(param, *state)`` (the previous step's result, a tuple, or the chunks of separate arrays)
and returns the new state as one tuple, so the next step's task depends on one key per chunk
and a step is one round of tasks. A state entry may be :data:`ZEROS`: the task makes the
zero chunk itself, where the param chunk lives, instead of a task of its own placing it
anywhere.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from kernbench.backends import _numba_kernels as K
from kernbench.backends._numba_runtime import njit  # numba's, cached under the sources' key
from kernbench.backends.numba_backend import _chunk_length

# nogil: a worker with several task threads runs its chunk tasks at the same time.
_OPTS = dict(cache=True, error_model="numpy", nogil=True)

#: Test hook: seconds each optimizer chunk task sleeps before computing (0 in normal use).
#: Set on the workers (``client.run``) to hold a step in flight while a test kills a worker.
CHUNK_DELAY = 0.0

# ---------------------------------------------------------------------------- buffer pool

_POOL: dict = {}
_POOL_LOCK = threading.Lock()
#: Idle buffers kept per (dtype, size), at least; more while as many are in use.
_MAX_FREE = 4
#: References to a pooled array that is free: the pool's list, ``a`` and getrefcount's argument.
_FREE_REFS = 3


def _buffer(n: int, dtype) -> np.ndarray:
    """A 1-D array of n elements of dtype that nothing else references (contents undefined).

    Idle buffers are kept up to as many as are in use (and at least :data:`_MAX_FREE`): a
    worker whose step writes k buffers of a size finds, at the next step, the k that the step
    before freed. Dropping them instead (a fixed cap below k) makes every step allocate and
    fault in fresh pages. Measured on the 2-core machine, Adam over 1e8 float32 on 2 workers,
    medians of 3 rounds of 7 steps with a cap of 4 against this rule: 161 -> 124 ms with 3
    chunks of 64 MiB per worker, 185 -> 148 ms with 6 of 32 MiB.
    """
    key = (np.dtype(dtype).str, int(n))
    with _POOL_LOCK:
        lst = _POOL.setdefault(key, [])
        free = []
        busy = 0
        for i in range(len(lst)):
            a = lst[i]
            if sys.getrefcount(a) <= _FREE_REFS:
                free.append(i)
            else:
                busy += 1
            del a
        for i in reversed(free[1 + max(_MAX_FREE, busy):]):
            del lst[i]
        if free:
            return lst[free[0]]
        found = np.empty(n, dtype=dtype)
        lst.append(found)
        return found


def pool_stats() -> dict:
    """{(dtype, size): number of pooled buffers} on this worker (for tests and measurements)."""
    with _POOL_LOCK:
        return {k: len(v) for k, v in _POOL.items()}


def clear_pool() -> None:
    with _POOL_LOCK:
        _POOL.clear()


def _flat(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1)


# ---------------------------------------------------------------------------- optimizers

def _delay():
    if CHUNK_DELAY:
        time.sleep(CHUNK_DELAY)


class ZeroState:
    """Stands for a state chunk of zeros that the optimizer task makes itself."""

    def __repr__(self) -> str:
        return "ZEROS"


ZEROS = ZeroState()


def _state_in(x, like: np.ndarray):
    """A state chunk as a flat array: x itself, or zeros for :data:`ZEROS`."""
    if isinstance(x, ZeroState):
        return np.zeros(like.size, dtype=like.dtype)
    return _flat(x)


def adam_chunk(state, g, scalars, flags):
    """One Adam step of a chunk: state (p, m, v, vmax or None) -> the new state, as a tuple.

    The inputs are not modified."""
    _delay()
    p, m, v, vmax = state
    shape, dt, n = p.shape, p.dtype, p.size
    pf, gf = _flat(p), _flat(g)
    mf, vf = _state_in(m, pf), _state_in(v, pf)
    po, mo, vo = _buffer(n, dt), _buffer(n, dt), _buffer(n, dt)
    amsgrad = flags[2]
    if amsgrad:
        vmf = _state_in(vmax, pf)
        vmo = _buffer(n, dt)
    else:
        vmf = vmo = pf[:0]
    s = tuple(dt.type(x) for x in scalars)
    K.adam_into(pf, gf, mf, vf, vmf, po, mo, vo, vmo, *s, *flags)
    return (po.reshape(shape), mo.reshape(shape), vo.reshape(shape),
            vmo.reshape(shape) if amsgrad else None)


def sgd_chunk(state, g, scalars, flags):
    """One SGD step of a chunk: state (p, momentum buffer or None) -> the new state, a tuple.

    The inputs are not modified; the first step with momentum starts the buffer from the grad
    and never reads the old one."""
    _delay()
    p, b = state
    shape, dt, n = p.shape, p.dtype, p.size
    pf, gf = _flat(p), _flat(g)
    po = _buffer(n, dt)
    has_mom = flags[1]
    if has_mom:
        bf = pf[:0] if b is None or flags[4] else _state_in(b, pf)  # flags[4]: first step
        bo = _buffer(n, dt)
    else:
        bf = bo = pf[:0]
    s = tuple(dt.type(x) for x in scalars)
    K.sgd_into(pf, gf, bf, po, bo, *s, *flags)
    return po.reshape(shape), (bo.reshape(shape) if has_mom else None)


def sum_squares_chunk(x):
    """The float64 sum of squares of the chunk, as an array with one element per axis."""
    f = _flat(x)
    total = K.sum_squares(f, _chunk_length(1, f.size), False) if f.size else 0.0
    return np.full((1,) * x.ndim, total, dtype=np.float64)


def scale_chunk(x, factor):
    out = np.array(x, copy=True, order="C")
    if out.size:
        K.scale(out.reshape(-1), out.size, False, out.dtype.type(factor))
    return out


def cosine_chunk(steps, total, lr_max, lr_min):
    return K.cosine_schedule(np.ascontiguousarray(steps, dtype=np.float64), total, lr_max, lr_min)


# ---------------------------------------------------------------------------- row reductions
# A block (rows_i, cols_j) of an (R, n) input gives its partial sums per row as an array of
# shape (rows_i, 1, k); the (R, nblocks, k) result is summed over axis 1 in a tree by Dask.

@njit(**_OPTS)
def _entropy_parts(x, out):
    for r in range(x.shape[0]):
        s, a, neg = K._entropy_span(x[r])
        out[r, 0, 0] = s
        out[r, 0, 1] = a
        out[r, 0, 2] = neg


@njit(**_OPTS)
def _pq_parts(p, q, kl, out):
    for r in range(p.shape[0]):
        sp, sq, negp, negq, b = K._pq_span(p[r], q[r], kl)
        out[r, 0, 0] = sp
        out[r, 0, 1] = sq
        out[r, 0, 2] = negp
        out[r, 0, 3] = negq
        out[r, 0, 4] = b


@njit(**_OPTS)
def _js_sum_parts(p, q, out):
    for r in range(p.shape[0]):
        sp, sq, negp, negq = K._js_sums(p[r], q[r])
        out[r, 0, 0] = sp
        out[r, 0, 1] = sq
        out[r, 0, 2] = negp
        out[r, 0, 3] = negq


@njit(**_OPTS)
def _js_term_parts(p, q, sums, out):
    for r in range(p.shape[0]):
        sp = sums[r, 0]
        sq = sums[r, 1]
        if sp > 0.0 and sq > 0.0 and np.isfinite(sp) and np.isfinite(sq):
            out[r, 0, 0] = K._js_span(p[r], q[r], sp, sq)
        else:
            out[r, 0, 0] = np.nan


@njit(**_OPTS)
def _entropy_scaled_parts(x, sums, out):
    for r in range(x.shape[0]):
        s = sums[r, 0]
        out[r, 0, 0] = K._xlogx_scaled_span(x[r], s) if s == s else 0.0


@njit(**_OPTS)
def _pq_scaled_parts(p, q, sums, kl, out):
    for r in range(p.shape[0]):
        sp = sums[r, 0]
        sq = sums[r, 1]
        out[r, 0, 0] = K._pq_scaled_span(p[r], q[r], sp, sq, kl) if sp == sp else 0.0


def entropy_scaled_part(x, sums):
    """The contract's second pass (A') of a block, for the rows whose sums are not nan."""
    out = np.empty((x.shape[0], 1, 1))
    _entropy_scaled_parts(x, sums, out)
    return out


def pq_scaled_part(p, q, sums, kl):
    """The contract's second pass (B' or C') of a block, for the rows whose sums are not nan."""
    out = np.empty((p.shape[0], 1, 1))
    _pq_scaled_parts(p, q, sums, bool(kl), out)
    return out


def entropy_part(x):
    out = np.empty((x.shape[0], 1, 3))
    _entropy_parts(x, out)
    return out


def pq_part(p, q, kl):
    out = np.empty((p.shape[0], 1, 5))
    _pq_parts(p, q, kl, out)
    return out


def js_sums_part(p, q):
    out = np.empty((p.shape[0], 1, 4))
    _js_sum_parts(p, q, out)
    return out


def js_terms_part(p, q, sums):
    out = np.empty((p.shape[0], 1, 1))
    _js_term_parts(p, q, sums, out)
    return out


@njit(**_OPTS)
def entropy_final(parts):
    """(values, status) of rows from their combined (R, 3) sums, as the numba backend does."""
    R = parts.shape[0]
    values = np.empty(R)
    status = np.empty(R, dtype=np.int8)
    for r in range(R):
        values[r], status[r] = K._entropy_final(parts[r, 0], parts[r, 1], parts[r, 2])
    return values, status


@njit(**_OPTS)
def pq_final(parts, kl):
    R = parts.shape[0]
    values = np.empty(R)
    status = np.empty(R, dtype=np.int8)
    for r in range(R):
        values[r], status[r] = K._pq_final(parts[r, 0], parts[r, 1], parts[r, 2], parts[r, 3],
                                           parts[r, 4], kl)
    return values, status


@njit(**_OPTS)
def js_status(sums):
    R = sums.shape[0]
    status = np.empty(R, dtype=np.int8)
    for r in range(R):
        status[r] = K._pq_status(sums[r, 0], sums[r, 1], sums[r, 2], sums[r, 3])
    return status


@njit(**_OPTS)
def js_final(acc, status):
    R = acc.shape[0]
    values = np.empty(R)
    for r in range(R):
        values[r] = K._js_final(acc[r]) if status[r] == 0 else np.nan
    return values


# ---------------------------------------------------------------------------- joint tables

@njit(**_OPTS)
def _joint_rows(x, col, part):
    K._joint_task(x, 0, x.shape[0], col, part)


def joint_part(x):
    """Partial sums of a block of whole rows of a joint table: ([S, A, R, negatives], col sums).

    R (the sum of r log r over row sums) is complete per block because a block holds whole rows;
    S, A and R are accumulated row by row in the same order, as the numba backend does, so a
    diagonal table gives H(Y|X) = 0 exactly.
    """
    col = np.zeros(x.shape[1])
    part = np.zeros(4)
    if x.shape[0]:
        _joint_rows(x, col, part)
    return part, col


def joint_combine(*parts):
    part = parts[0][0].copy()
    col = parts[0][1].copy()
    for p, c in parts[1:]:
        part += p
        col += c
    return part, col


@njit(**_OPTS)
def xlogx_sum(v):
    return K._entropy_span(v)[1]


@njit(**_OPTS)
def _joint_scaled(x, s):
    return K._joint_scaled_rows(x, s)


def joint_scaled_part(x, s):
    """(A', R') of a block of whole rows: the contract's second pass of a joint table."""
    if not x.shape[0]:
        return np.zeros(2)
    return np.array(_joint_scaled(x, float(s)))


@njit(**_OPTS)
def xlogx_scaled_sum(v, s):
    return K._xlogx_scaled_span(v, s)


# ---------------------------------------------------------------------------- row-wise kernels

def softmax_block(x, temperature, log):
    """softmax (or log_softmax) of a block of whole rows."""
    out = np.empty(x.shape, dtype=x.dtype)
    if x.size:
        K.softmax_rows(x, float(temperature), out, max(x.shape[0], 1),
                       _chunk_length(x.shape[0], x.shape[1]), bool(log), False)
    return out


def ce_logits_block(x, targets, ignore_index, eps):
    losses = np.empty(x.shape[0])
    if x.shape[0]:
        K.ce_logits_rows(x, np.ascontiguousarray(targets, dtype=np.int64), int(ignore_index),
                         float(eps), losses, max(x.shape[0], 1), False)
    return losses


def gaussian_kl_block(mu1, sigma1, mu2, sigma2):
    kl, _ = K.gaussian_ufuncs()
    return kl(mu1, sigma1, mu2, sigma2)


def gaussian_entropy_block(sigma):
    _, ent = K.gaussian_ufuncs()
    return ent(sigma)


def set_chunk_delay(seconds: float) -> None:
    """Test hook, run on workers: make every optimizer chunk task sleep this long first."""
    global CHUNK_DELAY
    CHUNK_DELAY = float(seconds)


def exit_process(code: int = 1) -> None:
    """Test hook, run on one worker: end its process at once, as a crash would."""
    import os

    os._exit(code)
