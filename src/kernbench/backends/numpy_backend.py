"""The ``numpy`` backend: vectorized NumPy, written as a fair opponent.

In-place ufuncs with ``out=`` and scratch buffers reused across calls, so a step allocates
nothing in steady state; every ufunc is still one pass over memory, which is what the compiled
backends beat by fusing the passes into one.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict

import numpy as np

from kernbench._hyper import adam_scalars
from kernbench.backends import Backend
from kernbench.backends.interface import (
    STATUS_OK,
    STATUS_P_INVALID,
    STATUS_P_ZERO_SUM,
    STATUS_Q_INVALID,
    STATUS_Q_ZERO_SUM,
)

_LN2 = math.log(2.0)
_HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)
#: Scratch buffers kept per (shape, dtype, slot); models repeat a few shapes many times.
_SCRATCH_ENTRIES = 64


def _quiet(kernel):
    """inf and NaN are legal data: they propagate as in torch, without RuntimeWarnings."""

    @functools.wraps(kernel)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return kernel(*args, **kwargs)

    return wrapper


def _row_status(x: np.ndarray, sums: np.ndarray, invalid: int, zero: int) -> np.ndarray:
    negative = (x < 0).any(axis=1)
    status = np.full(sums.shape, STATUS_OK, dtype=np.int8)
    status[sums == 0] = zero
    status[negative | ~np.isfinite(sums)] = invalid
    return status


def _combine(p_status: np.ndarray, q_status: np.ndarray) -> np.ndarray:
    return np.where(p_status != STATUS_OK, p_status, q_status).astype(np.int8)


def _sum_xlogy(x: np.ndarray, y: np.ndarray, mask: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """Row sums of x*log(y) over the entries where ``mask`` holds, in float64.

    ``buf`` is float64 even for float32 input: the logs are taken in float64 as in the compiled
    backends, so x log x of a one-hot row cancels exactly against S log S.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.log(y, out=buf, where=mask, dtype=buf.dtype)
        np.multiply(x, buf, out=buf, where=mask, dtype=buf.dtype)  # may overflow: see redo
        return np.add.reduce(buf, axis=1, dtype=np.float64, where=mask)


def _redo(values: np.ndarray, status: np.ndarray):
    """Rows of the second, overflow-safe pass (valid, with a first value that is not finite),
    or None when there are none (one isfinite pass over the values on ordinary input)."""
    if np.isfinite(values).all():
        return None
    redo = (status == STATUS_OK) & ~np.isfinite(values)
    return redo if redo.any() else None


def _scaled_xlogx(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Row sums of xn log xn over xn = x / s > 0 (the contract's A' of the second pass)."""
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        xn = np.divide(x, s[:, None], dtype=np.float64)
        return _sum_xlogy(xn, xn, xn > 0, np.empty_like(xn))


def _scaled_pq(p, q, sp, sq, kl: bool) -> np.ndarray:
    """Row sums B' (CE) or C' (KL) of the second pass over pn = p / Sp, without log(q / Sq)."""
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        pn = np.divide(p, sp[:, None], dtype=np.float64)
        t = np.log(q, dtype=np.float64)
        t -= np.log(sq)[:, None]
        if kl:
            t = (np.log(p, dtype=np.float64) - np.log(sp)[:, None]) - t
        t *= pn
        t[(p > 0) & (q == 0)] = np.inf if kl else -np.inf  # p > 0 at q = 0, however small p
        return np.add.reduce(t, axis=1, where=p > 0)


class NumpyBackend(Backend):
    name = "numpy"

    def __init__(self):
        self._scratch: OrderedDict = OrderedDict()

    def _buffer(self, shape, dtype, slot: int = 0) -> np.ndarray:
        key = (tuple(shape), np.dtype(dtype).str, slot)
        buf = self._scratch.pop(key, None)
        if buf is None:
            buf = np.empty(shape, dtype=dtype)
        self._scratch[key] = buf
        while len(self._scratch) > _SCRATCH_ENTRIES:
            self._scratch.popitem(last=False)
        return buf

    # ------------------------------------------------------------------ optimizers
    def _effective_grad(self, param, grad, weight_decay, maximize, slot):
        """-g if maximize, + wd*p if wd: into a scratch buffer, never into the caller's grad."""
        if not maximize and weight_decay == 0:
            return grad
        g = self._buffer(param.shape, param.dtype, slot)
        if maximize:
            np.negative(grad, out=g)
        else:
            np.copyto(g, grad)
        if weight_decay != 0:
            tmp = self._buffer(param.shape, param.dtype, slot + 1)
            np.multiply(param, param.dtype.type(weight_decay), out=tmp)
            g += tmp
        return g

    @_quiet
    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step) -> tuple:
        dt = param.dtype.type
        g = self._effective_grad(param, grad, weight_decay, maximize, slot=0)
        if momentum != 0:
            buf = momentum_buffer
            if first_step:
                np.copyto(buf, g)
            else:
                buf *= dt(momentum)
                tmp = self._buffer(param.shape, param.dtype, 2)
                np.multiply(g, dt(1.0 - dampening), out=tmp)
                buf += tmp
            if nesterov:
                tmp = self._buffer(param.shape, param.dtype, 2)
                np.multiply(buf, dt(momentum), out=tmp)
                tmp += g
                g = tmp
            else:
                g = buf
        tmp = self._buffer(param.shape, param.dtype, 3)
        np.multiply(g, dt(lr), out=tmp)
        param -= tmp
        return param, momentum_buffer

    @_quiet
    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step) -> tuple:
        dt = param.dtype.type
        s = adam_scalars(lr, beta1, beta2, step, weight_decay, decoupled)
        if decoupled:
            if s.decay_factor != 1.0:
                param *= dt(s.decay_factor)
            g = self._effective_grad(param, grad, 0.0, maximize, slot=0)
        else:
            g = self._effective_grad(param, grad, weight_decay, maximize, slot=0)
        tmp = self._buffer(param.shape, param.dtype, 2)
        exp_avg *= dt(beta1)
        np.multiply(g, dt(s.one_minus_beta1), out=tmp)
        exp_avg += tmp
        exp_avg_sq *= dt(beta2)
        np.multiply(g, dt(s.one_minus_beta2), out=tmp)  # ((1-b2) g) g, as torch's addcmul
        tmp *= g
        exp_avg_sq += tmp
        second = exp_avg_sq
        if amsgrad:
            np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            second = max_exp_avg_sq
        np.sqrt(second, out=tmp)
        tmp /= dt(s.bias_correction2_sqrt)
        tmp += dt(eps)
        np.divide(exp_avg, tmp, out=tmp)
        tmp *= dt(s.step_size)
        param -= tmp
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    def sum_squares(self, x) -> float:
        if x.dtype == np.float64 and x.flags.c_contiguous:
            flat = x.reshape(-1)
            return float(np.dot(flat, flat))
        axes = "abcdefghijklmnopqrstuvwxyz"[:x.ndim]
        return float(np.einsum(f"{axes},{axes}->", x, x, dtype=np.float64, casting="safe"))

    @_quiet
    def scale_(self, x, factor):
        x *= x.dtype.type(factor)
        return x

    def cosine_schedule(self, steps, total_steps, lr_max, lr_min) -> np.ndarray:
        t = np.clip(steps, 0.0, total_steps)
        out = np.multiply(t, math.pi / total_steps)
        np.cos(out, out=out)
        out += 1.0
        # (hi - lo) * (1 + cos) / 2 in the contract's order, as the other backends: halving
        # (hi - lo) first rounds a subnormal span to 0 where they keep it
        out *= lr_max - lr_min
        out *= 0.5
        out += lr_min
        return out

    # ------------------------------------------------------------------ information
    def entropy_rows(self, p):
        s = p.sum(axis=1, dtype=np.float64)
        status = _row_status(p, s, STATUS_P_INVALID, STATUS_P_ZERO_SUM)
        a = _sum_xlogy(p, p, p > 0, self._buffer(p.shape, np.float64))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            h = (s * np.log(s) - a) / s
        redo = _redo(h, status)
        if redo is not None:
            h[redo] = 0.0 - _scaled_xlogx(p[redo], s[redo])
        return np.maximum(h, 0.0), status

    def _pair_sums(self, p, q):
        sp = p.sum(axis=1, dtype=np.float64)
        sq = q.sum(axis=1, dtype=np.float64)
        status = _combine(_row_status(p, sp, STATUS_P_INVALID, STATUS_P_ZERO_SUM),
                          _row_status(q, sq, STATUS_Q_INVALID, STATUS_Q_ZERO_SUM))
        return sp, sq, status

    def cross_entropy_rows(self, p, q):
        sp, sq, status = self._pair_sums(p, q)
        b = _sum_xlogy(p, q, p > 0, self._buffer(p.shape, np.float64))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ce = (sp * np.log(sq) - b) / sp
        redo = _redo(ce, status)
        if redo is not None:
            ce[redo] = 0.0 - _scaled_pq(p[redo], q[redo], sp[redo], sq[redo], False)
        return ce, status

    def kl_divergence_rows(self, p, q):
        sp, sq, status = self._pair_sums(p, q)
        ratio = self._buffer(p.shape, np.float64, 1)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            np.divide(p, q, out=ratio, dtype=np.float64)
            # q = -0.0 is a zero: p / -0.0 = -inf, and |.| makes it the +inf of q = +0.0 (any
            # other negative ratio belongs to a row whose status is invalid).
            np.abs(ratio, out=ratio)
            c = _sum_xlogy(p, ratio, p > 0, ratio)
            kl = c / sp + (np.log(sq) - np.log(sp))
        redo = _redo(kl, status)
        if redo is not None:
            kl[redo] = _scaled_pq(p[redo], q[redo], sp[redo], sq[redo], True)
        return np.maximum(kl, 0.0), status

    def js_divergence_rows(self, p, q):
        sp, sq, status = self._pair_sums(p, q)
        # In float64, as the other backends: a float32 row summing past float32's range
        # (two entries of 3.4e38) cast its sum to inf and its normalized entries to 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            pn = np.divide(p, sp[:, None], dtype=np.float64)
            qn = np.divide(q, sq[:, None], dtype=np.float64)
            m = self._buffer(p.shape, np.float64, 1)
            np.multiply(pn, 0.5, out=m)
            half_q = self._buffer(p.shape, np.float64, 2)
            np.multiply(qn, 0.5, out=half_q)
            m += half_q
            ratio = self._buffer(p.shape, np.float64, 3)
            np.divide(pn, m, out=ratio, where=pn > 0, dtype=np.float64)
            kp = _sum_xlogy(pn, ratio, pn > 0, ratio)
            np.divide(qn, m, out=ratio, where=qn > 0, dtype=np.float64)
            kq = _sum_xlogy(qn, ratio, qn > 0, ratio)
        js = 0.5 * kp + 0.5 * kq
        return np.clip(js, 0.0, _LN2), status

    def _joint_terms(self, joint):
        s = float(joint.sum(dtype=np.float64))
        negative = bool((joint < 0).any())
        if negative or not math.isfinite(s):
            return None, STATUS_P_INVALID
        if s == 0:
            return None, STATUS_P_ZERO_SUM
        j2 = joint.reshape(1, -1) if joint.flags.c_contiguous else joint.reshape(1, -1).copy()
        r = joint.sum(axis=1, dtype=np.float64)[None, :]
        c = joint.sum(axis=0, dtype=np.float64)[None, :]
        a = float(_sum_xlogy(j2, j2, j2 > 0, self._buffer(j2.shape, np.float64))[0])
        rr = float(_sum_xlogy(r, r, r > 0, np.empty_like(r))[0])
        cc = float(_sum_xlogy(c, c, c > 0, np.empty_like(c))[0])
        return (s, a, rr, cc, j2, r, c), STATUS_OK

    @staticmethod
    def _scaled_joint(terms):
        """(A', R', C') of the second pass: A, R and C over the table, row and column sums / S."""
        s, _, _, _, j2, r, c = terms
        s1 = np.array([s])
        return (float(_scaled_xlogx(j2, s1)[0]), float(_scaled_xlogx(r, s1)[0]),
                float(_scaled_xlogx(c, s1)[0]))

    def mutual_information(self, joint):
        terms, status = self._joint_terms(joint)
        if terms is None:
            return 0.0, status
        s, a, rr, cc = terms[:4]
        with np.errstate(over="ignore", invalid="ignore"):
            value = (a + s * np.log(s) - rr - cc) / s
        if not math.isfinite(value):
            a, rr, cc = self._scaled_joint(terms)
            value = a - rr - cc
        return max(float(value), 0.0), STATUS_OK

    def conditional_entropy(self, joint):
        terms, status = self._joint_terms(joint)
        if terms is None:
            return 0.0, status
        s, a, rr = terms[:3]
        value = rr - a
        if not math.isfinite(value):
            a, rr, _ = self._scaled_joint(terms)
            value = rr - a
        else:
            value /= s
        return max(value, 0.0), STATUS_OK

    def _shifted(self, x, temperature, out):
        """out = (x - row max) / T; returns the row max (keepdims)."""
        m = x.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            np.subtract(x, m, out=out)
        if temperature != 1.0:
            out /= x.dtype.type(temperature)
        return m

    @_quiet
    def softmax_rows(self, x, temperature, out) -> None:
        self._shifted(x, temperature, out)
        np.exp(out, out=out)
        with np.errstate(invalid="ignore"):
            out /= out.sum(axis=1, keepdims=True)

    @_quiet
    def log_softmax_rows(self, x, temperature, out) -> None:
        self._shifted(x, temperature, out)
        e = self._buffer(x.shape, x.dtype)
        np.exp(out, out=e)
        s = e.sum(axis=1, keepdims=True, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out -= np.log(s).astype(x.dtype)

    @_quiet
    def cross_entropy_logits_rows(self, logits, targets, ignore_index, label_smoothing):
        n = logits.shape[0]
        e = self._buffer(logits.shape, logits.dtype)
        m = self._shifted(logits, 1.0, e)[:, 0].astype(np.float64)
        np.exp(e, out=e)
        with np.errstate(invalid="ignore", divide="ignore"):
            lse = m + np.log(e.sum(axis=1, dtype=np.float64))
        ignored = targets == ignore_index
        picked = logits[np.arange(n), np.where(ignored, 0, targets)].astype(np.float64)
        with np.errstate(invalid="ignore"):
            loss = lse - picked
            if label_smoothing != 0:
                mean = logits.mean(axis=1, dtype=np.float64)
                loss = (1.0 - label_smoothing) * loss + label_smoothing * (lse - mean)
        loss[ignored] = 0.0
        return loss

    @_quiet
    def gaussian_kl(self, mu1, sigma1, mu2, sigma2, out) -> None:
        dt = out.dtype.type
        tmp = self._buffer(out.shape, out.dtype, 0)
        quad = self._buffer(out.shape, out.dtype, 1)
        np.log(sigma2, out=out)  # log s2 - log s1: s2 / s1 may overflow (contract)
        np.log(sigma1, out=tmp)
        out -= tmp
        np.divide(sigma1, sigma2, out=quad)  # r^2 - 1 as q (q + 2), q = r - 1 (exact near 1)
        quad -= dt(1)
        np.add(quad, dt(2), out=tmp)
        quad *= tmp
        np.subtract(mu1, mu2, out=tmp)
        tmp /= sigma2
        tmp *= tmp
        quad += tmp
        quad *= dt(0.5)
        out += quad

    @_quiet
    def gaussian_entropy(self, sigma, out) -> None:
        np.log(sigma, out=out)
        out += out.dtype.type(_HALF_LOG_2PI_E)
