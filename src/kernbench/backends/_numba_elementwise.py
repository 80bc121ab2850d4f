"""Compiled elementwise kernels of the ``numba`` backend: the optimizer steps, ``scale_``, the
sum of squares, the cosine schedule and the Gaussians; the host side is :mod:`numba_backend`.

Each kernel cuts its 1-D arrays into chunks of ``ch`` elements, one task per chunk, run by the
task runtime (:mod:`_numba_runtime`) serially or on numba's threads (``parallel``): the same
task code on the same chunks either way, so the same bits. The per-element SGD and Adam
updates are shared with the cuda kernels (:mod:`_updates`). The options, the loop-invariant
flags and the vectorizable log are those of :mod:`_numba_kernels`, whose docstring says why.
The row reductions and the softmax family live there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import carray, types
from numba.extending import intrinsic, overload

from kernbench.backends._finals import HALF_LOG_2PI_E as _HALF_LOG_2PI_E
from kernbench.backends._numba_math import _cast_like, _log, _log_native
from kernbench.backends._numba_runtime import OPTS as _OPTS
from kernbench.backends._numba_runtime import linked as _linked
from kernbench.backends._numba_runtime import njit, vectorize
from kernbench.backends._numba_runtime import run as _run
from kernbench.backends._updates import adam_update, sgd_update

#: The sum of squares adds fastmath's reassociation flag alone (see :mod:`_numba_kernels`).
_SUM_OPTS = dict(_OPTS, fastmath={"reassoc"})


# ---------------------------------------------------------------------------- chunks

@_linked(**_OPTS)
def _bounds(t, ch, n):
    """[first, last + 1) of chunk t of ``ch`` elements out of n."""
    a = t * ch
    return a, min(n, a + ch)


@_linked(**_OPTS)
def _chunks(n, ch):
    return (n + ch - 1) // ch


# ---------------------------------------------------------------------------- optimizers

# Each step is one element function, shared with the cuda kernels (:mod:`_updates`), and two
# loops over it: in place (the numba backend) and into fresh output arrays (the dask backend,
# so that a failed step leaves the old state intact). They must be two loops: when an output
# is the very array an input is read from, LLVM's run-time overlap check fails and it runs the
# scalar loop, measured 7x slower at 1e4 float32 elements.

#: (new param, new momentum buffer) of one element of an SGD step (see :mod:`_updates`).
_sgd_elem = _linked(**_OPTS)(sgd_update)


@njit(**_OPTS)
def _sgd_task(t, p, g, b, ch, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov, maximize,
              first):
    """Chunk t of an SGD step in place (b is empty without momentum)."""
    a, e = _bounds(t, ch, p.size)
    ps = p[a:e]  # slices indexed from 0 (see _exp_sum)
    gs = g[a:e]
    bs = b[a:e]
    for i in range(ps.size):
        pn, bn = _sgd_elem(gs[i], ps[i], bs[i] if has_mom else ps[i], lr, wd, mu,
                           one_minus_damp, has_wd, has_mom, nesterov, maximize, first)
        ps[i] = pn
        if has_mom:
            bs[i] = bn


@njit(**_OPTS)
def sgd(p, g, b, ch, parallel, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov, maximize,
        first):
    """One SGD step in place, in chunks of ``ch`` elements."""
    _run(_sgd_task, _chunks(p.size, ch), (p, g, b, ch, lr, wd, mu, one_minus_damp, has_wd,
                                           has_mom, nesterov, maximize, first), parallel)


@njit(**_OPTS)
def sgd_into(p, g, b, p_out, b_out, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov,
             maximize, first):
    """One SGD step written to p_out and b_out (serial: one dask chunk)."""
    for i in range(p.size):
        pn, bn = _sgd_elem(g[i], p[i], b[i] if has_mom else p[i], lr, wd, mu, one_minus_damp,
                           has_wd, has_mom, nesterov, maximize, first)
        p_out[i] = pn
        if has_mom:
            b_out[i] = bn



#: (param, exp_avg, exp_avg_sq, max_exp_avg_sq) of one element after an Adam/AdamW step
#: (see :mod:`_updates`).
_adam_elem = _linked(**_OPTS)(adam_update)


@_linked(**_OPTS)
def _adam_span(p, g, m, v, vmax, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
               one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    """One Adam/AdamW step in place over 1-D arrays (vmax is empty without AMSGrad)."""
    for i in range(p.size):
        pn, mn, vn, vmn = _adam_elem(g[i], p[i], m[i], v[i], vmax[i] if amsgrad else v[i],
                                     step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
                                     one_minus_beta2, eps, wd, decay, coupled, decay_on,
                                     amsgrad, maximize)
        p[i] = pn
        m[i] = mn
        v[i] = vn
        if amsgrad:
            vmax[i] = vmn


@njit(**_OPTS)
def _adam_task(t, p, g, m, v, vmax, ch, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
               one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    a, e = _bounds(t, ch, p.size)
    _adam_span(p[a:e], g[a:e], m[a:e], v[a:e], vmax[a:e], step_size, bc2_sqrt, beta1,
               one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on,
               amsgrad, maximize)


@njit(**_OPTS)
def adam(p, g, m, v, vmax, ch, parallel, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
         one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    """One Adam/AdamW step in place, in chunks of ``ch`` elements."""
    _run(_adam_task, _chunks(p.size, ch),
         (p, g, m, v, vmax, ch, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
          one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize), parallel)


@njit(**_OPTS)
def adam_packed(p, g, m, v, vmax, scalars, flags):
    """One Adam/AdamW step in place over a small 1-D tensor, serially, its nine scalars in one
    array of p's dtype (in adam()'s order, step_size first) and its four flags (coupled,
    decay_on, amsgrad, maximize) in one uint8 array. numba's dispatcher pays per argument:
    adam()'s twenty cost about 1.1 us a call, these seven 0.35 us, which on a tensor of a few
    elements is most of the step. The arithmetic is adam()'s, element for element."""
    _adam_span(p, g, m, v, vmax, scalars[0], scalars[1], scalars[2], scalars[3], scalars[4],
               scalars[5], scalars[6], scalars[7], scalars[8], flags[0] != 0, flags[1] != 0,
               flags[2] != 0, flags[3] != 0)


@njit(**_OPTS)
def adam_into(p, g, m, v, vmax, p_out, m_out, v_out, vmax_out, step_size, bc2_sqrt, beta1,
              one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on,
              amsgrad, maximize):
    """One Adam/AdamW step written to the output arrays (serial: one dask chunk)."""
    for i in range(p.size):
        pn, mn, vn, vmn = _adam_elem(g[i], p[i], m[i], v[i], vmax[i] if amsgrad else v[i],
                                     step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
                                     one_minus_beta2, eps, wd, decay, coupled, decay_on,
                                     amsgrad, maximize)
        p_out[i] = pn
        m_out[i] = mn
        v_out[i] = vn
        if amsgrad:
            vmax_out[i] = vmn



@intrinsic
def _ptr_like(typingctx, address, like):
    """The integer ``address`` as a pointer to ``like``'s dtype (``like`` is an array)."""
    ptr = types.CPointer(like.dtype)
    sig = ptr(address, like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return sig, codegen


@njit(**_OPTS)
def _adam_multi_task(k, segments, task_start, addresses, step_sizes, bc2_sqrts, like, beta1,
                     one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on,
                     amsgrad, maximize):
    size = like.itemsize
    for j in range(task_start[k], task_start[k + 1]):
        i = segments[j, 0]
        off = segments[j, 1] * size
        n = segments[j, 2]
        p = carray(_ptr_like(addresses[i, 0] + off, like), n)
        g = carray(_ptr_like(addresses[i, 1] + off, like), n)
        m = carray(_ptr_like(addresses[i, 2] + off, like), n)
        v = carray(_ptr_like(addresses[i, 3] + off, like), n)
        vm = carray(_ptr_like(addresses[i, 4] + off, like), n if amsgrad else 0)
        _adam_span(p, g, m, v, vm, step_sizes[i], bc2_sqrts[i], beta1, one_minus_beta1, beta2,
                   one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize)


@njit(**_OPTS)
def adam_multi(segments, task_start, addresses, step_sizes, bc2_sqrts, like, parallel, beta1,
               one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on,
               amsgrad, maximize):
    """One Adam/AdamW step over many C-contiguous tensors of ``like``'s dtype, in place.

    ``addresses[i]`` holds the data addresses of tensor i's (param, grad, exp_avg, exp_avg_sq,
    max_exp_avg_sq) (the last 0 without AMSGrad); ``step_sizes[i]`` and ``bc2_sqrts[i]`` its
    bias corrections. Task k runs the segments ``task_start[k]:task_start[k + 1]`` of
    ``segments`` (rows of tensor, first element, length): tasks of equal element counts, so a
    static split over threads is balanced, and one parallel region covers the whole model.
    """
    _run(_adam_multi_task, task_start.size - 1,
         (segments, task_start, addresses, step_sizes, bc2_sqrts, like, beta1, one_minus_beta1,
          beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize),
         parallel)


@_linked(**_SUM_OPTS)
def _sumsq_span(x):
    """float64 sum of squares of a span, vectorized (reassociated into LLVM's lanes)."""
    s = 0.0
    for j in range(x.size):
        v = np.float64(x[j])
        s += v * v
    return s


@njit(**_OPTS)
def _sum_squares_task(t, x, ch, part):
    a, e = _bounds(t, ch, x.size)
    part[t] = _sumsq_span(x[a:e])


@njit(**_OPTS)
def sum_squares(x, ch, parallel):
    """float64 sum of squares, in chunks of ``ch`` elements added in order (the bits depend on
    ``ch`` alone, not on the threads)."""
    nch = _chunks(x.size, ch)
    part = np.empty(nch)
    _run(_sum_squares_task, nch, (x, ch, part), parallel)
    total = 0.0
    for c in range(nch):
        total += part[c]
    return total


@njit(**_OPTS)
def _scale_task(t, x, ch, factor):
    a, e = _bounds(t, ch, x.size)
    xs = x[a:e]
    for i in range(xs.size):
        xs[i] = xs[i] * factor


@njit(**_OPTS)
def scale(x, ch, parallel, factor):
    _run(_scale_task, _chunks(x.size, ch), (x, ch, factor), parallel)


@njit(**_OPTS)
def cosine_schedule(steps, total, lr_max, lr_min):
    out = np.empty(steps.size)
    for i in range(steps.size):
        t = min(max(steps[i], 0.0), total)
        out[i] = lr_min + (lr_max - lr_min) * (1.0 + math.cos(math.pi * t / total)) / 2.0
    return out


# ---------------------------------------------------------------------------- Gaussians


def _gaussian_kl_scalar(mu1, sigma1, mu2, sigma2):
    s1 = np.float64(sigma1)
    s2 = np.float64(sigma2)
    d = np.float64(mu1) - np.float64(mu2)
    r = s1 / s2
    t = d / s2
    # log s2 - log s1, quotients and (r - 1)(r + 1) for r^2 - 1 (contract)
    return (_log(s2) - _log(s1)) + ((r - 1.0) * (r + 1.0) + t * t) / 2.0


def _gaussian_entropy_scalar(sigma):
    """In sigma's precision: one log and one add, so float32 gets float32's sixteen lanes."""
    return _cast_like(sigma, _HALF_LOG_2PI_E) + _log_native(sigma)


_gaussian_kl_elem = njit(inline="always", **_OPTS)(_gaussian_kl_scalar)
_gaussian_entropy_elem = _linked(**_OPTS)(_gaussian_entropy_scalar)


def _at(a, i):
    """a[i] for a 1-D array, a itself for a scalar (an operand broadcast along the loop)."""


@overload(_at)
def _at_impl(a, i):
    if isinstance(a, types.Array):
        return lambda a, i: a[i]
    return lambda a, i: a


def _part(a, lo, hi):
    """a[lo:hi] for a 1-D array, a itself for a scalar."""


@overload(_part)
def _part_impl(a, lo, hi):
    if isinstance(a, types.Array):
        return lambda a, lo, hi: a[lo:hi]
    return lambda a, lo, hi: a


@njit(**_OPTS)
def first_not_positive(x):
    """Index of the first entry of a 1-D array that is <= 0, or -1 (NaN is not <= 0): blocks
    counted in a vectorized loop, the one that holds such an entry then searched."""
    n = x.size
    for off in range(0, n, 1024):
        xb = x[off:min(n, off + 1024)]  # indexed from 0 (see _exp_sum)
        c = 0
        for j in range(xb.size):
            if xb[j] <= 0:
                c += 1
        if c:
            for j in range(xb.size):
                if xb[j] <= 0:
                    return off + j
    return -1


@njit(**_OPTS)
def _gaussian_kl_task(t, mu1, sigma1, mu2, sigma2, out, ch):
    a, e = _bounds(t, ch, out.size)
    m1 = _part(mu1, a, e)
    s1 = _part(sigma1, a, e)
    m2 = _part(mu2, a, e)
    s2 = _part(sigma2, a, e)
    o = out[a:e]
    for i in range(o.size):
        o[i] = _gaussian_kl_elem(_at(m1, i), _at(s1, i), _at(m2, i), _at(s2, i))


@njit(**_OPTS)
def gaussian_kl(mu1, sigma1, mu2, sigma2, out, ch, parallel):
    """out[i] = KL of the i-th pair of Gaussians. Each operand is a 1-D array as long as out
    or a scalar: a broadcast operand passed as a stride-0 array would make the loop strided,
    and LLVM then leaves it scalar (measured 5x slower)."""
    _run(_gaussian_kl_task, _chunks(out.size, ch), (mu1, sigma1, mu2, sigma2, out, ch),
         parallel)


@njit(**_OPTS)
def _gaussian_entropy_task(t, sigma, out, ch):
    a, e = _bounds(t, ch, out.size)
    s = _part(sigma, a, e)
    o = out[a:e]
    for i in range(o.size):
        o[i] = _gaussian_entropy_elem(_at(s, i))


@njit(**_OPTS)
def gaussian_entropy(sigma, out, ch, parallel):
    _run(_gaussian_entropy_task, _chunks(out.size, ch), (sigma, out, ch), parallel)

_UFUNCS = {}


def gaussian_ufuncs():
    """(kl, entropy) ufuncs for float32 and float64, compiled (or loaded from cache) on first
    use: the dask backend's blocks, which may broadcast in any dimension."""
    if not _UFUNCS:
        _UFUNCS["kl"] = vectorize(
            ["float32(float32, float32, float32, float32)",
             "float64(float64, float64, float64, float64)"], cache=True)(_gaussian_kl_scalar)
        _UFUNCS["entropy"] = vectorize(
            ["float32(float32)", "float64(float64)"], cache=True)(_gaussian_entropy_scalar)
    return _UFUNCS["kl"], _UFUNCS["entropy"]
