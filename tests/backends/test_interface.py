"""The one contract: every backend offers every kernel, and every hook it overrides, with the
signature of :mod:`kernbench.backends.interface`."""

from __future__ import annotations

import inspect

import pytest

import kernbench as kb
from kernbench.backends import interface
from kernbench.backends.interface import HOOKS, KERNELS, Backend, Kernels


def _parameters(fn):
    """Names, kinds and defaults of the parameters; annotations are documentation only."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_kernel_list_matches_contract():
    declared = {n for n, f in vars(Kernels).items() if callable(f) and not n.startswith("_")}
    assert declared == set(KERNELS)


@pytest.mark.parametrize("name", kb.known_backends())
def test_every_backend_implements_every_kernel(name):
    try:
        backend = kb.get_backend(name)
    except kb.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    assert backend.name == name
    for kernel in KERNELS:
        impl = getattr(type(backend), kernel, None)
        assert impl is not None and callable(impl), f"{name} lacks {kernel}"
        assert _parameters(impl) == _parameters(getattr(Kernels, kernel)), \
            f"{name}.{kernel} signature differs from the contract"


def test_hook_list_matches_the_base_class():
    """HOOKS names every public method of Backend but the availability check, in order."""
    defined = [n for n, f in vars(Backend).items()
               if callable(f) and not n.startswith("_") and n != "unavailable_reason"]
    assert defined == list(HOOKS)
    assert not set(HOOKS) & set(KERNELS)


def test_backend_is_the_contracts():
    assert kb.backends.Backend is Backend
    assert Backend.__module__ == interface.__name__


@pytest.mark.parametrize("name", kb.known_backends())
def test_every_hook_a_backend_overrides_keeps_the_signature(name):
    try:
        backend = kb.get_backend(name)
    except kb.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    assert isinstance(backend, Backend)
    for hook in HOOKS:
        impl = getattr(type(backend), hook)
        assert _parameters(impl) == _parameters(getattr(Backend, hook)), \
            f"{name}.{hook} signature differs from the contract"


def test_base_synchronize_is_a_no_op_and_adam_steps_steps_each_tensor():
    """The defaults: synchronize returns at once; adam_steps calls adam_step once per tensor
    with that tensor's step count, passes None for max_exp_avg_sq without AMSGrad, and hands
    back what each adam_step handed back (the arrays that hold the result)."""
    calls = []

    class Recording(Backend):
        def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, **kw):
            calls.append((param, max_exp_avg_sq, kw["step"]))
            return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    b = Recording()
    assert b.synchronize() is None
    params = ["p0", "p1"]
    out = b.adam_steps(params, ["g0", "g1"], ["m0", "m1"], ["v0", "v1"], ["x0", "x1"], lr=0.1,
                       beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0, decoupled=False,
                       amsgrad=False, maximize=False, steps=[3, 7])
    assert out == [("p0", "m0", "v0", None), ("p1", "m1", "v1", None)]
    assert calls == [("p0", None, 3), ("p1", None, 7)]


def test_status_codes_are_distinct_and_ok_is_zero():
    codes = [interface.STATUS_OK, interface.STATUS_P_INVALID, interface.STATUS_P_ZERO_SUM,
             interface.STATUS_Q_INVALID, interface.STATUS_Q_ZERO_SUM]
    assert codes[0] == 0 and len(set(codes)) == 5
    assert all(-128 <= c <= 127 for c in codes)  # they travel as int8


def test_available_backends_order_and_core_set():
    names = kb.available_backends()
    assert names[:4] == ["python", "numpy", "numba-plain", "numba"]
    assert names == [n for n in kb.known_backends() if n in names]


def test_unknown_backend_names_the_known_ones():
    known = "backend must be one of 'python', 'numpy', 'numba-plain', 'numba'"
    with pytest.raises(ValueError, match=known):
        kb.get_backend("fortran")


def test_get_backend_returns_one_object_per_name():
    assert kb.get_backend("numpy") is kb.get_backend("numpy")
