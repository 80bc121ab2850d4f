"""The per-element SGD and Adam updates, written once, compiled for each target.

Plain Python on scalars (``math`` only), so that one definition serves both compilers: the
``numba`` backend compiles these functions as helpers of its CPU kernels
(:mod:`_numba_kernels`) and the ``cuda`` backend as device functions (``cuda.jit(device=True)``,
:mod:`_cuda_kernels`); each kernel loops over its elements and stores what the function
returns. The python and numpy backends keep their own formulas: they are the references.

Scalars arrive in the param's dtype (cast once on the host), so float32 params get float32
arithmetic: every operation rounded to float32, evaluated left to right as written here
(``one_minus_beta2 * gi * gi`` is ``(one_minus_beta2 * gi) * gi``), as the contract requires.
Flags are loop invariants: the compilers hoist their tests out of the loops.

A change here changes the machine code of every kernel that calls these functions: the
numba backend's cache key covers this file (:data:`_numba_cache.SOURCES`), and so does the
cuda backend's (see :mod:`_cuda_kernels`).
"""

from __future__ import annotations

import math


def sgd_update(gi, pi, bi, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov, maximize,
               first):
    """(new param, new momentum buffer) of one element of an SGD step.

    ``bi`` is the element's momentum buffer (any value without momentum: it is returned
    unchanged then). ``first``: the buffer holds no history yet and is set to the gradient.
    Order: negate if maximize, add weight decay, momentum (Nesterov or not), ``p - lr*g``.
    """
    if maximize:
        gi = -gi
    if has_wd:
        gi = gi + wd * pi
    if has_mom:
        if first:
            bi = gi
        else:
            bi = mu * bi + one_minus_damp * gi
        if nesterov:
            gi = gi + mu * bi
        else:
            gi = bi
    return pi - lr * gi, bi


def adam_update(gi, pi, mi, vi, vmi, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
                one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    """(param, exp_avg, exp_avg_sq, max_exp_avg_sq) of one element after an Adam (``coupled``
    weight decay) or AdamW (``decay_on``: the param is multiplied by ``decay``) step.

    The scalars are those of :func:`kernbench._hyper.adam_kernel_args`. ``vmi`` is the
    element's max_exp_avg_sq with AMSGrad (any value without: it is returned unchanged).
    """
    if maximize:
        gi = -gi
    if coupled:
        gi = gi + wd * pi
    if decay_on:
        pi = pi * decay
    mi = beta1 * mi + one_minus_beta1 * gi
    vi = beta2 * vi + one_minus_beta2 * gi * gi
    vd = vi
    if amsgrad:
        if vi > vmi or vi != vi:  # torch.maximum: a NaN propagates
            vmi = vi
        vd = vmi
    return pi - step_size * (mi / (math.sqrt(vd) / bc2_sqrt + eps)), mi, vi, vmi
