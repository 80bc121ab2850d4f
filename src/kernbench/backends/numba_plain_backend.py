"""The ``numba-plain`` backend: ``@njit`` kernels as numba's documentation teaches them.

The answer to "what does plain numba give me?", measured beside the tuned ``numba`` backend:
one ``@njit(cache=True, parallel=True)`` function per kernel, ``prange``, ``math.log`` and
``math.exp`` (see :mod:`kernbench.backends._numba_plain_kernels`). This module is the host
side: it casts scalars to the array dtype, walks n-D and strided arrays as 1-D views and
allocates outputs. It shares nothing compiled with the ``numba`` backend.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from kernbench._arrays import memory_order_pieces
from kernbench._hyper import adam_kernel_args
from kernbench.backends import _finals
from kernbench.backends import _numba_plain_kernels as K
from kernbench.backends._numba_threads import PARALLEL_LOCK, threading_layer_is_thread_safe
from kernbench.backends.interface import KERNELS, Backend

#: A row is cut into chunks of at least this many elements; shorter rows stay whole.
MIN_CHUNK = 4096


def _chunks(x) -> int:
    """Chunks per row of a row kernel over the 2-D x: 1 when there are at least as many rows
    as threads, else enough chunks (of at least MIN_CHUNK elements) that every thread gets
    work. Decided here: numba's ``get_num_threads`` inside a kernel would keep it from being
    cached."""
    rows, n = x.shape
    threads = numba.get_num_threads()
    if rows == 0 or rows >= threads:
        return 1
    return min(-(-threads // rows), max(1, n // MIN_CHUNK))


def _one_at_a_time_where_unsafe(method):
    """The kernel method, its calls serialized where the threading layer is not thread-safe
    (tbb and omp are; ``NUMBA_THREADING_LAYER=tbb`` with the tbb package installed picks one)."""

    @functools.wraps(method)
    def guarded(*args, **kwargs):
        if threading_layer_is_thread_safe():
            return method(*args, **kwargs)
        with PARALLEL_LOCK:
            return method(*args, **kwargs)

    return guarded


def _empty(dtype) -> np.ndarray:
    """A zero-length stand-in for an absent state array (momentum buffer, max_exp_avg_sq)."""
    return np.empty(0, dtype=dtype)


class NumbaPlainBackend(Backend):
    name = "numba-plain"

    # ------------------------------------------------------------------ optimizers
    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step) -> tuple:
        dt = param.dtype.type
        has_mom = momentum != 0
        args = (dt(lr), dt(weight_decay), dt(momentum), dt(1.0 - dampening),
                weight_decay != 0, has_mom, bool(nesterov), bool(maximize), bool(first_step))
        if has_mom:
            for p, g, b in memory_order_pieces(param, grad, momentum_buffer):
                K.sgd_step(p, g, b, *args)
        else:
            for p, g in memory_order_pieces(param, grad):
                K.sgd_step(p, g, _empty(param.dtype), *args)
        return param, momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step) -> tuple:
        dt = param.dtype.type
        scalars, flags = adam_kernel_args(lr, beta1, beta2, eps, weight_decay, decoupled,
                                          amsgrad, maximize, step)
        args = tuple(dt(x) for x in scalars) + flags
        if amsgrad:
            for p, g, m, v, vmax in memory_order_pieces(param, grad, exp_avg, exp_avg_sq,
                                                        max_exp_avg_sq):
                K.adam_step(p, g, m, v, vmax, *args)
        else:
            for p, g, m, v in memory_order_pieces(param, grad, exp_avg, exp_avg_sq):
                K.adam_step(p, g, m, v, _empty(param.dtype), *args)
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    def sum_squares(self, x) -> float:
        return float(sum(K.sum_squares(piece) for (piece,) in memory_order_pieces(x) if piece.size))

    def scale_(self, x, factor):
        f = x.dtype.type(factor)
        for (piece,) in memory_order_pieces(x):
            K.scale(piece, f)
        return x

    def cosine_schedule(self, steps, total_steps, lr_max, lr_min) -> np.ndarray:
        steps = np.ascontiguousarray(steps, dtype=np.float64).reshape(-1)
        return K.cosine_schedule(steps, float(total_steps), float(lr_max), float(lr_min))

    # ------------------------------------------------------------------ information
    @staticmethod
    def _row_outputs(x):
        return np.empty(x.shape[0]), np.empty(x.shape[0], dtype=np.int8)

    def entropy_rows(self, p):
        values, status = self._row_outputs(p)
        K.entropy_rows(p, values, status, _chunks(p))
        return values, status

    def cross_entropy_rows(self, p, q):
        values, status = self._row_outputs(p)
        K.pq_rows(p, q, values, status, False, _chunks(p))
        return values, status

    def kl_divergence_rows(self, p, q):
        values, status = self._row_outputs(p)
        K.pq_rows(p, q, values, status, True, _chunks(p))
        return values, status

    def js_divergence_rows(self, p, q):
        values, status = self._row_outputs(p)
        K.js_rows(p, q, values, status, _chunks(p))
        return values, status

    def _joint_terms(self, joint):
        """(S, A, R, C, status) of a joint table."""
        s, a, rr, cc, neg = K.joint_terms(joint)
        return s, a, rr, cc, _finals.joint_status(neg, s)

    def mutual_information(self, joint):
        s, a, rr, cc, status = self._joint_terms(joint)
        return _finals.mutual_information(s, a, rr, cc, status,
                                          lambda: K.joint_scaled_terms(joint, s))

    def conditional_entropy(self, joint):
        s, a, rr, _, status = self._joint_terms(joint)
        return _finals.conditional_entropy(s, a, rr, status,
                                           lambda: K.joint_scaled_terms(joint, s))

    def softmax_rows(self, x, temperature, out) -> None:
        K.softmax_rows(x, x.dtype.type(temperature), out, False)

    def log_softmax_rows(self, x, temperature, out) -> None:
        K.softmax_rows(x, x.dtype.type(temperature), out, True)

    def cross_entropy_logits_rows(self, logits, targets, ignore_index,
                                  label_smoothing) -> np.ndarray:
        losses = np.empty(logits.shape[0])
        targets = np.ascontiguousarray(targets, dtype=np.int64)
        K.ce_logits_rows(logits, targets, int(ignore_index), float(label_smoothing), losses)
        return losses

    def gaussian_kl(self, mu1, sigma1, mu2, sigma2, out) -> None:
        for o, m1, s1, m2, s2 in memory_order_pieces(out, mu1, sigma1, mu2, sigma2):
            K.gaussian_kl(m1, s1, m2, s2, o)

    def gaussian_entropy(self, sigma, out) -> None:
        for o, s in memory_order_pieces(out, sigma):
            K.gaussian_entropy(s, o)


for _name in KERNELS:
    setattr(NumbaPlainBackend, _name,
            _one_at_a_time_where_unsafe(getattr(NumbaPlainBackend, _name)))
