"""Reductions on the dask backend: per-block partial sums, combined across chunks.

Every reduction is one round of tasks: a block task reduces its block of rows to partial sums
(compiled chunk kernels of :mod:`kernbench.backends._dask_kernels`), the client fetches them
and adds them in block order (:func:`sum_blocks`); the contract's overflow-safe second pass is a
second round, run only when a valid row's first value is not finite. Joint tables are reduced
over blocks of whole rows, combined in a tree of tasks. Functions take the backend ``be`` for
its client, chunking and submission count.
"""

from __future__ import annotations

import uuid

import dask
import dask.array as da
import numpy as np

from kernbench.backends import _finals

try:
    from dask._task_spec import Alias as _Alias
except ImportError:  # pragma: no cover - dask before its task spec: nothing to resolve
    class _Alias:
        pass

#: Reductions fetch up to this many partial sums per row and add them on the client; more
#: are first combined on the cluster, in a tree of this fan-in.
FAN_IN = 32


def _kern():
    from kernbench.backends import _dask_kernels

    return _dask_kernels


def row_parts(be, func, arrays, k, *args):
    """(R, k) per-row sums of func's (rows, 1, k) block partials (see sum_blocks)."""
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
    return sum_blocks(be, parts)


def sum_blocks(be, parts) -> np.ndarray:
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
    be.submissions += 1
    blocks = be.client.get(graph, keys, sync=True)
    return np.block(blocks).sum(axis=1)


def second_pass(be, func, arrays, sums, redo, *args):
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
    return sum_blocks(be, parts)[:, 0]


def _rows_pair(be, p, q):
    p = be._dask(p)
    return p, be._dask(q, p.chunks)


def entropy_rows(be, p):
    K = _kern()
    p = be._dask(p)
    if p.shape[0] == 0:
        return np.empty(0), np.empty(0, dtype=np.int8)
    sums = row_parts(be, K.entropy_part, [p], 3)
    values, status = K.entropy_final(np.ascontiguousarray(sums))
    redo = (status == 0) & ~np.isfinite(values)
    if redo.any():  # an overflow: the contract's second pass
        acc = second_pass(be, K.entropy_scaled_part, [p], sums[:, :1], redo)
        values[redo] = np.maximum(0.0 - acc[redo], 0.0)
    return values, status


def pq_rows(be, p, q, kl):
    """Cross-entropy (``kl`` false) or KL divergence per row, and the rows' status."""
    K = _kern()
    p, q = _rows_pair(be, p, q)
    if p.shape[0] == 0:
        return np.empty(0), np.empty(0, dtype=np.int8)
    sums = row_parts(be, K.pq_part, [p, q], 5, bool(kl))
    values, status = K.pq_final(np.ascontiguousarray(sums), bool(kl))
    redo = (status == 0) & ~np.isfinite(values)
    if redo.any():  # an overflow, or a true +inf: the contract's second pass
        acc = second_pass(be, K.pq_scaled_part, [p, q], sums[:, :2], redo, bool(kl))
        values[redo] = np.maximum(acc[redo], 0.0) if kl else 0.0 - acc[redo]
    return values, status


def js_divergence_rows(be, p, q):
    K = _kern()
    p, q = _rows_pair(be, p, q)
    R = p.shape[0]
    if R == 0:
        return np.empty(0), np.empty(0, dtype=np.int8)
    sums = np.ascontiguousarray(row_parts(be, K.js_sums_part, [p, q], 4))
    status = K.js_status(sums)
    if np.all(status != 0):
        return np.full(R, np.nan), status
    sd = da.from_array(np.ascontiguousarray(sums[:, :2]), chunks=(p.chunks[0], 2))
    parts = da.blockwise(K.js_terms_part, "ijk", p, "ij", q, "ij", sd, "il",
                         new_axes={"k": 1}, adjust_chunks={"j": 1}, concatenate=True,
                         dtype=np.float64, meta=np.empty((0, 0, 0)),
                         name=f"kernbench-js-terms-{uuid.uuid4().hex}")
    acc = sum_blocks(be, parts)
    return K.js_final(np.ascontiguousarray(acc[:, 0]), status), status


def _row_block_table(be, joint):
    """The table as a dask array of blocks of whole rows."""
    j = be._dask(joint)
    R, C = j.shape
    return j.rechunk({0: be._row_blocks(R, C * j.dtype.itemsize), 1: -1})


def joint_terms(be, joint):
    """(S, A, R, C, status, column sums) of a joint table, from blocks of whole rows."""
    K = _kern()
    j = _row_block_table(be, joint)
    parts = [dask.delayed(K.joint_part, pure=True)(b) for b in j.to_delayed().ravel()]
    while len(parts) > 1:  # tree combine, fan-in 8
        parts = [dask.delayed(K.joint_combine, pure=True)(*parts[i:i + 8])
                 for i in range(0, len(parts), 8)]
    part, col = be._compute(parts[0])[0]
    s, a, rr, neg = (float(v) for v in part)
    status = _finals.joint_status(neg, s)
    cc = float(K.xlogx_sum(np.ascontiguousarray(col)))
    return s, a, rr, cc, status, col


def joint_scaled(be, joint, s, col):
    """(A', R', C') of the contract's second pass, over blocks of whole rows in order."""
    K = _kern()
    j = _row_block_table(be, joint)
    parts = [dask.delayed(K.joint_scaled_part, pure=True)(b, s)
             for b in j.to_delayed().ravel()]
    a = 0.0
    rr = 0.0
    for part in be._compute(*parts):
        a += float(part[0])
        rr += float(part[1])
    return a, rr, float(K.xlogx_scaled_sum(np.ascontiguousarray(col), s))


__all__ = ["FAN_IN", "entropy_rows", "joint_scaled", "joint_terms", "js_divergence_rows",
           "pq_rows", "row_parts", "second_pass", "sum_blocks"]
