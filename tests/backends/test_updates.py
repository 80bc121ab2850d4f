"""The per-element SGD and Adam updates (``_updates``): one definition, compiled by the numba
and cuda backends, agreeing with the python backend (the reference) bit for bit in float64."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import kernbench as kb
from kernbench._hyper import adam_kernel_args
from kernbench.backends import _numba_elementwise, _updates


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    p, g, b = (rng.standard_normal(n) for _ in range(3))
    g[:3] = [0.0, -0.0, 1e300]
    return p, g, b


@pytest.mark.parametrize(("weight_decay", "momentum", "nesterov", "maximize", "first"),
                         [c for c in itertools.product((0.0, 0.1), (0.0, 0.9), (False, True),
                                                       (False, True), (False, True))
                          if not (c[2] and c[1] == 0.0)])
def test_sgd_update_is_the_python_backends_step(weight_decay, momentum, nesterov, maximize,
                                                first):
    p, g, b = _data()
    want_p, want_b = p.copy(), b.copy()
    kb.get_backend("python").sgd_step(want_p, g, want_b if momentum else None, lr=0.05,
                                      weight_decay=weight_decay, momentum=momentum,
                                      dampening=0.1, nesterov=nesterov, maximize=maximize,
                                      first_step=first)
    with np.errstate(over="ignore"):
        got = [_updates.sgd_update(gi, pi, bi, 0.05, weight_decay, momentum, 1.0 - 0.1,
                                   weight_decay != 0, momentum != 0, nesterov, maximize, first)
               for gi, pi, bi in zip(g, p, b)]
    np.testing.assert_array_equal([x[0] for x in got], want_p)
    np.testing.assert_array_equal([x[1] for x in got], want_b)


@pytest.mark.parametrize(("decoupled", "amsgrad", "maximize"),
                         list(itertools.product((False, True), repeat=3)))
def test_adam_update_is_the_python_backends_step(decoupled, amsgrad, maximize):
    p, g, m = _data()
    v = np.abs(m) * 0.5
    vmax = v * 1.5
    vmax[5] = np.nan  # torch.maximum: a NaN on either side propagates
    want = [a.copy() for a in (p, m, v, vmax)]
    kw = dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.02,
              decoupled=decoupled, amsgrad=amsgrad, maximize=maximize)
    kb.get_backend("python").adam_step(want[0], g, want[1], want[2],
                                       want[3] if amsgrad else None, step=3, **kw)
    scalars, flags = adam_kernel_args(kw["lr"], kw["beta1"], kw["beta2"], kw["eps"],
                                      kw["weight_decay"], decoupled, amsgrad, maximize, 3)
    with np.errstate(over="ignore", invalid="ignore"):
        got = np.array([_updates.adam_update(gi, pi, mi, vi, vmi, *scalars, *flags)
                        for gi, pi, mi, vi, vmi in zip(g, p, m, v, vmax)])
    for k, name in enumerate(("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")):
        np.testing.assert_array_equal(got[:, k], want[k], err_msg=name)


def _python_function(compiled):
    """The Python function a numba helper (either runtime's) was compiled from."""
    return getattr(compiled, "_kb_dispatcher", compiled).py_func


def test_the_numba_kernels_compile_the_shared_updates():
    assert _python_function(_numba_elementwise._sgd_elem) is _updates.sgd_update
    assert _python_function(_numba_elementwise._adam_elem) is _updates.adam_update


def test_the_cuda_kernels_compile_the_shared_updates():
    try:
        kb.get_backend("cuda")
    except kb.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    from kernbench.backends import _cuda_kernels

    def source(device_function):  # a dispatcher on a GPU, a simulated kernel otherwise
        return getattr(device_function, "py_func", None) or device_function.fn

    assert source(_cuda_kernels._sgd_elem) is _updates.sgd_update
    assert source(_cuda_kernels._adam_elem) is _updates.adam_update
