"""One calling convention: step and in-place kernels hand back the arrays that hold the result,
and the public layer (optimizers, clip_grad_norm) takes tuples, lists and lone arrays alike.

Runs on every backend usable here, dask and the cuda simulator included: NumPy arrays handed to
any backend are updated in place and handed back as the same objects.
"""

from __future__ import annotations

import numpy as np
import pytest

import kernbench as kb
from kernbench import optim

from .helpers import assert_same

ALL_BACKENDS = True

SGD_HYPER = dict(lr=0.1, weight_decay=0.01, momentum=0.9, dampening=0.0, nesterov=True,
                 maximize=False)
ADAM_HYPER = dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, decoupled=True,
                  maximize=False)


def _arrays(rng, n, shape=(4, 6), dtype=np.float64):
    return [rng.normal(size=shape).astype(dtype) for _ in range(n)]


def _state(b, values, param):
    """State arrays of the backend's own kind (device arrays for cuda, dask arrays for dask)
    holding ``values``, as an optimizer makes them."""
    return [None if a is None else b.from_numpy(a, param) for a in values]


def _assert_handed_back(b, got, given, reference):
    """``got`` (a kernel's result) holds the values of ``reference``. Each array ``given`` is
    handed back itself where the backend updates it in place (a NumPy param always), else a
    new array takes its place."""
    assert isinstance(got, tuple) and len(got) == len(given)
    for k, (a, g, r) in enumerate(zip(got, given, reference)):
        if g is None:
            assert a is None, f"entry {k}: None given, {type(a).__name__} handed back"
            continue
        if isinstance(g, np.ndarray) or b.updates_in_place(g):
            assert a is g, f"entry {k}: {b.name} handed back another array than the one given"
        else:
            assert a is not g, f"entry {k}: {b.name} handed back the immutable array given"
        assert_same(b.to_numpy(a), r, err_msg=f"entry {k}")


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_step_hands_back_param_and_buffer(backend, rng, momentum):
    b, ref = kb.get_backend(backend), kb.get_backend("numpy")
    p, g, buf = _arrays(rng, 3)
    theirs = [p.copy(), buf.copy() if momentum else None]
    mine = [p, *_state(b, theirs[1:], p)]
    hyper = dict(SGD_HYPER, momentum=momentum, nesterov=bool(momentum))
    got = b.sgd_step(mine[0], g, mine[1], first_step=False, **hyper)
    want = ref.sgd_step(theirs[0], g.copy(), theirs[1], first_step=False, **hyper)
    _assert_handed_back(b, got, mine, want)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_step_hands_back_param_and_state(backend, rng, amsgrad):
    b, ref = kb.get_backend(backend), kb.get_backend("numpy")
    p, g, m, v, vmax = _arrays(rng, 5, dtype=np.float32)
    theirs = [p.copy(), m, np.abs(v), np.abs(vmax) if amsgrad else None]
    mine = [p, *_state(b, theirs[1:], p)]
    got = b.adam_step(mine[0], g, *mine[1:], amsgrad=amsgrad, step=3, **ADAM_HYPER)
    want = ref.adam_step(theirs[0], g.copy(), *theirs[1:], amsgrad=amsgrad, step=3,
                         **ADAM_HYPER)
    _assert_handed_back(b, got, mine, want)


def test_adam_steps_hands_back_one_tuple_per_tensor(backend, rng):
    """Several tensors: numba's one-call multi-tensor path as well as adam_step per tensor."""
    b, ref = kb.get_backend(backend), kb.get_backend("numpy")
    shapes = [(5, 3), (7,), (2, 2, 2)]
    params = [rng.normal(size=s) for s in shapes]
    grads = [rng.normal(size=s) for s in shapes]
    ms = [rng.normal(size=s) for s in shapes]
    vs = [np.abs(rng.normal(size=s)) for s in shapes]
    mine = [params, [b.from_numpy(m, p) for m, p in zip(ms, params)],
            [b.from_numpy(v, p) for v, p in zip(vs, params)]]
    theirs = [[p.copy() for p in params], ms, vs]
    kw = dict(ADAM_HYPER, amsgrad=False, steps=[1, 4, 2])
    got = b.adam_steps(mine[0], grads, mine[1], mine[2], [None] * 3, **kw)
    want = ref.adam_steps(theirs[0], [g.copy() for g in grads], ms, vs, [None] * 3, **kw)
    assert isinstance(got, list) and len(got) == len(shapes)
    for k in range(len(shapes)):
        given = (params[k], mine[1][k], mine[2][k], None)
        _assert_handed_back(b, got[k], given, want[k])


def test_scale_hands_back_the_scaled_array(backend, rng):
    x = rng.normal(size=(3, 5)).astype(np.float32)[:, ::2]  # a strided view
    want = x * np.float32(0.25)
    got = kb.get_backend(backend).scale_(x, 0.25)
    assert got is x
    assert_same(x, want)


# ---------------------------------------------------------------------------- clip_grad_norm

def _clip_reference(grads, max_norm):
    total = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)))
    coef = min(1.0, max_norm / (total + 1e-6))
    return total, [g * g.dtype.type(coef) for g in grads]


@pytest.mark.parametrize("container", [list, tuple])
def test_clip_scales_a_list_or_tuple_in_place(backend, rng, container):
    grads = container([rng.normal(size=(4, 5)) * 3, None, rng.normal(size=7).astype(np.float32)])
    held = list(grads)
    want_norm, want = _clip_reference([grads[0], grads[2]], 1.0)
    norm = optim.clip_grad_norm(grads, 1.0, backend=backend)
    assert isinstance(norm, float)
    assert_same(norm, want_norm)
    assert all(a is b for a, b in zip(grads, held)), "the caller's container was changed"
    assert_same(grads[0], want[0])
    assert_same(grads[2], want[1])


@pytest.mark.parametrize("shape", [(12,), (6, 4)])
def test_clip_takes_a_lone_array_as_one_tensor(backend, rng, shape):
    """As torch's clip_grad_norm_ with a lone Tensor: the norm of all its elements, not one
    per row."""
    g = rng.normal(size=shape) * 5
    want_norm, (want,) = _clip_reference([g], 2.0)
    norm = optim.clip_grad_norm(g, 2.0, backend=backend)
    assert_same(norm, want_norm)
    assert_same(g, want)


def test_clip_matches_torch_on_a_lone_tensor(backend, rng):
    torch = pytest.importorskip("torch")
    g = rng.normal(size=(6, 4)) * 5
    t = torch.zeros(6, 4, dtype=torch.float64, requires_grad=True)
    t.grad = torch.from_numpy(g.copy())
    want = float(torch.nn.utils.clip_grad_norm_(t, 2.0))
    assert_same(optim.clip_grad_norm(g, 2.0, backend=backend), want)
    assert_same(g, t.grad.numpy())


def test_failed_clip_changes_no_grad(backend, rng):
    grads = (rng.normal(size=5) * 9, np.arange(3))  # the second is an integer array
    before = [g.copy() for g in grads]
    with pytest.raises((TypeError, ValueError), match=r"grads\[1\]"):
        optim.clip_grad_norm(grads, 1.0, backend=backend)
    for g, g0 in zip(grads, before):
        np.testing.assert_array_equal(g, g0)


# ---------------------------------------------------------------------------- optimizers

@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_optimizer_takes_a_lone_array_and_updates_it_in_place(backend, rng, cls):
    p = rng.normal(size=(5, 4))
    ref = p.copy()
    opt = cls(p, lr=0.1, backend=backend)
    ref_opt = cls([ref], lr=0.1, backend="numpy")
    for _ in range(2):
        g = rng.normal(size=(5, 4))
        opt.step(g)
        ref_opt.step([g.copy()])
    assert len(opt.params) == 1 and opt.params[0] is p
    assert_same(p, ref)


def test_clip_takes_a_lone_device_array_as_one_tensor(rng):
    """A device array (cuda) is one tensor too, scaled in place on the device."""
    if "cuda" not in kb.available_backends():
        pytest.skip("the cuda backend does not run here")
    from numba import cuda

    backend = "cuda"

    host = rng.normal(size=(6, 4)) * 5
    want_norm, (want,) = _clip_reference([host], 2.0)
    d = cuda.to_device(host)
    assert_same(optim.clip_grad_norm(d, 2.0, backend=backend), want_norm)
    assert_same(d.copy_to_host(), want)
