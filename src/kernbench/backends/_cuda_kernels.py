"""``@cuda.jit`` kernels of the ``cuda`` backend; the host side is :mod:`cuda_backend`.

Importing this module imports ``numba.cuda`` (package ``numba-cuda``); the backend imports it
only once it knows that CUDA (or the simulator, ``NUMBA_ENABLE_CUDASIM=1``) is usable.

Patterns used throughout:

* Elementwise kernels are grid-stride loops over a 1-D array (``for i in range(cuda.grid(1),
  n, cuda.gridsize(1))``), so any grid size covers any n and the host sizes the grid from the
  device, not from n.
* Reductions are shared-memory trees inside a block (``cuda.syncthreads()`` between levels, a
  power-of-two block), with float64 accumulators. A block writes its partial sums to global
  memory and a second pass combines them in a fixed order: no atomics, so the result does not
  depend on block scheduling and exact zeros (KL(p, p), one-hot entropy) survive.
* Every branch around a ``syncthreads()`` depends only on the block index, the kernel
  arguments and values the whole block reads alike (a row's target), never on the thread, so
  every thread of a block reaches every barrier.
* Kernels are compiled with ``cache=True`` (compile time is real cost on a GPU; see
  :func:`_kernel` for where), without fastmath, so inf and NaN survive exactly.
* ``_log`` guards log(0) and log(x < 0): on a GPU ``math.log`` already returns -inf and NaN
  there, but the simulator runs the kernels as Python, whose ``math.log`` raises instead.
"""

from __future__ import annotations

import math

from numba import cuda, float64

from kernbench.backends import _numba_cache
from kernbench.backends._finals import HALF_LOG_2PI_E as _HALF_LOG_2PI_E
from kernbench.backends._finals import LN2 as _LN2
from kernbench.backends._updates import adam_update, sgd_update
from kernbench.backends.interface import (
    STATUS_OK,
    STATUS_P_INVALID,
    STATUS_P_ZERO_SUM,
    STATUS_Q_INVALID,
    STATUS_Q_ZERO_SUM,
)

try:  # numba-cuda keeps its own configuration module
    from numba.cuda.core import config as _config

    SIMULATOR = bool(_config.ENABLE_CUDASIM)
except ImportError:  # pragma: no cover - older numba-cuda layouts
    import os

    _config = None
    SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")

#: The files whose code or constants the kernels compile in. numba-cuda keys a cached kernel
#: on its own file alone, so the kernels are cached in a directory keyed on all of them (see
#: :mod:`_numba_cache`): an edit to a shared update gives a fresh cache, never stale code.
_SOURCES = ("_numba_cache.py", "_cuda_kernels.py", "_updates.py", "_finals.py", "interface.py")


def _kernel(fn):
    """``cuda.jit(cache=True)``, cached in the directory of the current :data:`_SOURCES`."""
    if _config is None:  # pragma: no cover - older numba-cuda layouts
        return cuda.jit(cache=True)(fn)
    with _numba_cache.keyed("cuda", _SOURCES, _config):
        return cuda.jit(cache=True)(fn)

#: Threads per block. 256 on a GPU: a multiple of the 32-thread warp and a power of two (the
#: tree reductions halve it); 6 to 8 such blocks fill a multiprocessor of a recent NVIDIA GPU
#: (1536-2048 resident threads), so the scheduler can hide memory latency by switching blocks,
#: and the row reductions' 10 KiB of shared float64 scratch per block still lets them all
#: reside. Under the simulator every thread is a Python thread and every cuda.syncthreads() a
#: polling hand-off between them, so blocks there have 8 threads: the same code, the same
#: tree (three levels instead of eight), a fraction of the CPU.
BLOCK = 8 if SIMULATOR else 256

#: Float64 quantities one row-reduction task sums at once (see rows_partials).
NQ = 5

#: Bytes of dynamic shared memory each block-reducing kernel is launched with (the fourth
#: launch argument: ``kernel[grid, BLOCK, 0, SHARED_ROWS]``). The scratch is dynamic rather
#: than ``cuda.shared.array((NQ, BLOCK), ...)`` because the simulator creates a static shared
#: array lazily, on the first thread to reach it and without a lock, so two simulated threads
#: can rarely each get their own "shared" array and a reduction then reads uninitialized
#: memory; the dynamic buffer is allocated once per launch, before any thread starts. On a
#: GPU the two are the same shared memory.
SHARED_SUM = BLOCK * 8
SHARED_PAIR = 2 * BLOCK * 8
SHARED_ROWS = NQ * BLOCK * 8
SHARED_ONLINE = 4 * BLOCK * 8

_INF = math.inf
_NAN = math.nan
_PI = math.pi

# Modes of the row-reduction kernels.
MODE_ENTROPY = 0
MODE_CE = 1
MODE_KL = 2
MODE_JS_SUMS = 3
MODE_JS_TERMS = 4
# The contract's second, overflow-safe pass, for rows whose first value overflowed.
MODE_ENTROPY_SCALED = 5
MODE_CE_SCALED = 6
MODE_KL_SCALED = 7



# ---------------------------------------------------------------------------- device helpers

@cuda.jit(device=True)
def _log(x):
    """Natural log with log(0) = -inf and log(x < 0) = NaN on every target (nan stays nan)."""
    if x > 0.0:
        return math.log(x)
    if x == 0.0:
        return -_INF
    return _NAN


@cuda.jit(device=True)
def _status(neg, total, invalid, zero):
    if neg > 0.0 or not (total - total == 0.0):  # a negative entry, or a NaN / inf sum
        return invalid
    if total == 0.0:
        return zero
    return STATUS_OK


# ---------------------------------------------------------------------------- optimizers

# The per-element updates are shared with the numba backend's CPU kernels (:mod:`_updates`).
_sgd_elem = cuda.jit(device=True)(sgd_update)
_adam_elem = cuda.jit(device=True)(adam_update)


@_kernel
def sgd_kernel(p, g, b, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov, maximize,
               first):
    """SGD on 1-D views, in place (b: the momentum buffer, or a 0-length stand-in)."""
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pn, bn = _sgd_elem(g[i], p[i], b[i] if has_mom else p[i], lr, wd, mu, one_minus_damp,
                           has_wd, has_mom, nesterov, maximize, first)
        p[i] = pn
        if has_mom:
            b[i] = bn


@_kernel
def adam_kernel(p, g, m, v, vmax, step_size, bc2_sqrt, beta1, omb1, beta2, omb2, eps, wd,
                decay, coupled, decay_on, amsgrad, maximize):
    """Adam / AdamW on 1-D views, in place; the scalars arrive in the param dtype."""
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pn, mn, vn, vmn = _adam_elem(g[i], p[i], m[i], v[i], vmax[i] if amsgrad else v[i],
                                     step_size, bc2_sqrt, beta1, omb1, beta2, omb2, eps, wd,
                                     decay, coupled, decay_on, amsgrad, maximize)
        p[i] = pn
        m[i] = mn
        v[i] = vn
        if amsgrad:
            vmax[i] = vmn


@_kernel
def scale_kernel(x, factor):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        x[i] = x[i] * factor


@cuda.jit(device=True)
def _block_sum(sh, tid, acc):
    """The sum of every thread's ``acc`` over the block, by a shared-memory tree in ``sh`` (at
    least BLOCK float64); every thread of the block must call it, and all get the sum."""
    sh[tid] = acc
    cuda.syncthreads()
    s = BLOCK // 2
    while s > 0:
        if tid < s:
            sh[tid] += sh[tid + s]
        cuda.syncthreads()
        s //= 2
    return sh[0]


@cuda.jit(device=True)
def _block_sum_rows(sh, tid):
    """Sum each of the NQ rows of BLOCK partials in ``sh`` (row k at sh[k * BLOCK:]) into its
    first entry, by the shared-memory tree of :func:`_block_sum`; every thread of the block must
    call it after writing its entries, and may read the sums when it returns."""
    cuda.syncthreads()
    s = BLOCK // 2
    while s > 0:
        if tid < s:
            for k in range(NQ):
                sh[k * BLOCK + tid] += sh[k * BLOCK + tid + s]
        cuda.syncthreads()
        s //= 2


@_kernel
def sum_squares_kernel(x, part):
    """part[block] = float64 sum of x*x over the block's grid-stride share of x."""
    sh = cuda.shared.array(0, dtype=float64)  # SHARED_SUM bytes
    tid = cuda.threadIdx.x
    acc = float64(0.0)
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        xi = float64(x[i])
        acc += xi * xi
    total = _block_sum(sh, tid, acc)
    if tid == 0:
        part[cuda.blockIdx.x] = total


@_kernel
def sum_kernel(part, out):
    """Second pass, one block: out[0] = sum of part, in a fixed order (float64)."""
    sh = cuda.shared.array(0, dtype=float64)  # SHARED_SUM bytes
    tid = cuda.threadIdx.x
    acc = float64(0.0)
    for i in range(tid, part.size, BLOCK):
        acc += part[i]
    total = _block_sum(sh, tid, acc)
    if tid == 0:
        out[0] = total


@_kernel
def count_not_positive_kernel(x, part):
    """part[block] = how many x <= 0 in the block's grid-stride share of x (NaN is not <= 0);
    the argument check of sigma, before an elementwise kernel reads it."""
    sh = cuda.shared.array(0, dtype=float64)  # SHARED_SUM bytes
    tid = cuda.threadIdx.x
    acc = float64(0.0)
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        if x[i] <= 0:
            acc += 1.0
    total = _block_sum(sh, tid, acc)
    if tid == 0:
        part[cuda.blockIdx.x] = total


@_kernel
def targets_partials(targets, ignore_index, n_classes, part):
    """The check of class targets before a cross-entropy kernel indexes logits with them:
    part[0, block] = targets that are neither ignore_index nor in [0, n_classes), part[1,
    block] = targets that are not ignore_index, over the block's grid-stride share."""
    sh = cuda.shared.array(0, dtype=float64)  # SHARED_PAIR bytes: two rows of BLOCK
    tid = cuda.threadIdx.x
    bad = float64(0.0)
    kept = float64(0.0)
    for i in range(cuda.grid(1), targets.size, cuda.gridsize(1)):
        y = targets[i]
        if y != ignore_index:
            kept += 1.0
            if y < 0 or y >= n_classes:
                bad += 1.0
    sh[tid] = bad
    sh[BLOCK + tid] = kept
    cuda.syncthreads()
    s = BLOCK // 2
    while s > 0:
        if tid < s:
            sh[tid] += sh[tid + s]
            sh[BLOCK + tid] += sh[BLOCK + tid + s]
        cuda.syncthreads()
        s //= 2
    if tid == 0:
        part[0, cuda.blockIdx.x] = sh[0]
        part[1, cuda.blockIdx.x] = sh[BLOCK]


@_kernel
def cosine_kernel(steps, total, lr_max, lr_min, out):
    for i in range(cuda.grid(1), steps.size, cuda.gridsize(1)):
        t = min(max(steps[i], 0.0), total)
        out[i] = lr_min + (lr_max - lr_min) * (1.0 + math.cos(_PI * t / total)) / 2.0


# ---------------------------------------------------------------------------- row reductions

@_kernel
def rows_partials(p, q, sums, mode, nch, ch, part):
    """Partial float64 sums of (row, chunk) tasks of the 2-D (R, n) arrays p and q.

    Task t covers row t // nch, columns [c*ch, min(n, (c+1)*ch)) with c = t % nch; a block
    takes tasks t = blockIdx, blockIdx + gridDim, ... and writes part[r, c, 0:NQ]:

    * MODE_ENTROPY:  S, A = sum_{x>0} x log x, negatives             (q unused)
    * MODE_CE:       Sp, Sq, B = sum_{p>0} p log q, neg p, neg q
    * MODE_KL:       Sp, Sq, C = sum_{p>0} p log(p/q), neg p, neg q
    * MODE_JS_SUMS:  Sp, Sq, 0, neg p, neg q
    * MODE_JS_TERMS: 0, 0, sum pn log(pn/m) [pn>0] + qn log(qn/m) [qn>0], 0, 0
      with pn = p / sums[r, 0], qn = q / sums[r, 1], m = pn/2 + qn/2
    * MODE_ENTROPY_SCALED: S, A' = sum_{xn>0} xn log xn with xn = p / sums[r, 0], negatives
      (sums[r, 1] unused)
    * MODE_CE_SCALED:  0, 0, B' = sum_{p>0} pn (log q - log Sq) (q=0: -inf), 0, 0
    * MODE_KL_SCALED:  0, 0, C' = sum_{p>0} pn ((log p - log Sp) - (log q - log Sq)) (q=0:
      +inf), 0, 0, with pn = p / Sp, Sp = sums[r, 0], Sq = sums[r, 1]

    The modes JS_TERMS and *_SCALED skip the rows whose sums are not both > 0 (nan: not asked).
    """
    sh = cuda.shared.array(0, dtype=float64)  # SHARED_ROWS bytes: NQ rows of BLOCK
    tid = cuda.threadIdx.x
    n = p.shape[1]
    ntasks = p.shape[0] * nch
    for t in range(cuda.blockIdx.x, ntasks, cuda.gridDim.x):
        r = t // nch
        c = t - r * nch
        a0 = c * ch
        a1 = min(n, a0 + ch)
        s0 = float64(0.0)
        s1 = float64(0.0)
        s2 = float64(0.0)
        s3 = float64(0.0)
        s4 = float64(0.0)
        if mode >= MODE_JS_TERMS:
            sp = sums[r, 0]
            sq = float64(1.0) if mode == MODE_ENTROPY_SCALED else sums[r, 1]
            if not (sp > 0.0 and sq > 0.0):  # a row not asked for (an invalid one for JS)
                a1 = a0
        else:
            sp = float64(1.0)
            sq = float64(1.0)
        lsp = _log(sp)
        lsq = _log(sq)
        for j in range(a0 + tid, a1, BLOCK):
            pv = float64(p[r, j])
            if mode == MODE_ENTROPY:
                s0 += pv
                if pv > 0.0:
                    s1 += pv * _log(pv)
                if pv < 0.0:
                    s2 += 1.0
            elif mode == MODE_ENTROPY_SCALED:
                s0 += pv
                xn = pv / sp
                if xn > 0.0:
                    s1 += xn * _log(xn)
                if pv < 0.0:
                    s2 += 1.0
            elif mode == MODE_CE_SCALED or mode == MODE_KL_SCALED:
                if pv > 0.0:
                    qv = float64(q[r, j])
                    if qv == 0.0:
                        s2 += _INF if mode == MODE_KL_SCALED else -_INF
                    else:
                        lq = _log(qv) - lsq
                        if mode == MODE_KL_SCALED:
                            s2 += (pv / sp) * ((_log(pv) - lsp) - lq)
                        else:
                            s2 += (pv / sp) * lq
            elif mode == MODE_JS_TERMS:
                qv = float64(q[r, j])
                pn = pv / sp
                qn = qv / sq
                mid = 0.5 * pn + 0.5 * qn
                if pn > 0.0:
                    s2 += pn * _log(pn / mid)
                if qn > 0.0:
                    s2 += qn * _log(qn / mid)
            else:
                qv = float64(q[r, j])
                s0 += pv
                s1 += qv
                if pv < 0.0:
                    s3 += 1.0
                if qv < 0.0:
                    s4 += 1.0
                if pv > 0.0:
                    if mode == MODE_CE:
                        s2 += pv * _log(qv)
                    elif mode == MODE_KL:
                        if qv > 0.0:
                            s2 += pv * _log(pv / qv)
                        elif qv == 0.0:
                            s2 += _INF
                        else:
                            s2 += _NAN
        sh[tid] = s0
        sh[BLOCK + tid] = s1
        sh[2 * BLOCK + tid] = s2
        sh[3 * BLOCK + tid] = s3
        sh[4 * BLOCK + tid] = s4
        _block_sum_rows(sh, tid)
        if tid < NQ:
            part[r, c, tid] = sh[tid * BLOCK]
        cuda.syncthreads()  # the next task overwrites sh


@_kernel
def rows_finish(part, mode, tot, values, status):
    """Second pass, one thread per row: sum the chunks of ``part`` in order into tot[r] and
    turn them into values[r] (nats, float64) and status[r] (int8) for ``mode``."""
    nch = part.shape[1]
    for r in range(cuda.grid(1), part.shape[0], cuda.gridsize(1)):
        a0 = float64(0.0)
        a1 = float64(0.0)
        a2 = float64(0.0)
        a3 = float64(0.0)
        a4 = float64(0.0)
        for c in range(nch):
            a0 += part[r, c, 0]
            a1 += part[r, c, 1]
            a2 += part[r, c, 2]
            a3 += part[r, c, 3]
            a4 += part[r, c, 4]
        tot[r, 0] = a0
        tot[r, 1] = a1
        tot[r, 2] = a2
        tot[r, 3] = a3
        tot[r, 4] = a4
        val = _NAN
        if mode == MODE_ENTROPY:
            st = _status(a2, a0, STATUS_P_INVALID, STATUS_P_ZERO_SUM)
            if st == STATUS_OK:
                val = (a0 * _log(a0) - a1) / a0
                if val <= 0.0 and val > -_INF:  # nan and -inf (an overflow) come through
                    val = 0.0
        elif mode >= MODE_ENTROPY_SCALED:  # second pass of rows already found valid
            st = status[r]
            if mode == MODE_ENTROPY_SCALED:
                val = 0.0 - a1
            elif mode == MODE_CE_SCALED:
                val = 0.0 - a2
            else:
                val = a2
            if mode != MODE_CE_SCALED and val < 0.0:
                val = 0.0
        elif mode == MODE_JS_TERMS:
            st = status[r]
            if st == STATUS_OK:
                val = 0.5 * a2
                if val < 0.0:
                    val = 0.0
                if val > _LN2:
                    val = _LN2
        else:
            st = _status(a3, a0, STATUS_P_INVALID, STATUS_P_ZERO_SUM)
            if st == STATUS_OK:
                st = _status(a4, a1, STATUS_Q_INVALID, STATUS_Q_ZERO_SUM)
            if st == STATUS_OK:
                if mode == MODE_CE:
                    val = (a0 * _log(a1) - a2) / a0
                elif mode == MODE_KL:
                    val = a2 / a0 + (_log(a1) - _log(a0))
                    if val < 0.0 and val > -_INF:  # -inf, an overflow, comes through
                        val = 0.0
        if mode < MODE_JS_TERMS:
            status[r] = st
        values[r] = val


# ---------------------------------------------------------------------------- joint tables

@_kernel
def column_sums(x, col):
    """col[j] = float64 sum of column j; a thread per column, so reads are coalesced."""
    for j in range(cuda.grid(1), x.shape[1], cuda.gridsize(1)):
        acc = float64(0.0)
        for i in range(x.shape[0]):
            acc += float64(x[i, j])
        col[j] = acc


@_kernel
def joint_finish(tot, col, scale, out):
    """One block: out = (S, A, R, C, negatives) of a table from its row totals ``tot`` (see
    rows_finish, MODE_ENTROPY: S_r, A_r, negatives_r) and its column sums ``col``.

    ``scale`` is 1 for the first pass. The second, overflow-safe pass gives S as ``scale``
    and the totals of MODE_ENTROPY_SCALED (S_r, A'_r): out is then (S, A', R', C', negatives),
    R' and C' over r / S and c / S.

    A and R go through the same tree in the same order, so a diagonal table (A_r == r log r
    in every row) gives R - A == 0 exactly.
    """
    sh = cuda.shared.array(0, dtype=float64)  # SHARED_ROWS bytes: NQ rows of BLOCK
    tid = cuda.threadIdx.x
    s0 = float64(0.0)
    s1 = float64(0.0)
    s2 = float64(0.0)
    s3 = float64(0.0)
    s4 = float64(0.0)
    for r in range(tid, tot.shape[0], BLOCK):
        s0 += tot[r, 0]
        s1 += tot[r, 1]
        sr = tot[r, 0] / scale
        if sr > 0.0:
            s2 += sr * _log(sr)
        s4 += tot[r, 2]
    for j in range(tid, col.size, BLOCK):
        cj = col[j] / scale
        if cj > 0.0:
            s3 += cj * _log(cj)
    sh[tid] = s0
    sh[BLOCK + tid] = s1
    sh[2 * BLOCK + tid] = s2
    sh[3 * BLOCK + tid] = s3
    sh[4 * BLOCK + tid] = s4
    _block_sum_rows(sh, tid)
    if tid < NQ:
        out[tid] = sh[tid * BLOCK]


# ---------------------------------------------------------------------------- softmax family

@cuda.jit(device=True)
def _online_add(m, s, v, temperature):
    """Fold the finite-or--inf value v into the running (max, sum of exp((x - max) / T))."""
    if v > m:
        s = s * math.exp((m - v) / temperature) + 1.0  # m = -inf: exp(-inf) = 0
        m = v
    elif v > -_INF:
        s += math.exp((v - m) / temperature)
    return m, s


@cuda.jit(device=True)
def _online_block(shm, shs, shb, shx, tid, m, s, bad, sx, temperature):
    """Combine every thread's (max, sum, bad count, sum x) over the block; all threads get
    the result. (m1, s1) + (m2, s2) = (m1, s1 + s2 exp((m2 - m1) / T)) for m1 >= m2."""
    shm[tid] = m
    shs[tid] = s
    shb[tid] = bad
    shx[tid] = sx
    cuda.syncthreads()
    h = BLOCK // 2
    while h > 0:
        if tid < h:
            m1 = shm[tid]
            s1 = shs[tid]
            m2 = shm[tid + h]
            s2 = shs[tid + h]
            if m2 > m1:
                m1, m2 = m2, m1
                s1, s2 = s2, s1
            if m2 > -_INF:
                s1 = s1 + s2 * math.exp((m2 - m1) / temperature)
            shm[tid] = m1
            shs[tid] = s1
            shb[tid] += shb[tid + h]
            shx[tid] += shx[tid + h]
        cuda.syncthreads()
        h //= 2
    m = shm[0]
    s = shs[0]
    bad = shb[0]
    sx = shx[0]
    cuda.syncthreads()  # the caller may reuse the scratch for its next row
    return m, s, bad, sx


@_kernel
def softmax_kernel(x, temperature, log, out):
    """One block per row (grid-stride over rows): one read for the online max and sum, one
    read to write out. A row holding NaN or +inf, or only -inf, comes out all NaN."""
    buf = cuda.shared.array(0, dtype=float64)  # SHARED_ONLINE bytes: four slices of BLOCK
    shm = buf[0:BLOCK]
    shs = buf[BLOCK:2 * BLOCK]
    shb = buf[2 * BLOCK:3 * BLOCK]
    shx = buf[3 * BLOCK:4 * BLOCK]
    tid = cuda.threadIdx.x
    n = x.shape[1]
    for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        m = -_INF
        s = float64(0.0)
        bad = float64(0.0)
        for j in range(tid, n, BLOCK):
            v = float64(x[r, j])
            if v != v or v == _INF:
                bad += 1.0
            else:
                m, s = _online_add(m, s, v, temperature)
        m, s, bad, _ = _online_block(shm, shs, shb, shx, tid, m, s, bad, float64(0.0),
                                     temperature)
        nan_row = bad > 0.0 or m == -_INF
        lse = _log(s)
        for j in range(tid, n, BLOCK):
            if nan_row:
                out[r, j] = _NAN
            else:
                z = (float64(x[r, j]) - m) / temperature
                if log:
                    out[r, j] = z - lse
                else:
                    out[r, j] = math.exp(z) / s


@_kernel
def ce_logits_kernel(x, targets, ignore_index, eps, losses):
    """Per-row cross-entropy from logits, one block per row, each logit read once: online
    logsumexp plus the row sum (for label smoothing). +inf or NaN in the row gives NaN."""
    buf = cuda.shared.array(0, dtype=float64)  # SHARED_ONLINE bytes: four slices of BLOCK
    shm = buf[0:BLOCK]
    shs = buf[BLOCK:2 * BLOCK]
    shb = buf[2 * BLOCK:3 * BLOCK]
    shx = buf[3 * BLOCK:4 * BLOCK]
    tid = cuda.threadIdx.x
    n = x.shape[1]
    one = float64(1.0)
    for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        y = targets[r]
        if y == ignore_index:  # the same for every thread of the block
            if tid == 0:
                losses[r] = 0.0
            continue
        m = -_INF
        s = float64(0.0)
        bad = float64(0.0)
        sx = float64(0.0)
        for j in range(tid, n, BLOCK):
            v = float64(x[r, j])
            if v != v or v == _INF:
                bad += 1.0
            else:
                sx += v
                m, s = _online_add(m, s, v, one)
        m, s, bad, sx = _online_block(shm, shs, shb, shx, tid, m, s, bad, sx, one)
        if tid == 0:
            if bad > 0.0:
                losses[r] = _NAN
            else:
                lse = m + _log(s)
                loss = lse - float64(x[r, y])
                if eps != 0.0:
                    loss = (1.0 - eps) * loss + eps * (lse - sx / n)
                losses[r] = loss


# ---------------------------------------------------------------------------- Gaussians

@_kernel
def gaussian_kl_kernel(mu1, s1, mu2, s2, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        a = float64(s1[i])
        b = float64(s2[i])
        r = a / b
        t = (float64(mu1[i]) - float64(mu2[i])) / b
        # log s2 - log s1, quotients and (r - 1)(r + 1) for r^2 - 1 (contract)
        out[i] = (_log(b) - _log(a)) + ((r - 1.0) * (r + 1.0) + t * t) / 2.0


@_kernel
def gaussian_entropy_kernel(sigma, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = _HALF_LOG_2PI_E + _log(float64(sigma[i]))


@_kernel
def fill_kernel(x, value):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        x[i] = value
