"""The softmax family of the ``numba`` backend: softmax and log-softmax with a temperature over
the rows of a 2-D array, and cross-entropy from logits per row. The techniques and the task
grid are those of :mod:`_numba_kernels` (whose docstring says why) and :mod:`_numba_tasks`;
:mod:`_numba_kernels` imports ``softmax_rows`` and ``ce_logits_rows`` from here, so that it
names every kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

from kernbench.backends._numba_elementwise import _bounds, _chunks
from kernbench.backends._numba_math import _cast_like, _exp, _exp_native, _log
from kernbench.backends._numba_runtime import OPTS as _OPTS
from kernbench.backends._numba_runtime import linked as _linked
from kernbench.backends._numba_runtime import njit
from kernbench.backends._numba_runtime import run as _run
from kernbench.backends._numba_tasks import (
    _SUM_OPTS,
    _nanmax,
    _span_task,
    _sum_span,
    _task_count,
)

_NAN = math.nan
_INF = math.inf


@_linked(**_OPTS)
def _fill(out, value):
    v = _cast_like(out, value)
    for j in range(out.size):
        out[j] = v


#: Elements whose exps _exp_sum adds in x's own precision before adding that partial sum in
#: float64: float32 accumulators keep the loop at sixteen float32 lanes (float64 ones would
#: halve the lanes of the exps too, measured 1.8x slower), and 1024 terms spread over LLVM's
#: vector-lane accumulators lose nothing the float32 exps have not already rounded.
_EXP_BLK = 1024


def _is_float32(x):
    """Whether x is a float32 array: a constant of the compiled code, so LLVM drops the
    branches it decides."""


@overload(_is_float32)
def _is_float32_impl(x):
    flag = isinstance(x, types.Array) and x.dtype == types.float32
    return lambda x: flag


@_linked(**_SUM_OPTS)
def _exp_sum(x, mx, inv_t, out):
    """float64 sum of exp((x - mx) * inv_t) over a span, in one vectorized pass; the exps are
    computed in x's precision and written to ``out`` unless it is empty (callers pass
    ``x[:0]``), so both uses share one signature.

    The temperature enters as its reciprocal: a multiply costs a cycle where a divide (or a
    second loop-invariant flag, which LLVM then no longer unswitches) costs the loop its
    speed. For T = 1 the multiply is exact.

    float32: a block's exps of exactly 1 (the elements equal to the max) swallow the others'
    sum where it is below half an ulp of 1.0, and the max's log-softmax would be an exact 0
    where a float64 sum gives -1.5e-8. A block sum that could hide such a remainder is an
    integer (its count of maxima), so only such a block is summed again, in
    :func:`_exp_sum_rest`, with its maxima left out: a test per block of 1024, where a
    second sum and a select in the vectorized loop cost 6-16% on every call (measured).
    """
    store = out.size != 0
    exact = _is_float32(x)
    mxt = _cast_like(x, mx)
    it = _cast_like(x, inv_t)
    zero = _cast_like(x, 0.0)
    s = 0.0
    n = x.size
    for off in range(0, n, _EXP_BLK):
        # slices, indexed from 0: an index that starts at ``off`` could be negative as far as
        # LLVM knows, and numba's wraparound for negative indexes then stops vectorization
        xb = x[off:min(n, off + _EXP_BLK)]
        ob = out[off:off + xb.size] if store else out[:0]
        bs = zero
        for j in range(xb.size):
            e = _exp_native((xb[j] - mxt) * it)
            if store:
                ob[j] = e
            bs += e
        if exact and bs != zero and bs == np.floor(bs):  # NaN and inf fail the test
            s += _exp_sum_rest(xb, mxt, it)
        else:
            s += np.float64(bs)
    return s


@_linked(**_OPTS)
def _exp_sum_rest(xb, mxt, it):
    """The float32 block sum of :func:`_exp_sum` done exactly: the count of exps of 1 (the
    maxima) plus the float32 sum of the others, in float64."""
    zero = _cast_like(xb, 0.0)
    rest = zero
    count = 0
    for j in range(xb.size):
        d = (xb[j] - mxt) * it
        if d == zero:
            count += 1
        else:
            rest += _exp_native(d)
    return count + np.float64(rest)


@_linked(**_OPTS)
def _scale_span(out, factor):
    f = _cast_like(out, factor)  # in out's precision: float32 keeps sixteen lanes
    for j in range(out.size):
        out[j] = out[j] * f


@_linked(**_OPTS)
def _log_softmax_span(x, mx, temperature, lse, out):
    if temperature == 1.0:
        for j in range(x.size):
            out[j] = (np.float64(x[j]) - mx) - lse
    else:
        for j in range(x.size):
            out[j] = (np.float64(x[j]) - mx) / temperature - lse


@_linked(**_OPTS)
def _has_nan(x):
    for j in range(x.size):
        if x[j] != x[j]:
            return True
    return False


@njit(**_OPTS)
def _softmax_task(t, x, temperature, out, rows_per_task, nch, ch, part, log):
    """First pass of task t of a softmax over rows (see :func:`_span_task`): a whole row is
    done at once (max, exps and their sum, then the division or the log form); a chunk of a
    long row stores its max, its sum of exp((x - max_c) / T) and (softmax) those exps, for
    :func:`_softmax_finish`."""
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, x.shape[0], x.shape[1])
    for r in range(r0, r1):
        xs = x[r, a0:a1]
        os = out[r, a0:a1]
        mx = _nanmax(xs)  # nan ignored: a nan makes the sum nan below
        finite = mx != _INF and mx != -_INF
        total = _exp_sum(xs, mx, 1.0 / temperature, os[:0] if log else os) if finite else 0.0
        if nch == 1:
            if not finite or total != total:  # +inf logit, only -inf / nan, or a nan
                _fill(os, _NAN)
            elif log:
                _log_softmax_span(xs, mx, temperature, _log(total), os)
            else:
                _scale_span(os, 1.0 / total)
            continue
        part[r, c, 0] = mx
        if finite:
            part[r, c, 1] = total
        elif mx == -_INF:  # only -inf (exps of 0) or nan here
            part[r, c, 1] = _NAN if _has_nan(xs) else 0.0
            if not log:
                _fill(os, 0.0)
        else:
            part[r, c, 1] = _NAN


@njit(**_OPTS)
def _softmax_finish(t, x, temperature, out, rows_per_task, nch, ch, part, log):
    """Second pass over chunk t of a long row: rescale its stored exps by
    exp((max_c - M) / T) / S, or write the log form, from the row's max M and sum S in
    part[r, 0, 2:4] (S nan: the row comes out nan)."""
    r, _, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, x.shape[0], x.shape[1])
    os = out[r, a0:a1]
    total = part[r, 0, 3]
    if total != total:
        _fill(os, _NAN)
    elif log:
        _log_softmax_span(x[r, a0:a1], part[r, 0, 2], temperature, _log(total), os)
    elif part[r, c, 0] != -_INF:
        _scale_span(os, _exp((part[r, c, 0] - part[r, 0, 2]) / temperature) / total)


@njit(**_OPTS)
def softmax_rows(x, temperature, out, rows_per_task, ch, log, parallel):
    R, n = x.shape
    ntasks, nch = _task_count(R, n, rows_per_task, ch)
    part = np.empty((R, nch, 4))  # per chunk: max, sum of exps; per row (chunk 0): M, S
    _run(_softmax_task, ntasks, (x, temperature, out, rows_per_task, nch, ch, part, log),
         parallel)
    if nch == 1:
        return
    for r in range(R):
        mx = -_INF
        for c in range(nch):
            if part[r, c, 0] > mx:
                mx = part[r, c, 0]
        total = 0.0
        for c in range(nch):
            sc = part[r, c, 1]
            if sc != 0.0 or sc != sc:
                total += sc * _exp((part[r, c, 0] - mx) / temperature)
        part[r, 0, 2] = mx
        part[r, 0, 3] = _NAN if (mx == _INF or mx == -_INF) else total
    _run(_softmax_finish, ntasks, (x, temperature, out, rows_per_task, nch, ch, part, log),
         parallel)


@_linked(**_OPTS)
def _ce_logits_row(x, y, eps):
    """Loss of one row: its max, then one vectorized pass for the sum of exps (and, with label
    smoothing only, one for the sum of the logits). A +inf or nan logit gives nan, as torch;
    so does a row of only -inf and nan. (A one-pass, block-online log-sum-exp measured no
    faster: a 50257-logit float32 row stays in L2 between the two passes.)"""
    mx = _nanmax(x)
    if mx == _INF or mx == -_INF:
        return _NAN
    s = _exp_sum(x, mx, 1.0, x[:0])
    if s != s:
        return _NAN
    lse = mx + _log(s)
    loss = lse - np.float64(x[y])
    if eps != 0.0:
        loss = (1.0 - eps) * loss + eps * (lse - _sum_span(x) / x.size)
    return loss


@njit(**_OPTS)
def _ce_logits_task(t, x, targets, ignore_index, eps, rows_per_task, losses):
    r0, r1 = _bounds(t, rows_per_task, x.shape[0])
    for r in range(r0, r1):
        y = targets[r]
        if y == ignore_index:
            losses[r] = 0.0
        else:
            losses[r] = _ce_logits_row(x[r], y, eps)


@njit(**_OPTS)
def ce_logits_rows(x, targets, ignore_index, eps, losses, rows_per_task, parallel):
    _run(_ce_logits_task, _chunks(x.shape[0], rows_per_task),
         (x, targets, ignore_index, eps, rows_per_task, losses), parallel)
