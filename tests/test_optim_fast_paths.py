"""The optimizers' per-step fast paths against their general paths.

The numba backend updates a lone 1-D tensor through ``_adam_one``, which keeps the scalars that
do not change from step to step cast to the param dtype; a (1, n) param of the same values goes
through the general path (``adam_step``). Both must agree bit for bit at every step, also when
the hyperparameters change between steps, and a failed step must change nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

import kernbench as kb
from kernbench.optim import SGD, Adam, AdamW

pytestmark = pytest.mark.skipif("numba" not in kb.available_backends(),
                                reason="numba is not available here")


def _pair(cls, dtype, rng, n=10, **hyper):
    p = rng.standard_normal(n).astype(dtype)
    flat, wide = p.copy(), p.reshape(1, -1).copy()
    return (cls([flat], backend="numba", **hyper), cls([wide], backend="numba", **hyper),
            flat, wide)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("hyper", [{}, {"amsgrad": True}, {"maximize": True, "weight_decay": 0.1}])
@pytest.mark.parametrize("n", [10, 40_000])  # the packed serial kernel; the parallel one
def test_lone_tensor_matches_the_general_path(rng, dtype, cls, hyper, n):
    fast, general, flat, wide = _pair(cls, dtype, rng, n, **hyper)
    for step in range(6):
        g = rng.standard_normal(n).astype(dtype)
        if step == 3:  # a schedule changes the hyperparameters between steps
            for opt in (fast, general):
                opt.param_groups[0]["lr"] = 0.05
                opt.param_groups[0]["betas"] = (0.5, 0.9)
                opt.param_groups[0]["eps"] = 1e-3
        fast.step([g])
        general.step([g.reshape(1, -1)])
        assert flat.tobytes() == wide.tobytes()
        for name in ("exp_avg", "exp_avg_sq"):
            assert fast.state[0][name].tobytes() == general.state[0][name].tobytes()
        assert fast.state[0]["step"] == general.state[0]["step"] == step + 1


def test_signed_zero_hyperparameters_are_not_mixed_up(rng):
    """0.0 and -0.0 are equal: the cast scalars are kept by identity, not equality."""
    fast, general, flat, wide = _pair(Adam, np.float64, rng, betas=(0.0, 0.5))
    g = -np.zeros(10)
    for beta1 in (0.0, -0.0, 0.0):
        for opt in (fast, general):
            opt.param_groups[0]["betas"] = (beta1, 0.5)
        fast.step([g])
        general.step([g.reshape(1, -1)])
        assert fast.state[0]["exp_avg"].tobytes() == general.state[0]["exp_avg"].tobytes()
        assert flat.tobytes() == wide.tobytes()


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_lone_tensor_without_a_grad_is_left_alone(rng, cls):
    p = rng.standard_normal(10)
    before = p.copy()
    opt = cls([p], backend="numba", lr=0.1)
    opt.step([None])
    assert opt.state[0] == {}
    np.testing.assert_array_equal(p, before)
    opt.step([np.ones(10)])
    opt.step((None,))
    assert opt.state[0]["step"] == 1


@pytest.mark.parametrize("cls", [Adam, AdamW, SGD])
def test_a_failed_step_changes_nothing(rng, cls):
    p = rng.standard_normal(10)
    opt = cls([p], backend="numba", lr=0.1)
    opt.step([rng.standard_normal(10)])
    before_p = p.copy()
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state[0].items()}
    bad_grads = [[rng.standard_normal(10).astype(np.float32)], [rng.standard_normal(9)],
                 [rng.standard_normal(10).tolist()], [rng.standard_normal(10)] * 2, 3.0]
    for bad in bad_grads:
        with pytest.raises((ValueError, TypeError)):
            opt.step(bad)
    opt.param_groups[0]["lr"] = float("nan")
    with pytest.raises(ValueError, match="lr"):
        opt.step([rng.standard_normal(10)])
    np.testing.assert_array_equal(p, before_p)
    for k, v in before.items():
        np.testing.assert_array_equal(opt.state[0][k], v)


def test_grad_subclass_still_goes_through_check_grad(rng):
    class Sub(np.ndarray):
        pass

    p = rng.standard_normal(10)
    opt = Adam([p], backend="numba")
    with pytest.raises(ValueError, match="dtype"):
        opt.step([np.zeros(10, dtype=np.float32).view(Sub)])
    opt.step([np.zeros(10).view(Sub)])
    assert opt.state[0]["step"] == 1


def test_hyperparameters_changed_in_place_are_checked_again(rng):
    p = rng.standard_normal(10)
    betas = [0.9, 0.999]
    opt = Adam([p], backend="numba")
    opt.param_groups[0]["betas"] = betas  # a mutable value: never taken as unchanged
    opt.step([rng.standard_normal(10)])
    betas[0] = 1.5
    with pytest.raises(ValueError, match=r"betas\[0\]"):
        opt.step([rng.standard_normal(10)])
    opt.param_groups[0]["betas"] = (0.9, 0.999)
    opt.step([rng.standard_normal(10)])
    opt.param_groups[0]["lr"] = True  # equal to 1, but a bool is no lr
    with pytest.raises(TypeError, match="lr"):
        opt.step([rng.standard_normal(10)])
