"""The pure-Python backend: the lecture's "slow on purpose" loops.

Every kernel is an honest Python ``for`` loop over elements with :mod:`math` scalars. NumPy is
used only to allocate results, to get aligned 1-D views (:func:`kernbench._arrays.flat_pieces`),
to read one element at a time (``a.item(i)``, a Python float) and to write one element at a time
(``a[i] = v``). Arithmetic is done in Python floats (IEEE double); storing into a float32 array
rounds once. Host scalars are first cast to the array dtype, as the contract asks of every backend.
The optimizer steps are the exception: their contract is the parameter dtype's arithmetic, so a
float32 step reads elements and scalars as NumPy float32 scalars (``a[i]``), whose every operation
rounds to float32, and runs the same loop (:func:`_step_numbers`).

Python floats differ from NumPy in three ways that a kernel must hide, because a kernel never
raises on data that passed validation: ``x / 0.0`` raises ZeroDivisionError, ``math.log`` raises
on 0 and negatives, ``math.exp``/``math.cos`` raise on overflow/inf. The kernels below guard those
cases and return what NumPy would (inf, -inf or nan).
"""

from __future__ import annotations

import math

import numpy as np

from kernbench._arrays import flat_pieces
from kernbench._hyper import adam_scalars
from kernbench.backends import Backend
from kernbench.backends.interface import (
    STATUS_OK,
    STATUS_P_INVALID,
    STATUS_P_ZERO_SUM,
    STATUS_Q_INVALID,
    STATUS_Q_ZERO_SUM,
)

_INF = math.inf
_NEG_INF = -math.inf
_NAN = math.nan
_LN2 = math.log(2.0)
_HALF_LOG_2PI_E = math.log(2.0 * math.pi * math.e) / 2.0


# ---------------------------------------------------------------------- NumPy-like scalar helpers
def _div(a: float, b: float) -> float:
    """a / b with IEEE semantics (NumPy's): x/0 -> +-inf, 0/0 and nan/0 -> nan."""
    if b != 0.0 or b != b:
        return a / b
    if a != a or a == 0.0:
        return _NAN
    # sign of the result: sign(a) * sign(b), where b is +0.0 or -0.0
    negative = (a < 0.0) != (math.copysign(1.0, b) < 0.0)
    return _NEG_INF if negative else _INF


def _log(x: float) -> float:
    """math.log with NumPy's answers where math raises: log(0) = -inf, log(x<0) = nan."""
    if x > 0.0:
        return math.log(x)  # log(inf) = inf
    if x == 0.0:
        return _NEG_INF
    return _NAN  # negative or nan


def _sqrt(x: float) -> float:
    """math.sqrt with sqrt(x<0) = nan."""
    if x >= 0.0:
        return math.sqrt(x)
    return _NAN


def _cos(x: float) -> float:
    """math.cos with cos(+-inf) = nan."""
    if x - x == 0.0:  # finite
        return math.cos(x)
    return _NAN


def _scalar(dtype, value) -> float:
    """The host scalar ``value`` rounded to ``dtype``, as a Python float."""
    return float(dtype.type(value))


def _step_numbers(dtype):
    """(element reader, scalar cast, sqrt) of an optimizer loop over arrays of ``dtype``.

    float64: Python floats (``a.item``, ``math.sqrt``), the fast path. float32: NumPy float32
    scalars (``a[i]``, ``np.sqrt``), so that every operation of the loop rounds to float32 and
    overflows as float32 does, as torch computes; NumPy scalars return inf or nan where Python
    floats raise, so the loop needs no guard there.
    """
    if dtype == np.float64:
        return (lambda view: view.item), float, math.sqrt
    return (lambda view: view.__getitem__), dtype.type, np.sqrt


def _scaled_xlogx(xs, s: float) -> float:
    """sum of xn log xn over xn = x / s > 0: the contract's A' of the overflow-safe pass."""
    log = math.log
    a = 0.0
    for x in xs:
        xn = x / s
        if xn > 0.0:
            a += xn * log(xn)
    return a


def _scaled_pq(ps, qs, sp: float, sq: float, kl: bool) -> float:
    """B' (CE) or C' (KL) of the overflow-safe pass over pn = p / Sp: log q - log Sq, never
    log(q / Sq), which may underflow; p > 0 at q = 0 gives -inf (B') or +inf (C')."""
    log = math.log
    lsp = log(sp)
    lsq = log(sq)
    acc = 0.0
    for pj, qj in zip(ps, qs):
        if pj > 0.0:
            if qj == 0.0:
                return _INF if kl else _NEG_INF  # every other term is finite
            lq = log(qj) - lsq
            acc += (pj / sp) * (((log(pj) - lsp) - lq) if kl else lq)
    return acc


def _row_values(row) -> list:
    """The elements of a 1-D view as Python floats, read one at a time."""
    get = row.item
    return [get(j) for j in range(row.shape[0])]


class PythonBackend(Backend):
    """Element-by-element Python loops; the baseline every other backend is measured against."""

    name = "python"

    # ------------------------------------------------------------------ optimizers
    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step) -> tuple:
        reader, cast, _ = _step_numbers(param.dtype)
        dtype = param.dtype
        lr_ = cast(_scalar(dtype, lr))
        wd = cast(_scalar(dtype, weight_decay))
        mu = cast(_scalar(dtype, momentum))
        one_minus_damp = cast(_scalar(dtype, 1.0 - dampening))
        use_wd = weight_decay != 0
        use_mu = momentum != 0
        maximize = bool(maximize)
        nesterov = bool(nesterov)
        first_step = bool(first_step)
        arrays = (param, grad, momentum_buffer) if use_mu else (param, grad)
        with np.errstate(over="ignore", invalid="ignore"):
            for views in flat_pieces(*arrays):
                p_view, g_view = views[0], views[1]
                p_get = reader(p_view)
                g_get = reader(g_view)
                if use_mu:
                    b_view = views[2]
                    b_get = reader(b_view)
                for i in range(p_view.shape[0]):
                    g = g_get(i)
                    if maximize:
                        g = -g
                    p = p_get(i)
                    if use_wd:
                        g = g + wd * p
                    if use_mu:
                        if first_step:
                            b = g
                        else:
                            b = mu * b_get(i) + one_minus_damp * g
                        b_view[i] = b
                        if nesterov:
                            g = g + mu * b
                        else:
                            g = b
                    p_view[i] = p - lr_ * g
        return param, momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step) -> tuple:
        dtype = param.dtype
        reader, cast, sqrt = _step_numbers(dtype)
        sc = adam_scalars(lr, beta1, beta2, step, weight_decay, decoupled)
        step_size = cast(_scalar(dtype, sc.step_size))
        bc2_sqrt = cast(_scalar(dtype, sc.bias_correction2_sqrt))
        b1 = cast(_scalar(dtype, beta1))
        b2 = cast(_scalar(dtype, beta2))
        omb1 = cast(_scalar(dtype, sc.one_minus_beta1))
        omb2 = cast(_scalar(dtype, sc.one_minus_beta2))
        eps_ = cast(_scalar(dtype, eps))
        decoupled = bool(decoupled)
        use_l2 = (not decoupled) and weight_decay != 0
        l2 = cast(_scalar(dtype, weight_decay))
        use_decay = decoupled and sc.decay_factor != 1.0
        decay = cast(_scalar(dtype, sc.decay_factor))
        amsgrad = bool(amsgrad)
        maximize = bool(maximize)
        if amsgrad:
            arrays = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
        else:
            arrays = (param, grad, exp_avg, exp_avg_sq)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for views in flat_pieces(*arrays):
                p_view, g_view, m_view, v_view = views[0], views[1], views[2], views[3]
                p_get = reader(p_view)
                g_get = reader(g_view)
                m_get = reader(m_view)
                v_get = reader(v_view)
                if amsgrad:
                    vmax_view = views[4]
                    vmax_get = reader(vmax_view)
                for i in range(p_view.shape[0]):
                    g = g_get(i)
                    if maximize:
                        g = -g
                    p = p_get(i)
                    if use_l2:
                        g = g + l2 * p
                    if use_decay:
                        p = p * decay
                    m = b1 * m_get(i) + omb1 * g
                    v = b2 * v_get(i) + omb2 * g * g  # (omb2 * g) * g, as torch's addcmul
                    m_view[i] = m
                    v_view[i] = v
                    if amsgrad:
                        vmax = vmax_get(i)
                        if v > vmax or v != v:  # NaN-propagating, like torch.maximum
                            vmax = v
                        vmax_view[i] = vmax
                        v = vmax
                    try:
                        p = p - step_size * (m / (sqrt(v) / bc2_sqrt + eps_))
                    except (ZeroDivisionError, ValueError):
                        p = p - step_size * _div(m, _sqrt(v) / bc2_sqrt + eps_)
                    p_view[i] = p
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    def sum_squares(self, x) -> float:
        total = 0.0
        for (view,) in flat_pieces(x):
            get = view.item
            for i in range(view.shape[0]):
                v = get(i)
                total += v * v
        return total

    def scale_(self, x, factor):
        f = _scalar(x.dtype, factor)
        with np.errstate(over="ignore"):
            for (view,) in flat_pieces(x):
                get = view.item
                for i in range(view.shape[0]):
                    view[i] = get(i) * f
        return x

    def cosine_schedule(self, steps, total_steps, lr_max, lr_min) -> np.ndarray:
        n = steps.shape[0]
        out = np.empty(n, dtype=np.float64)
        big_t = float(total_steps)
        hi = float(lr_max)
        lo = float(lr_min)
        span = hi - lo
        pi = math.pi
        get = steps.item
        for i in range(n):
            t = get(i)
            if t < 0.0:
                t = 0.0
            elif t > big_t:
                t = big_t
            try:
                c = math.cos(pi * t / big_t)
            except (ZeroDivisionError, ValueError):
                c = _cos(_div(pi * t, big_t))
            out[i] = lo + span * (1.0 + c) / 2.0
        return out

    # ------------------------------------------------------------------ information
    def entropy_rows(self, p) -> tuple[np.ndarray, np.ndarray]:
        n_rows, n = p.shape
        values = np.empty(n_rows, dtype=np.float64)
        status = np.zeros(n_rows, dtype=np.int8)
        log = math.log
        isfinite = math.isfinite
        for r in range(n_rows):
            get = p[r].item
            s = 0.0
            a = 0.0
            negative = False
            for j in range(n):
                x = get(j)
                s += x
                if x > 0.0:
                    a += x * log(x)
                elif x < 0.0:
                    negative = True
            if negative or not isfinite(s):
                status[r] = STATUS_P_INVALID
                values[r] = _NAN
            elif s == 0.0:
                status[r] = STATUS_P_ZERO_SUM
                values[r] = _NAN
            else:
                h = (s * log(s) - a) / s
                if not isfinite(h):  # an overflow: the contract's second pass
                    h = 0.0 - _scaled_xlogx(_row_values(p[r]), s)  # +0.0, not -0.0
                if h < 0.0:
                    h = 0.0
                values[r] = h
        return values, status

    @staticmethod
    def _pq_status(p_negative, sp, q_negative, sq) -> int:
        if p_negative or not math.isfinite(sp):
            return STATUS_P_INVALID
        if sp == 0.0:
            return STATUS_P_ZERO_SUM
        if q_negative or not math.isfinite(sq):
            return STATUS_Q_INVALID
        if sq == 0.0:
            return STATUS_Q_ZERO_SUM
        return STATUS_OK

    def cross_entropy_rows(self, p, q) -> tuple[np.ndarray, np.ndarray]:
        n_rows, n = p.shape
        values = np.empty(n_rows, dtype=np.float64)
        status = np.zeros(n_rows, dtype=np.int8)
        log = math.log
        for r in range(n_rows):
            p_get = p[r].item
            q_get = q[r].item
            sp = 0.0
            sq = 0.0
            b = 0.0
            p_negative = False
            q_negative = False
            for j in range(n):
                pj = p_get(j)
                qj = q_get(j)
                sp += pj
                sq += qj
                if pj > 0.0:
                    if qj > 0.0:
                        b += pj * log(qj)
                    elif qj == 0.0:
                        b += _NEG_INF  # p > 0, q = 0: p log q = -inf
                    # q < 0 or nan: the row is invalid, flagged below / by its sum
                elif pj < 0.0:
                    p_negative = True
                if qj < 0.0:
                    q_negative = True
            code = self._pq_status(p_negative, sp, q_negative, sq)
            status[r] = code
            if code != STATUS_OK:
                values[r] = _NAN
            else:
                ce = (sp * log(sq) - b) / sp
                if not math.isfinite(ce):  # an overflow, or a true +inf: the second pass
                    ce = 0.0 - _scaled_pq(_row_values(p[r]), _row_values(q[r]), sp, sq, False)
                values[r] = ce
        return values, status

    def kl_divergence_rows(self, p, q) -> tuple[np.ndarray, np.ndarray]:
        n_rows, n = p.shape
        values = np.empty(n_rows, dtype=np.float64)
        status = np.zeros(n_rows, dtype=np.int8)
        log = math.log
        for r in range(n_rows):
            p_get = p[r].item
            q_get = q[r].item
            sp = 0.0
            sq = 0.0
            c = 0.0
            p_negative = False
            q_negative = False
            for j in range(n):
                pj = p_get(j)
                qj = q_get(j)
                sp += pj
                sq += qj
                if pj > 0.0:
                    if qj > 0.0:
                        ratio = pj / qj  # may overflow to inf or underflow to 0
                        if ratio > 0.0:
                            c += pj * log(ratio)
                        else:
                            c += _NEG_INF
                    elif qj == 0.0:
                        c += _INF  # p > 0, q = 0: +inf
                elif pj < 0.0:
                    p_negative = True
                if qj < 0.0:
                    q_negative = True
            code = self._pq_status(p_negative, sp, q_negative, sq)
            status[r] = code
            if code != STATUS_OK:
                values[r] = _NAN
            else:
                kl = c / sp + (log(sq) - log(sp))
                if not math.isfinite(kl):  # an overflow, or a true +inf: the second pass
                    kl = _scaled_pq(_row_values(p[r]), _row_values(q[r]), sp, sq, True)
                if kl < 0.0:
                    kl = 0.0
                values[r] = kl
        return values, status

    def js_divergence_rows(self, p, q) -> tuple[np.ndarray, np.ndarray]:
        n_rows, n = p.shape
        values = np.empty(n_rows, dtype=np.float64)
        status = np.zeros(n_rows, dtype=np.int8)
        log = math.log
        for r in range(n_rows):
            # pass 1: sums and validity
            ps = _row_values(p[r])
            qs = _row_values(q[r])
            sp = 0.0
            sq = 0.0
            p_negative = False
            q_negative = False
            for j in range(n):
                pj = ps[j]
                qj = qs[j]
                sp += pj
                sq += qj
                if pj < 0.0:
                    p_negative = True
                if qj < 0.0:
                    q_negative = True
            code = self._pq_status(p_negative, sp, q_negative, sq)
            status[r] = code
            if code != STATUS_OK:
                values[r] = _NAN
                continue
            # pass 2: the terms
            a = 0.0
            b = 0.0
            for j in range(n):
                pn = ps[j] / sp
                qn = qs[j] / sq
                m = 0.5 * pn + 0.5 * qn
                if pn > 0.0:
                    a += pn * (log(pn / m) if m > 0.0 else _INF)
                if qn > 0.0:
                    b += qn * (log(qn / m) if m > 0.0 else _INF)
            js = 0.5 * a + 0.5 * b
            if js < 0.0:
                js = 0.0
            elif js > _LN2:
                js = _LN2
            values[r] = js
        return values, status

    @staticmethod
    def _joint_sums(joint):
        """One pass over the table: (status, S, A, R, C, row sums, column sums) as in the
        interface's formulas."""
        n_rows, n_cols = joint.shape
        log = math.log
        s = 0.0
        a = 0.0
        negative = False
        col_sums = [0.0] * n_cols
        row_sums = [0.0] * n_rows
        for i in range(n_rows):
            get = joint[i].item
            row = 0.0
            for j in range(n_cols):
                x = get(j)
                s += x
                row += x
                col_sums[j] += x
                if x > 0.0:
                    a += x * log(x)
                elif x < 0.0:
                    negative = True
            row_sums[i] = row
        if negative or not math.isfinite(s):
            return STATUS_P_INVALID, s, a, 0.0, 0.0, row_sums, col_sums
        if s == 0.0:
            return STATUS_P_ZERO_SUM, s, a, 0.0, 0.0, row_sums, col_sums
        big_r = 0.0
        for x in row_sums:
            if x > 0.0:
                big_r += x * log(x)
        big_c = 0.0
        for x in col_sums:
            if x > 0.0:
                big_c += x * log(x)
        return STATUS_OK, s, a, big_r, big_c, row_sums, col_sums

    @staticmethod
    def _scaled_joint(joint, s, row_sums, col_sums):
        """(A', R', C') of the overflow-safe pass: A, R, C over j / S, r / S and c / S."""
        cells = []
        for i in range(joint.shape[0]):
            cells.extend(_row_values(joint[i]))
        return (_scaled_xlogx(cells, s), _scaled_xlogx(row_sums, s),
                _scaled_xlogx(col_sums, s))

    def mutual_information(self, joint) -> tuple[float, int]:
        code, s, a, big_r, big_c, row_sums, col_sums = self._joint_sums(joint)
        if code != STATUS_OK:
            return _NAN, int(code)
        value = (a + s * math.log(s) - big_r - big_c) / s
        if not math.isfinite(value):  # an overflow: the contract's second pass
            a, big_r, big_c = self._scaled_joint(joint, s, row_sums, col_sums)
            value = a - big_r - big_c
        if value < 0.0:
            value = 0.0
        return value, STATUS_OK

    def conditional_entropy(self, joint) -> tuple[float, int]:
        code, s, a, big_r, _, row_sums, col_sums = self._joint_sums(joint)
        if code != STATUS_OK:
            return _NAN, int(code)
        value = (big_r - a) / s
        if not math.isfinite(value):  # an overflow: the contract's second pass
            a, big_r, _ = self._scaled_joint(joint, s, row_sums, col_sums)
            value = big_r - a
        if value < 0.0:
            value = 0.0
        return value, STATUS_OK

    @staticmethod
    def _row_max(xs) -> float:
        """The row max, or nan when the row holds a NaN, its max is +inf, or it is all -inf."""
        m = _NEG_INF
        has_nan = False
        for v in xs:
            if v > m:
                m = v
            elif v != v:
                has_nan = True
        if has_nan or m in (_INF, _NEG_INF):
            return _NAN
        return m

    def softmax_rows(self, x, temperature, out) -> None:
        n_rows, n = x.shape
        t = _scalar(x.dtype, temperature)
        exp = math.exp
        for r in range(n_rows):
            xs = _row_values(x[r])
            o = out[r]
            m = self._row_max(xs)
            if m != m:
                for j in range(n):
                    o[j] = _NAN
                continue
            es = [0.0] * n
            s = 0.0
            for j in range(n):
                e = exp((xs[j] - m) / t)  # <= 1: no overflow; -inf -> 0
                es[j] = e
                s += e
            for j in range(n):
                o[j] = es[j] / s  # s >= 1
        return None

    def log_softmax_rows(self, x, temperature, out) -> None:
        n_rows, n = x.shape
        t = _scalar(x.dtype, temperature)
        exp = math.exp
        log = math.log
        for r in range(n_rows):
            xs = _row_values(x[r])
            o = out[r]
            m = self._row_max(xs)
            if m != m:
                for j in range(n):
                    o[j] = _NAN
                continue
            zs = [0.0] * n
            s = 0.0
            for j in range(n):
                z = (xs[j] - m) / t
                zs[j] = z
                s += exp(z)
            log_s = log(s)  # s >= 1
            for j in range(n):
                o[j] = zs[j] - log_s  # -inf logit -> -inf
        return None

    def cross_entropy_logits_rows(self, logits, targets, ignore_index,
                                  label_smoothing) -> np.ndarray:
        n_rows, n = logits.shape
        losses = np.zeros(n_rows, dtype=np.float64)
        smoothing = _scalar(logits.dtype, label_smoothing)
        use_smoothing = label_smoothing != 0
        keep = 1.0 - smoothing
        ignore = int(ignore_index)
        exp = math.exp
        log = math.log
        t_get = targets.item
        for r in range(n_rows):
            y = int(t_get(r))
            if y == ignore:
                continue  # losses[r] stays 0
            xs = _row_values(logits[r])
            m = self._row_max(xs)
            if m != m:
                losses[r] = _NAN
                continue
            s = 0.0
            total = 0.0
            for v in xs:
                s += exp(v - m)
                total += v
            lse = m + log(s)
            loss = keep * (lse - xs[y])
            if use_smoothing:
                # torch skips the smoothing term when label_smoothing == 0 (so a -inf logit
                # elsewhere in the row does not turn 0 * inf into nan)
                loss = loss + smoothing * (lse - total / n)
            losses[r] = loss
        return losses

    def gaussian_kl(self, mu1, sigma1, mu2, sigma2, out) -> None:
        log = math.log
        with np.errstate(over="ignore"):
            for m1_v, s1_v, m2_v, s2_v, o_v in flat_pieces(mu1, sigma1, mu2, sigma2, out):
                m1_get = m1_v.item
                s1_get = s1_v.item
                m2_get = m2_v.item
                s2_get = s2_v.item
                for i in range(o_v.shape[0]):
                    s1 = s1_get(i)
                    s2 = s2_get(i)
                    d = m1_get(i) - m2_get(i)
                    # log s2 - log s1, quotients and (r - 1)(r + 1) for r^2 - 1 (contract)
                    try:
                        r = s1 / s2
                        t = d / s2
                        value = (log(s2) - log(s1)) + ((r - 1.0) * (r + 1.0) + t * t) / 2.0
                    except (ZeroDivisionError, ValueError):
                        r = _div(s1, s2)
                        t = _div(d, s2)
                        value = (_log(s2) - _log(s1)) + ((r - 1.0) * (r + 1.0) + t * t) / 2.0
                    o_v[i] = value

    def gaussian_entropy(self, sigma, out) -> None:
        c = _HALF_LOG_2PI_E
        log = math.log
        with np.errstate(over="ignore"):
            for s_v, o_v in flat_pieces(sigma, out):
                get = s_v.item
                for i in range(o_v.shape[0]):
                    s = get(i)
                    try:
                        o_v[i] = c + log(s)
                    except ValueError:
                        o_v[i] = c + _log(s)


__all__ = ["PythonBackend"]
