"""Compiled row kernels of the ``numba`` backend (entropy, divergences, joint tables); the host
side is :mod:`numba_backend`. The elementwise kernels (optimizer steps, ``scale_``, the sum of
squares, the cosine schedule, the Gaussians) are in :mod:`_numba_elementwise`, the softmax
family and cross-entropy from logits in :mod:`_numba_softmax`, the task grid both row modules
share in :mod:`_numba_tasks`; the kernels are imported here, so that this module names every
kernel.

Every kernel is compiled with ``cache=True`` and ``error_model="numpy"`` and without blanket
fastmath, so inf and nan survive exactly. Three techniques carry the speed:

* log and exp are the vectorizable ones of :mod:`_numba_math` (fdlibm's algorithms on raw
  float bits, < 1 ulp): a loop calling them vectorizes, where libm's ``math.log`` is a scalar
  call.
* Float reductions do not vectorize without reassociation. The fused reduction loops (one
  pass computing every sum a kernel needs) are compiled with fastmath's ``reassoc`` flag
  alone (``_SUM_OPTS``): lanes of partial sums, no assumption about inf or nan.
* Loop-invariant flags are plain arguments tested inside the loop: LLVM unswitches those loops
  (measured: no cost against a flag-free loop), so one loop body serves every option.

Every kernel that may use the threads is one compiled function over a grid of *tasks* (chunks
of elements, blocks of rows, chunks of a long row) with a ``parallel`` argument. The kernels
reach the task runtime (:mod:`_numba_runtime`) through two names: ``_linked``, the decorator
of helpers (and of task bodies a task calls), and ``_run(task, ntasks, args, parallel)``,
which runs ``task(t, *args)`` for every task, serially or on numba's threads. Serial and
parallel runs of a kernel execute the same task code on the same chunks, so they give the
same bits. Kernels are decorated with the runtime's ``njit``, which is numba's with the cache
kept where :mod:`_numba_cache` keys it on these sources and the runtime in use.
"""

from __future__ import annotations

import math

import numpy as np

from kernbench.backends._finals import LN2 as _LN2
from kernbench.backends._numba_elementwise import (  # noqa: F401 (kernels named here too)
    _bounds,
    _chunks,
    adam,
    adam_into,
    adam_multi,
    adam_packed,
    cosine_schedule,
    first_not_positive,
    gaussian_entropy,
    gaussian_kl,
    gaussian_ufuncs,
    scale,
    sgd,
    sgd_into,
    sum_squares,
)
from kernbench.backends._numba_math import _log
from kernbench.backends._numba_runtime import OPTS as _OPTS
from kernbench.backends._numba_runtime import linked as _linked
from kernbench.backends._numba_runtime import njit
from kernbench.backends._numba_runtime import run as _run
from kernbench.backends._numba_softmax import ce_logits_rows, softmax_rows  # noqa: F401
from kernbench.backends._numba_tasks import (
    _SUM_OPTS,
    _span_task,
    _sum_span,
    _task_count,
    _totals,
)
from kernbench.backends.interface import (
    STATUS_OK,
    STATUS_P_INVALID,
    STATUS_P_ZERO_SUM,
    STATUS_Q_INVALID,
    STATUS_Q_ZERO_SUM,
)

#: Elements per scratch block of the joint-table kernel: 4 KiB of float64, so the block stays
#: in L1 between the term loop and the summing loop.
_BLK = 512

_NAN = math.nan
_INF = math.inf


# ---------------------------------------------------------------------------- row reductions

@njit(**_OPTS)
def _status(neg, total):
    """The contract's status of p from its negative entries and its sum: STATUS_P_INVALID (a
    negative entry, or a sum that is not finite), STATUS_P_ZERO_SUM or STATUS_OK. Callers
    pass no constants (such as q's codes): numba compiles a function once more for every
    distinct constant argument; :func:`_pq_status` maps p's codes to q's."""
    if neg > 0 or not np.isfinite(total):
        return STATUS_P_INVALID
    if total == 0.0:
        return STATUS_P_ZERO_SUM
    return STATUS_OK


@_linked(**_OPTS)
def _clamp0(x):
    """max(x, 0) of a finite x; nan and -inf come through: a clamp must never turn a nan into a
    number, and a non-finite first-pass value is an overflow that the caller computes again
    (the contract's second pass)."""
    return 0.0 if -_INF < x < 0.0 else x


@_linked(**_OPTS)
def _xlogx_scaled_span(x, s):
    """sum of xn log xn over the span's xn = x / s > 0 (the contract's A', second pass).

    Sequential, without reassociation: the second pass runs only for rows whose first pass
    overflowed, and a fixed order keeps a diagonal table's R' - A' exactly 0.
    """
    a = 0.0
    for j in range(x.size):
        xn = np.float64(x[j]) / s
        if xn > 0.0:
            a += xn * _log(xn)
    return a


@_linked(**_OPTS)
def _pq_scaled_span(p, q, sp, sq, kl):
    """The span's part of B' (CE) or C' (KL) of the second pass over pn = p / sp: log q -
    log sq, never log(q / sq), which may underflow; p > 0 at q = 0 adds -inf (B'), +inf (C')."""
    lsp = _log(sp)
    lsq = _log(sq)
    acc = 0.0
    for j in range(p.size):
        pv = np.float64(p[j])
        if pv > 0.0:
            qv = np.float64(q[j])
            if qv == 0.0:
                acc += _INF if kl else -_INF
            else:
                lq = _log(qv) - lsq
                acc += (pv / sp) * (((_log(pv) - lsp) - lq) if kl else lq)
    return acc


@_linked(**_SUM_OPTS)
def _entropy_span(x):
    """(sum x, sum_{x>0} x log x, count of x < 0) over a 1-D span, in one vectorized pass."""
    s = 0.0
    a = 0.0
    neg = 0
    for j in range(x.size):
        v = np.float64(x[j])
        s += v
        neg += v < 0.0
        a += v * _log(v) if v > 0.0 else 0.0
    return s, a, neg


@_linked(**_OPTS)
def _entropy_final(s, a, neg):
    st = _status(neg, s)
    h = (s * _log(s) - a) / s
    return _clamp0(h), st


@njit(**_OPTS)
def _entropy_task(t, x, rows_per_task, nch, ch, part):
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, x.shape[0], x.shape[1])
    for r in range(r0, r1):
        s, a, neg = _entropy_span(x[r, a0:a1])
        part[r, c, 0] = s
        part[r, c, 1] = a
        part[r, c, 2] = neg


@njit(**_OPTS)
def entropy_rows(x, values, status, rows_per_task, ch, parallel):
    R, n = x.shape
    ntasks, nch = _task_count(R, n, rows_per_task, ch)
    part = np.empty((R, nch, 3))
    _run(_entropy_task, ntasks, (x, rows_per_task, nch, ch, part), parallel)
    tot = _totals(part)
    for r in range(R):
        values[r], status[r] = _entropy_final(tot[r, 0], tot[r, 1], tot[r, 2])
        if status[r] == STATUS_OK and not np.isfinite(values[r]):  # overflow: the second pass
            values[r] = _clamp0(0.0 - _xlogx_scaled_span(x[r], tot[r, 0]))


@_linked(**_SUM_OPTS)
def _pq_span(p, q, kl):
    """(sum p, sum q, negatives in p, in q, sum_{p>0} of p log q (CE) or p log(p/q) (KL))."""
    sp = 0.0
    sq = 0.0
    b = 0.0
    negp = 0
    negq = 0
    for j in range(p.size):
        pv = np.float64(p[j])
        qv = np.float64(q[j])
        sp += pv
        sq += qv
        negp += pv < 0.0
        negq += qv < 0.0
        # q = -0.0 is a zero: p / -0.0 = -inf, and |.| makes it the +inf of q = +0.0 (any other
        # negative ratio belongs to a row whose status is invalid). log(-0.0) = -inf already.
        t = pv * _log(abs(pv / qv) if kl else qv)
        b += t if pv > 0.0 else 0.0
    return sp, sq, negp, negq, b


@_linked(**_OPTS)
def _pq_status(sp, sq, negp, negq):
    """The status of a (p, q) pair: p's if p is not valid, else q's (p is checked first)."""
    st = _status(negp, sp)
    if st != STATUS_OK:
        return st
    st = _status(negq, sq)
    if st == STATUS_P_INVALID:
        return STATUS_Q_INVALID
    if st == STATUS_P_ZERO_SUM:
        return STATUS_Q_ZERO_SUM
    return STATUS_OK


@_linked(**_OPTS)
def _pq_final(sp, sq, negp, negq, b, kl):
    st = _pq_status(sp, sq, negp, negq)
    if kl:
        val = b / sp + (_log(sq) - _log(sp))
        val = _clamp0(val)
    else:
        val = (sp * _log(sq) - b) / sp
    return val, st


@njit(**_OPTS)
def _pq_task(t, p, q, rows_per_task, nch, ch, part, kl):
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, p.shape[0], p.shape[1])
    for r in range(r0, r1):
        sp, sq, negp, negq, b = _pq_span(p[r, a0:a1], q[r, a0:a1], kl)
        part[r, c, 0] = sp
        part[r, c, 1] = sq
        part[r, c, 2] = negp
        part[r, c, 3] = negq
        part[r, c, 4] = b


@njit(**_OPTS)
def pq_rows(p, q, values, status, rows_per_task, ch, kl, parallel):
    R, n = p.shape
    ntasks, nch = _task_count(R, n, rows_per_task, ch)
    part = np.empty((R, nch, 5))
    _run(_pq_task, ntasks, (p, q, rows_per_task, nch, ch, part, kl), parallel)
    tot = _totals(part)
    for r in range(R):
        values[r], status[r] = _pq_final(tot[r, 0], tot[r, 1], tot[r, 2], tot[r, 3], tot[r, 4],
                                         kl)
        if status[r] == STATUS_OK and not np.isfinite(values[r]):  # overflow or +inf: second pass
            b = _pq_scaled_span(p[r], q[r], tot[r, 0], tot[r, 1], kl)
            values[r] = _clamp0(b) if kl else 0.0 - b


@_linked(**_SUM_OPTS)
def _js_sums(p, q):
    """(sum p, sum q, negatives in p, in q) over a span."""
    sp = 0.0
    sq = 0.0
    negp = 0
    negq = 0
    for j in range(p.size):
        pv = np.float64(p[j])
        qv = np.float64(q[j])
        sp += pv
        sq += qv
        negp += pv < 0.0
        negq += qv < 0.0
    return sp, sq, negp, negq


@_linked(**_SUM_OPTS)
def _js_span(p, q, sp, sq):
    """sum over the span of pn log(pn/m) [pn>0] + qn log(qn/m) [qn>0], m = pn/2 + qn/2."""
    acc = 0.0
    for j in range(p.size):
        pn = np.float64(p[j]) / sp
        qn = np.float64(q[j]) / sq
        mid = 0.5 * pn + 0.5 * qn
        tp = pn * _log(pn / mid)
        tq = qn * _log(qn / mid)
        acc += (tp if pn > 0.0 else 0.0) + (tq if qn > 0.0 else 0.0)
    return acc


@_linked(**_OPTS)
def _js_final(acc):
    js = 0.5 * acc
    if js < 0.0:
        js = 0.0
    if js > _LN2:
        js = _LN2
    return js


@njit(**_OPTS)
def _js_sums_task(t, p, q, rows_per_task, nch, ch, part):
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, p.shape[0], p.shape[1])
    for r in range(r0, r1):
        part[r, c, 0], part[r, c, 1], part[r, c, 2], part[r, c, 3] = \
            _js_sums(p[r, a0:a1], q[r, a0:a1])


@njit(**_OPTS)
def _js_terms_task(t, p, q, rows_per_task, nch, ch, part):
    """The terms of the task's spans, for rows whose status (part[r, 0, 5]) is STATUS_OK."""
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, p.shape[0], p.shape[1])
    for r in range(r0, r1):
        if part[r, 0, 5] == STATUS_OK:
            part[r, c, 4] = _js_span(p[r, a0:a1], q[r, a0:a1], part[r, 0, 6], part[r, 0, 7])


@njit(**_OPTS)
def js_rows(p, q, values, status, rows_per_task, ch, parallel):
    R, n = p.shape
    ntasks, nch = _task_count(R, n, rows_per_task, ch)
    part = np.zeros((R, nch, 8))  # per chunk: sums (4), terms; per row: status, sp, sq
    _run(_js_sums_task, ntasks, (p, q, rows_per_task, nch, ch, part), parallel)
    tot = _totals(part)
    for r in range(R):
        st = _pq_status(tot[r, 0], tot[r, 1], tot[r, 2], tot[r, 3])
        status[r] = st
        part[r, 0, 5] = st
        part[r, 0, 6] = tot[r, 0]
        part[r, 0, 7] = tot[r, 1]
    _run(_js_terms_task, ntasks, (p, q, rows_per_task, nch, ch, part), parallel)
    tot = _totals(part)
    for r in range(R):
        values[r] = _js_final(tot[r, 4]) if status[r] == STATUS_OK else _NAN


# ---------------------------------------------------------------------------- joint tables

@_linked(**_OPTS)
def _joint_task(x, r0, r1, col, part):
    """Rows r0..r1 of the table: add them into ``col`` and sum S, A, R-terms, negatives."""
    buf = np.empty(_BLK)
    n = x.shape[1]
    s_tot = 0.0
    a_tot = 0.0
    r_tot = 0.0
    neg = 0
    for r in range(r0, r1):
        row = x[r]
        s = 0.0
        for off in range(0, n, _BLK):
            m = min(_BLK, n - off)
            xb = row[off:off + m]
            cb = col[off:off + m]
            for j in range(m):
                v = np.float64(xb[j])
                neg += v < 0.0
                cb[j] += v
                buf[j] = v * _log(v) if v > 0.0 else 0.0
            s += _sum_span(xb)
            a_tot += _sum_span(buf[:m])
        s_tot += s
        if s > 0.0:
            r_tot += s * _log(s)
    part[0] = s_tot
    part[1] = a_tot
    part[2] = r_tot
    part[3] = neg


@njit(**_OPTS)
def _joint_rows_task(t, x, rows_per_task, cols, part):
    r0, r1 = _bounds(t, rows_per_task, x.shape[0])
    _joint_task(x, r0, r1, cols[t], part[t])


@njit(**_OPTS)
def joint_terms(x, ntasks, parallel):
    """(S, A, R, C, negatives) of a 2-D table: sum, sum j log j, the same over row and column
    sums, and the count of negative entries (see :func:`_finals.joint_status`)."""
    R, C = x.shape
    rows_per_task = (R + ntasks - 1) // ntasks
    cols = np.zeros((ntasks, C))
    part = np.zeros((ntasks, 4))
    _run(_joint_rows_task, ntasks, (x, rows_per_task, cols, part), parallel)
    col = cols[0]
    for t in range(1, ntasks):
        other = cols[t]
        for j in range(C):
            col[j] += other[j]
    s = 0.0
    a = 0.0
    rr = 0.0
    neg = 0.0
    for t in range(ntasks):
        s += part[t, 0]
        a += part[t, 1]
        rr += part[t, 2]
        neg += part[t, 3]
    cc = _entropy_span(col)[1]
    return s, a, rr, cc, neg


@_linked(**_OPTS)
def _joint_scaled_rows(x, s):
    """(A', R') of the rows of a table for the second pass: sums of jn log jn over j / s and of
    rn log rn over the row sums / s, the row sums formed as :func:`_joint_task` forms them."""
    n = x.shape[1]
    a = 0.0
    rr = 0.0
    for r in range(x.shape[0]):
        row = x[r]
        sr = 0.0
        for off in range(0, n, _BLK):
            sr += _sum_span(row[off:off + min(_BLK, n - off)])
        a += _xlogx_scaled_span(row, s)
        rn = sr / s
        if rn > 0.0:
            rr += rn * _log(rn)
    return a, rr


@njit(**_OPTS)
def joint_scaled_terms(x, s):
    """(A', R', C') of a table whose first pass overflowed: the contract's second pass (serial)."""
    a, rr = _joint_scaled_rows(x, s)
    col = np.zeros(x.shape[1])
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            col[j] += x[r, j]
    return a, rr, _xlogx_scaled_span(col, s)
