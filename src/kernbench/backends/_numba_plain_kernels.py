"""The ``numba-plain`` kernels: ``@njit`` written as numba's documentation teaches.

Every kernel is one ``@njit(cache=True, parallel=True, error_model="numpy")`` function whose
work is a ``prange`` loop; the formulas live in small serial ``@njit`` helpers beside them, in
this one file (numba does not invalidate a cached function when a helper in another file
changes). ``math.log`` and ``math.exp`` are numba's own: no intrinsics, no code of our own
below numba's public API, no ``fastmath`` (its ``nnan``/``ninf`` flags would break
``p > 0, q = 0 -> inf`` and the NaN that must come through the clamps).

``error_model="numpy"``: with numba's default (Python) error model a division checks for zero
and raises, which stops the loop from vectorizing; with NumPy's it gives inf or nan.

Kernels always run in parallel, whatever the size: a call on a small array pays numba's
thread start-up, which is what plain numba costs there. Rows are spread across the threads.
The reductions over distributions (entropy, KL, cross-entropy, JS), often one long row, also
cut each row into chunks when there are fewer rows than threads, one task per chunk, and add
the partial sums of the chunks in order afterwards (a static split over ``prange``); softmax
and the cross-entropy from logits take a batch of rows, one row per task.

Reductions accumulate in float64 with the exact forms of :mod:`kernbench.backends.interface`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from kernbench.backends._finals import HALF_LOG_2PI_E as _HALF_LOG_2PI_E
from kernbench.backends._finals import LN2 as _LN2
from kernbench.backends.interface import (
    STATUS_OK,
    STATUS_P_INVALID,
    STATUS_P_ZERO_SUM,
    STATUS_Q_INVALID,
    STATUS_Q_ZERO_SUM,
)

#: Options of every kernel (one parallel region each) and of the serial helpers they call.
PARALLEL = {"cache": True, "parallel": True, "error_model": "numpy"}
SERIAL = {"cache": True, "error_model": "numpy"}

#: Columns summed by one task of the joint-table column pass: a block of float64 sums that
#: stays in L1 while the task walks down the rows.
_COLUMN_BLOCK = 256


# ---------------------------------------------------------------------------- optimizers

@njit(**PARALLEL)
def sgd_step(p, g, b, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov, maximize, first):
    """One SGD step in place on 1-D arrays (b, the momentum buffer, is empty without
    momentum); scalars in the arrays' dtype."""
    for i in prange(p.size):
        gi = -g[i] if maximize else g[i]
        if has_wd:
            gi = gi + wd * p[i]
        if has_mom:
            bi = gi if first else mu * b[i] + one_minus_damp * gi
            b[i] = bi
            gi = gi + mu * bi if nesterov else bi
        p[i] = p[i] - lr * gi


@njit(**PARALLEL)
def adam_step(p, g, m, v, vmax, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
              one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    """One Adam/AdamW step in place on 1-D arrays (vmax is empty without AMSGrad); the
    arguments are those of :func:`kernbench._hyper.adam_kernel_args`, in the arrays' dtype."""
    for i in prange(p.size):
        gi = -g[i] if maximize else g[i]
        pi = p[i]
        if coupled:
            gi = gi + wd * pi
        if decay_on:
            pi = pi * decay
        mi = beta1 * m[i] + one_minus_beta1 * gi
        vi = beta2 * v[i] + one_minus_beta2 * gi * gi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            if vi > vmax[i] or math.isnan(vi):  # torch.maximum: a nan on either side propagates
                vmax[i] = vi
            vi = vmax[i]
        p[i] = pi - step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))


@njit(**PARALLEL)
def sum_squares(x):
    """sum of x*x over a 1-D array, in float64 (a prange reduction)."""
    total = 0.0
    for i in prange(x.size):
        v = np.float64(x[i])
        total += v * v
    return total


@njit(**PARALLEL)
def scale(x, factor):
    """x *= factor in place on a 1-D array (factor in x's dtype)."""
    for i in prange(x.size):
        x[i] = x[i] * factor


@njit(**PARALLEL)
def cosine_schedule(steps, total, lr_max, lr_min):
    out = np.empty(steps.size)
    for i in prange(steps.size):
        t = min(max(steps[i], 0.0), total)
        out[i] = lr_min + (lr_max - lr_min) * (1.0 + math.cos(math.pi * t / total)) / 2.0
    return out


# ---------------------------------------------------------------------------- splitting rows

@njit(**SERIAL)
def _task(t, chunks, n):
    """(row, chunk, first column, last column + 1) of task t of a row kernel whose rows of n
    elements are cut into ``chunks`` chunks each."""
    length = max(1, -(-n // chunks))
    r = t // chunks
    c = t % chunks
    lo = min(n, c * length)
    return r, c, lo, min(n, lo + length)


@njit(**SERIAL)
def _status(negatives, total):
    """The contract's status of p from its negative entries and its sum: STATUS_P_INVALID (a
    negative entry or a sum that is not finite), STATUS_P_ZERO_SUM or STATUS_OK."""
    if negatives > 0 or not np.isfinite(total):
        return STATUS_P_INVALID
    if total == 0.0:
        return STATUS_P_ZERO_SUM
    return STATUS_OK


@njit(**SERIAL)
def _pair_status(sp, sq, negp, negq):
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


@njit(**SERIAL)
def _clamp0(x):
    """max(x, 0) that lets nan through: a clamp must never turn a nan into a number."""
    return 0.0 if x < 0.0 else x


# The contract's overflow-safe second pass: a valid row whose first-pass value is not finite
# (S log S or x log x past the float64 range) is summed again over its normalized entries.

@njit(**SERIAL)
def _xlogx_scaled(x, s):
    """sum of xn log xn over the span's xn = x / s > 0 (A' of the second pass)."""
    a = 0.0
    for j in range(x.size):
        xn = np.float64(x[j]) / s
        if xn > 0.0:
            a += xn * math.log(xn)
    return a


@njit(**SERIAL)
def _pq_scaled(p, q, sp, sq, kl):
    """B' (cross-entropy) or C' (KL) of the second pass over pn = p / sp, with log q - log sq
    (q / sq may underflow); p > 0 at q = 0 (or -0.0) adds -inf to B', +inf to C'."""
    lsp = math.log(sp)
    lsq = math.log(sq)
    acc = 0.0
    for j in range(p.size):
        pv = np.float64(p[j])
        if pv > 0.0:
            qv = np.float64(q[j])
            if qv == 0.0:
                acc += math.inf if kl else -math.inf
            else:
                lq = math.log(qv) - lsq
                acc += (pv / sp) * (((math.log(pv) - lsp) - lq) if kl else lq)
    return acc


# ---------------------------------------------------------------------------- row reductions

@njit(**SERIAL)
def _entropy_sums(x):
    """(sum x, sum_{x>0} x log x, count of x < 0) of a span; -0.0 counts as a zero."""
    s = 0.0
    a = 0.0
    neg = 0
    for j in range(x.size):
        v = np.float64(x[j])
        s += v
        if v < 0.0:
            neg += 1
        if v > 0.0:
            a += v * math.log(v)
    return s, a, neg


@njit(**PARALLEL)
def entropy_rows(x, values, status, chunks):
    """H = max((S log S - A) / S, 0) of each row of the 2-D x, with its status."""
    rows, n = x.shape
    part = np.zeros((rows, chunks, 3))
    for t in prange(rows * chunks):
        r, c, lo, hi = _task(t, chunks, n)
        part[r, c, 0], part[r, c, 1], part[r, c, 2] = _entropy_sums(x[r, lo:hi])
    total = part.sum(axis=1)
    for r in range(rows):
        s, a, neg = total[r, 0], total[r, 1], total[r, 2]
        status[r] = _status(neg, s)
        h = (s * math.log(s) - a) / s
        if status[r] == STATUS_OK and not np.isfinite(h):  # an overflow: the second pass
            h = 0.0 - _xlogx_scaled(x[r], s)
        values[r] = _clamp0(h)


@njit(**SERIAL)
def _pq_sums(p, q, kl):
    """(sum p, sum q, negatives in p, in q, B) of a span; B sums, over p > 0, p log(p/q) for KL
    or p log q for the cross-entropy."""
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
        if pv < 0.0:
            negp += 1
        if qv < 0.0:
            negq += 1
        if pv > 0.0:
            # q = -0.0 is a zero: p / -0.0 = -inf, and abs() makes it the +inf of q = +0.0
            # (any other negative ratio is in a row whose status is invalid); log(-0.0) = -inf.
            b += pv * math.log(abs(pv / qv) if kl else qv)
    return sp, sq, negp, negq, b


@njit(**PARALLEL)
def pq_rows(p, q, values, status, kl, chunks):
    """KL(p||q) = max(C/Sp + log Sq - log Sp, 0) (kl) or the cross-entropy
    (Sp log Sq - B) / Sp of each row pair, with its status."""
    rows, n = p.shape
    part = np.zeros((rows, chunks, 5))
    for t in prange(rows * chunks):
        r, c, lo, hi = _task(t, chunks, n)
        (part[r, c, 0], part[r, c, 1], part[r, c, 2], part[r, c, 3],
         part[r, c, 4]) = _pq_sums(p[r, lo:hi], q[r, lo:hi], kl)
    total = part.sum(axis=1)
    for r in range(rows):
        sp, sq, b = total[r, 0], total[r, 1], total[r, 4]
        status[r] = _pair_status(sp, sq, total[r, 2], total[r, 3])
        if kl:
            v = b / sp + (math.log(sq) - math.log(sp))
        else:
            v = (sp * math.log(sq) - b) / sp
        if status[r] == STATUS_OK and not np.isfinite(v):  # an overflow (or a true +inf): again
            b = _pq_scaled(p[r], q[r], sp, sq, kl)
            v = b if kl else 0.0 - b
        values[r] = _clamp0(v) if kl else v


@njit(**SERIAL)
def _pair_sums(p, q):
    """(sum p, sum q, negatives in p, in q) of a span."""
    sp = 0.0
    sq = 0.0
    negp = 0
    negq = 0
    for j in range(p.size):
        pv = np.float64(p[j])
        qv = np.float64(q[j])
        sp += pv
        sq += qv
        if pv < 0.0:
            negp += 1
        if qv < 0.0:
            negq += 1
    return sp, sq, negp, negq


@njit(**SERIAL)
def _js_terms(p, q, sp, sq):
    """sum over a span of pn log(pn/m) [pn > 0] + qn log(qn/m) [qn > 0], pn = p/Sp,
    qn = q/Sq, m = pn/2 + qn/2."""
    acc = 0.0
    for j in range(p.size):
        pn = np.float64(p[j]) / sp
        qn = np.float64(q[j]) / sq
        m = 0.5 * pn + 0.5 * qn
        if pn > 0.0:
            acc += pn * math.log(pn / m)
        if qn > 0.0:
            acc += qn * math.log(qn / m)
    return acc


@njit(**PARALLEL)
def js_rows(p, q, values, status, chunks):
    """Jensen-Shannon divergence of each row pair in two passes (sums, then terms), clamped to
    [0, ln 2]; nan for a row whose status is not 0."""
    rows, n = p.shape
    part = np.zeros((rows, chunks, 4))
    for t in prange(rows * chunks):
        r, c, lo, hi = _task(t, chunks, n)
        part[r, c, 0], part[r, c, 1], part[r, c, 2], part[r, c, 3] = \
            _pair_sums(p[r, lo:hi], q[r, lo:hi])
    total = part.sum(axis=1)
    for r in range(rows):
        status[r] = _pair_status(total[r, 0], total[r, 1], total[r, 2], total[r, 3])
    terms = np.zeros((rows, chunks))
    for t in prange(rows * chunks):
        r, c, lo, hi = _task(t, chunks, n)
        if status[r] == STATUS_OK:
            terms[r, c] = _js_terms(p[r, lo:hi], q[r, lo:hi], total[r, 0], total[r, 1])
    acc = terms.sum(axis=1)
    for r in range(rows):
        js = 0.5 * acc[r]
        if js < 0.0:
            js = 0.0
        elif js > _LN2:
            js = _LN2
        values[r] = js if status[r] == STATUS_OK else np.nan


# ---------------------------------------------------------------------------- joint tables

@njit(**PARALLEL)
def joint_terms(x):
    """(S, A, R, C, negatives) of the 2-D table x: its sum, sum_{j>0} j log j, the same over
    its row sums and over its column sums, and its count of negative entries. Rows in
    parallel, then blocks of columns."""
    rows, cols = x.shape
    row_sums = np.empty(rows)
    row_a = np.empty(rows)
    row_neg = np.empty(rows)
    for r in prange(rows):
        row_sums[r], row_a[r], row_neg[r] = _entropy_sums(x[r])
    col_sums = np.zeros(cols)
    for blk in prange(-(-cols // _COLUMN_BLOCK)):
        lo = blk * _COLUMN_BLOCK
        hi = min(cols, lo + _COLUMN_BLOCK)
        for r in range(rows):
            for j in range(lo, hi):
                col_sums[j] += x[r, j]
    rr = _entropy_sums(row_sums)[1]
    cc = _entropy_sums(col_sums)[1]
    return row_sums.sum(), row_a.sum(), rr, cc, row_neg.sum()


@njit(**PARALLEL)
def joint_scaled_terms(x, s):
    """(A', R', C') of a table whose first pass overflowed: the second pass over j / s, the row
    sums / s and the column sums / s."""
    rows, cols = x.shape
    row_a = np.empty(rows)
    row_sums = np.empty(rows)
    for r in prange(rows):
        row_a[r] = _xlogx_scaled(x[r], s)
        row_sums[r] = _entropy_sums(x[r])[0]
    col_sums = np.zeros(cols)
    for r in range(rows):
        for j in range(cols):
            col_sums[j] += x[r, j]
    return row_a.sum(), _xlogx_scaled(row_sums, s), _xlogx_scaled(col_sums, s)


# ---------------------------------------------------------------------------- softmax family

@njit(**SERIAL)
def _exp_sum(x, mx, temperature, out, store):
    """float64 sum of exp((x - mx) / T) over a span (in x's precision), the exps written to
    out when ``store``."""
    s = 0.0
    for j in range(x.size):
        e = math.exp((x[j] - mx) / temperature)
        if store:
            out[j] = e
        s += e
    return s


@njit(**SERIAL)
def _softmax_row(x, temperature, out, log):
    """softmax (or, with ``log``, log-softmax) of one row into out, in three passes over the
    row (its max, the exps and their sum, the division or the log form). A row holding a nan
    or a +inf, or only -inf, comes out all nan by the arithmetic itself."""
    if x.size == 0:
        return
    mx = np.max(x)  # in x's dtype; nan if x holds one
    total = _exp_sum(x, mx, temperature, out, not log)
    if log:
        lse = math.log(total)
        for j in range(x.size):
            out[j] = (x[j] - mx) / temperature - lse
    else:
        for j in range(x.size):
            out[j] = out[j] / total


@njit(**PARALLEL)
def softmax_rows(x, temperature, out, log):
    """softmax or log-softmax of each row of the 2-D x into out, rows in parallel (a batch of
    rows, as softmax is used: each row's passes stay in cache; one long row runs on one
    thread). ``temperature`` is in x's dtype."""
    for r in prange(x.shape[0]):
        _softmax_row(x[r], temperature, out[r], log)


@njit(**SERIAL)
def _ce_row(x, y, eps):
    """(1-eps)(lse - x[y]) + eps (lse - mean x) of one row of logits, lse its log-sum-exp; the
    smoothing term left out when eps == 0 (0 * inf would be nan). A +inf or nan logit makes
    the sum of exps, and so the loss, nan."""
    mx = np.max(x)
    s = 0.0
    sx = 0.0
    for j in range(x.size):
        s += math.exp(x[j] - mx)
        if eps != 0.0:
            sx += x[j]
    lse = mx + math.log(s)
    loss = lse - x[y]
    if eps != 0.0:
        loss = (1.0 - eps) * loss + eps * (lse - sx / x.size)
    return loss


@njit(**PARALLEL)
def ce_logits_rows(x, targets, ignore_index, eps, losses):
    """Per-row loss of the (N, V) logits against int64 targets, rows in parallel; 0 for an
    ignored row."""
    for r in prange(x.shape[0]):
        y = targets[r]
        losses[r] = 0.0 if y == ignore_index else _ce_row(x[r], y, eps)


# ---------------------------------------------------------------------------- Gaussians

@njit(**PARALLEL)
def gaussian_kl(mu1, sigma1, mu2, sigma2, out):
    """out = (log s2 - log s1) + ((r - 1)(r + 1) + t^2) / 2 with r = s1/s2, t = (m1-m2)/s2,
    over 1-D arrays, in float64: the log of each sigma and squares of quotients, so nothing
    overflows, and r^2 - 1 as a product, so equal sigmas add no rounding."""
    for i in prange(out.size):
        s1 = np.float64(sigma1[i])
        s2 = np.float64(sigma2[i])
        r = s1 / s2
        t = (np.float64(mu1[i]) - np.float64(mu2[i])) / s2
        out[i] = (math.log(s2) - math.log(s1)) + ((r - 1.0) * (r + 1.0) + t * t) / 2.0


@njit(**PARALLEL)
def gaussian_entropy(sigma, out):
    """out = log(2 pi e)/2 + log(sigma) over 1-D arrays, in float64."""
    for i in prange(out.size):
        out[i] = _HALF_LOG_2PI_E + math.log(np.float64(sigma[i]))
