"""Adam over many tensors at once (``Backend.adam_steps``): the numba backend updates every
C-contiguous tensor of a dtype in one compiled call; the result must be exactly what one
``adam_step`` per tensor gives, whatever the tensors' sizes, layouts and step counts."""

from __future__ import annotations

import numpy as np
import pytest

from kernbench import optim
from kernbench.backends import get_backend
from kernbench.backends.numba_backend import _multi_plan
from tests.helpers import assert_same

HYPER = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8)


def _model(rng):
    """Tensors that straddle the multi-tensor path's task boundaries and its fallbacks."""
    big = rng.normal(size=(300, 250)).astype(np.float32)  # 75000: crosses a 65536 boundary
    return [
        big,
        rng.normal(size=3).astype(np.float32),
        rng.normal(size=(70_000,)).astype(np.float32),
        rng.normal(size=(40, 30)),  # float64: its own group
        rng.normal(size=(50, 20)).astype(np.float32)[:, ::2],  # strided: one by one
        np.asfortranarray(rng.normal(size=(20, 30)).astype(np.float32)),  # not C-ordered
        np.zeros((0, 4), dtype=np.float32),  # empty
        rng.normal(size=1).astype(np.float32),
    ]


def _grads(rng, params):
    return [rng.normal(size=p.shape).astype(p.dtype) for p in params]


def _reference_step(backend, opt_cls, params, state, grads, hyper, t):
    """One adam_step per tensor: what adam_steps must equal."""
    b = get_backend(backend)
    beta1, beta2 = hyper["betas"]
    for i, (p, g) in enumerate(zip(params, grads)):
        st = state[i]
        for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            st.setdefault(name, np.zeros_like(p))
        st["step"] = st.get("step", 0) + 1
        b.adam_step(p, g, st["exp_avg"], st["exp_avg_sq"],
                    st["max_exp_avg_sq"] if hyper["amsgrad"] else None, lr=hyper["lr"],
                    beta1=beta1, beta2=beta2, eps=hyper["eps"],
                    weight_decay=hyper["weight_decay"], decoupled=opt_cls is optim.AdamW,
                    amsgrad=hyper["amsgrad"], maximize=hyper["maximize"], step=st["step"])


@pytest.mark.parametrize("opt_cls", [optim.Adam, optim.AdamW])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("maximize", [False, True])
def test_numba_multi_tensor_step_equals_one_step_per_tensor(rng, opt_cls, amsgrad, maximize):
    params = _model(rng)
    ref = [p.copy() for p in params]
    hyper = dict(HYPER, amsgrad=amsgrad, maximize=maximize, weight_decay=0.1)
    opt = opt_cls(params, backend="numba", **hyper)
    ref_state = [{} for _ in ref]
    fixed = _grads(rng, params)
    for step in range(4):
        # steps 0 and 1 reuse one set of grad arrays, refilled; later steps pass new arrays
        if step < 2:
            for g in fixed:
                g[...] = rng.normal(size=g.shape)
            grads = fixed
        else:
            grads = _grads(rng, params)
        opt.step(grads)
        _reference_step("numba", opt_cls, ref, ref_state, grads, hyper, step + 1)
        for i, (p, r) in enumerate(zip(params, ref)):
            np.testing.assert_array_equal(p, r, err_msg=f"step {step}, param {i}")
    for i, st in enumerate(ref_state):
        for name in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
            np.testing.assert_array_equal(opt.state[i][name], st[name], err_msg=name)


def test_multi_tensor_step_agrees_with_numpy_and_keeps_per_tensor_step_counts(rng):
    params = _model(rng)
    other = [p.copy() for p in params]
    opt = optim.Adam(params, backend="numba", **HYPER)
    ref = optim.Adam(other, backend="numpy", **HYPER)
    for _ in range(2):
        g = _grads(rng, params)
        opt.step(g)
        ref.step(g)
    # Tensor 0 gets a fresh state (step 0) while the others are at step 2: bias corrections
    # differ per tensor within one multi-tensor call. Loading state also replaces the state
    # arrays, so whatever the backend remembered about them must be dropped.
    sd = ref.state_dict()
    del sd["state"][0]
    opt.load_state_dict(sd)
    ref.load_state_dict(sd)
    g = _grads(rng, params)
    opt.step(g)
    ref.step(g)
    assert opt.state[0]["step"] == 1 and opt.state[2]["step"] == 3
    for i, (p, r) in enumerate(zip(params, other)):
        assert_same(p, r, err_msg=f"param {i}")


def test_multi_tensor_step_skips_params_without_grad(rng):
    params = _model(rng)
    before = [p.copy() for p in params]
    opt = optim.Adam(params, backend="numba", **HYPER)
    grads = _grads(rng, params)
    grads[0] = grads[3] = None
    opt.step(grads)
    np.testing.assert_array_equal(params[0], before[0])
    np.testing.assert_array_equal(params[3], before[3])
    assert not np.array_equal(params[2], before[2])
    assert "step" not in opt.state[0] and opt.state[2]["step"] == 1


def test_multi_tensor_bad_grad_changes_nothing(rng):
    params = _model(rng)
    opt = optim.Adam(params, backend="numba", **HYPER)
    opt.step(_grads(rng, params))
    snapshot = [p.copy() for p in params]
    state = opt.state_dict()
    grads = _grads(rng, params)
    grads[-1] = grads[-1].astype(np.float64)  # the last one is wrong: nothing may move
    with pytest.raises(ValueError, match=r"grads\[7\]"):
        opt.step(grads)
    for p, s in zip(params, snapshot):
        np.testing.assert_array_equal(p, s)
    after = opt.state_dict()
    for i, st in state["state"].items():
        for name, value in st.items():
            np.testing.assert_array_equal(after["state"][i][name], value)


@pytest.mark.parametrize("sizes,chunk", [([5], 4), ([70_000, 3, 100_000, 1], 65_536),
                                         ([1, 1, 1], 2), ([8, 8], 8), ([3], 100)])
def test_multi_plan_covers_every_element_once_in_equal_tasks(sizes, chunk):
    segments, task_start, total = _multi_plan(sizes, chunk)
    assert total == sum(sizes)
    covered = [np.zeros(n, dtype=int) for n in sizes]
    for i, a, n in segments:
        assert n > 0
        covered[i][a:a + n] += 1
    assert all(np.all(c == 1) for c in covered)
    counts = [int(segments[task_start[k]:task_start[k + 1], 2].sum())
              for k in range(task_start.size - 1)]
    assert counts[:-1] == [chunk] * (len(counts) - 1)
    assert 0 < counts[-1] <= chunk
