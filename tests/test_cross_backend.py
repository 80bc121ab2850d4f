"""Every backend against the numpy backend on random and adversarial inputs, step by step."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernbench import info, optim
from tests.helpers import assert_same

ALL_BACKENDS = True
DTYPES = [np.float64, np.float32]


def _probabilities(rng, shape, dtype):
    """Random rows with the awkward cases mixed in: zeros, one-hot rows, integer counts."""
    p = rng.random(shape)
    p[p < 0.2] = 0.0
    flat = p.reshape(-1, shape[-1])
    flat[0] = 0.0
    flat[0, 0] = 3.0  # one-hot with a non-unit mass
    if flat.shape[0] > 2:
        flat[1] = rng.integers(0, 5, size=shape[-1])  # integer counts
        flat[1, 0] = 1.0
    return p.astype(dtype)


# ---------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("dtype", DTYPES)
def test_entropy_matches_numpy(backend, rng, dtype):
    p = _probabilities(rng, (6, 40), dtype)
    for args in [(p,), (p[:, ::2],), (p.T, None, 0), (p[0],), (p.reshape(2, 3, 40), 2.0, 1)]:
        got = info.entropy(*args, backend=backend)
        want = info.entropy(*args, backend="numpy")
        assert np.asarray(got).dtype == dtype
        assert_same(got, want, err_msg=f"entropy {args[1:]}")
    assert info.entropy(np.array([0.0, 7.0, 0.0], dtype), backend=backend) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["kl_divergence", "cross_entropy", "js_divergence"])
def test_pair_reductions_match_numpy(backend, rng, dtype, name):
    fn = getattr(info, name)
    p = _probabilities(rng, (5, 30), dtype)
    q = _probabilities(rng, (5, 30), dtype)
    q[2, :] = p[2, :]            # identical rows: exactly zero KL and JS
    q[3, p[3] > 0][:1] = 0.0
    q[3, np.flatnonzero(p[3] > 0)[0]] = 0.0   # p > 0 where q = 0: inf for KL and CE
    q[4, p[4] == 0] = 0.0                      # zeros in both
    for a, b, kw in [(p, q, {}), (p[:, ::3], q[:, ::3], {}), (p.T, q.T, {"axis": 0}),
                     (p[1], q[1], {"base": 2})]:
        got = fn(a, b, backend=backend, **kw)
        want = fn(a, b, backend="numpy", **kw)
        assert_same(got, want, err_msg=f"{name} {kw}")
    if name != "cross_entropy":
        assert fn(p[2], q[2], backend=backend) == 0.0
    if name in ("kl_divergence", "cross_entropy"):
        assert fn(p[3], q[3], backend=backend) == np.inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_joint_reductions_match_numpy(backend, rng, dtype):
    joint = rng.random((7, 9)).astype(dtype)
    joint[2] = 0.0
    joint[:, 4] = 0.0
    diagonal = np.diag(rng.integers(1, 9, size=6)).astype(dtype)
    for j in [joint, joint.T, joint[::2, ::3], diagonal]:
        for name in ("mutual_information", "conditional_entropy"):
            got = getattr(info, name)(j, backend=backend)
            want = getattr(info, name)(j, backend="numpy")
            assert np.asarray(got).dtype == dtype
            assert_same(got, want, err_msg=name)
    assert info.conditional_entropy(diagonal, backend=backend) == 0.0


# ---------------------------------------------------------------------------- softmax family

def _nasty_logits(rng, dtype, n=8, v=33):
    x = rng.normal(scale=3.0, size=(n, v))
    x[0, :] = 1e4
    x[0, 3] = -1e4
    x[1, 5] = -np.inf
    x[2, :] = -np.inf
    x[3, 7] = np.inf
    x[4, 1] = np.nan
    x[5, :] *= 1e3
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_softmax_family_matches_numpy(backend, rng, dtype, temperature):
    x = _nasty_logits(rng, dtype)
    for name in ("softmax", "log_softmax"):
        fn = getattr(info, name)
        for a, axis in [(x, -1), (x[:, ::2], -1), (x.T, 0), (x[6], -1)]:
            got = fn(a, temperature, axis=axis, backend=backend)
            want = fn(a, temperature, axis=axis, backend="numpy")
            assert got.dtype == dtype and got.shape == a.shape
            assert_same(got, want, err_msg=f"{name} T={temperature}")
    probs = info.softmax(x, temperature, backend=backend)
    assert probs[1, 5] == 0.0
    assert np.isnan(probs[2]).all() and np.isnan(probs[3]).all() and np.isnan(probs[4]).all()


def test_log_softmax_float32_keeps_exps_below_an_ulp_of_the_max(backend):
    """The max logit's log-softmax is -log(1 + r), r the sum of the other exps: with r below
    half an ulp of 1.0 in float32 (1.2e-9 + 6.1e-9 here, also split over blocks of many
    elements), a float32 running sum of 1 + r is exactly 1 and its log exactly 0; every
    backend must give -r, as the numpy backend's float64 sum does."""
    x = np.full((3, 3000), -25.0, dtype=np.float32)   # exps of 1.4e-11 each
    x[0, :] = -np.inf
    x[0, :2] = [3.0, -17.5]                             # r = exp(-20.5) = 1.25e-9
    x[1, 1700] = 0.0                                    # the max in the second block
    x[2, 5] = x[2, 2999] = 2.0                          # two maxima: log(2 + r)
    got = info.log_softmax(x, backend=backend)
    want = info.log_softmax(x, backend="numpy")
    assert got[0, 0] < 0 and got[1, 1700] < 0
    assert_same(got, want)
    for row, col in [(0, 0), (1, 1700), (2, 5)]:
        assert (got[row, col] == 0) == (want[row, col] == 0)
    np.testing.assert_allclose(got[0, 0], -math.exp(-20.5), rtol=1e-6)
    np.testing.assert_allclose(got[1, 1700], -2999 * math.exp(-25.0), rtol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_logits_matches_numpy(backend, rng, dtype, smoothing, reduction):
    x = _nasty_logits(rng, dtype, n=10, v=17)
    x[6, 2] = -np.inf            # the target's own logit is -inf: inf loss
    targets = rng.integers(0, 17, size=10)
    targets[6] = 2
    targets[[3, 4]] = -100       # the rows holding +inf and NaN are ignored
    targets[7] = 5
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    got = info.cross_entropy_logits(x, targets, backend=backend, **kw)
    want = info.cross_entropy_logits(x, targets, backend="numpy", **kw)
    assert np.asarray(got).dtype == dtype
    assert_same(got, want, err_msg=f"cross_entropy_logits {kw}")
    # Finite rows only, with a strided view of the logits.
    keep = [0, 5, 7, 8, 9]
    xs = np.repeat(x[keep], 2, axis=1)[:, ::2]
    got = info.cross_entropy_logits(xs, targets[keep], backend=backend, **kw)
    want = info.cross_entropy_logits(xs, targets[keep], backend="numpy", **kw)
    assert_same(got, want)
    assert np.isfinite(got).all()


def test_all_rows_ignored_gives_nan(backend, rng):
    x = rng.normal(size=(3, 4))
    t = np.full(3, -100)
    assert np.isnan(info.cross_entropy_logits(x, t, backend=backend))
    assert np.isnan(info.perplexity(x, t, backend=backend))
    assert info.cross_entropy_logits(x, t, reduction="sum", backend=backend) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussians_match_numpy(backend, rng, dtype):
    mu1 = rng.normal(size=(4, 1)).astype(dtype)
    s1 = rng.uniform(0.1, 3.0, size=(1, 5)).astype(dtype)
    mu2 = rng.normal(size=5).astype(dtype)
    s2 = rng.uniform(0.1, 3.0, size=(4, 5)).astype(dtype)[:, ::-1]
    got = info.gaussian_kl(mu1, s1, mu2, s2, backend=backend)
    assert got.shape == (4, 5) and got.dtype == dtype
    assert_same(got, info.gaussian_kl(mu1, s1, mu2, s2, backend="numpy"))
    assert info.gaussian_kl(0.5, 2.0, 0.5, 2.0, backend=backend) == 0.0
    # equal sigmas, close means: r**2 - 1 is exactly 0 and t**2 / 2 is all that is left, in
    # float32 as in float64 (as 1 + t**2 - 1, float32 cancels it to 0 below t = 2.4e-4)
    m = np.array([0.0, 1e-4, 3e-5, 1.0], dtype=dtype)
    sig = np.array([1.0, 1.0, 2.0, 1.0 + 2**-20], dtype=dtype)
    got = info.gaussian_kl(m, sig, np.zeros(4, dtype), sig, backend=backend)
    want = (m.astype(np.float64) / sig) ** 2 / 2
    assert got[0] == 0.0 and np.all(got[1:] > 0)
    np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-6)
    sig = np.array([1e-300, 1e-3, 1.0, 1e300])
    assert_same(info.gaussian_entropy(sig, backend=backend),
                info.gaussian_entropy(sig, backend="numpy"))
    assert_same(info.gaussian_entropy(s2, backend=backend),
                info.gaussian_entropy(s2, backend="numpy"))


# ---------------------------------------------------------------------------- optimizers

OPTIMIZER_CASES = [
    (optim.SGD, dict(lr=0.05)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    (optim.Adam, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (optim.Adam, dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, maximize=True)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True)),
]


def _param_set(rng, dtype):
    """A contiguous vector, a strided view, a transposed matrix and a 3-D block with holes."""
    base = rng.normal(size=60).astype(dtype)
    mat = rng.normal(size=(5, 7)).astype(dtype)
    cube = rng.normal(size=(3, 4, 6)).astype(dtype)
    return [rng.normal(size=17).astype(dtype), base[::3], mat.T, cube[:, ::2, 1::2]], \
        [base, mat, cube]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls,kw", OPTIMIZER_CASES, ids=lambda c: getattr(c, "__name__", None))
def test_optimizer_steps_match_numpy(backend, rng, dtype, cls, kw):
    params, owners = _param_set(rng, dtype)
    ref_params = [p.copy() for p in params]
    owners_before = [o.copy() for o in owners]
    opt = cls(params, backend=backend, **kw)
    ref = cls(ref_params, backend="numpy", **kw)
    for step in range(4):
        grads = [rng.normal(size=p.shape).astype(dtype) for p in params]
        grads[1] = grads[1] * np.float32(1e-4).astype(dtype)
        if step == 2:
            grads[0] = None  # skipped this step: its state must not move
        ref.step([None if g is None else g.copy() for g in grads])
        opt.step(grads)
        for i, (p, r) in enumerate(zip(params, ref_params)):
            assert_same(p, r, exact_zeros=False, err_msg=f"param {i} step {step}")
        # Tests compare then reset, as torch's optimizer tests do, so errors don't compound.
        for p, r in zip(params, ref_params):
            p[...] = r
        mine, theirs = opt.state_dict()["state"], ref.state_dict()["state"]
        assert mine.keys() == theirs.keys()
        for i in mine:
            assert mine[i].keys() == theirs[i].keys()
            for key in mine[i]:
                assert_same(mine[i][key], theirs[i][key], exact_zeros=False,
                            err_msg=f"state {i} {key}")
        opt.load_state_dict(ref.state_dict())
    # The views wrote through to their owners, and only where they look.
    base, mat, cube = owners
    np.testing.assert_array_equal(np.delete(base, np.s_[::3]),
                                  np.delete(owners_before[0], np.s_[::3]))
    mask = np.ones(cube.shape, bool)
    mask[:, ::2, 1::2] = False
    np.testing.assert_array_equal(cube[mask], owners_before[2][mask])
    assert not np.array_equal(mat, owners_before[1])


def test_optimizer_keeps_inf_and_nan(backend):
    p = np.array([1.0, 2.0, 3.0, 4.0])
    ref = p.copy()
    grads = [np.array([np.inf, np.nan, 0.0, -np.inf])]
    opt = optim.Adam([p], lr=0.1, backend=backend)
    opt.step([g.copy() for g in grads])
    optim.Adam([ref], lr=0.1, backend="numpy").step(grads)
    assert_same(p, ref)
    assert np.isnan(p[0]) and np.isnan(p[1]) and p[2] == 3.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_grad_norm_matches_numpy(backend, rng, dtype):
    grads = [rng.normal(size=(4, 5)).astype(dtype).T, rng.normal(size=30).astype(dtype)[::2]]
    ref = [g.copy() for g in grads]
    norm = optim.clip_grad_norm(grads, 0.5, backend=backend)
    ref_norm = optim.clip_grad_norm(ref, 0.5, backend="numpy")
    assert isinstance(norm, float)
    assert_same(norm, ref_norm, tol=(1e-7, 1e-9))
    for g, r in zip(grads, ref):
        assert_same(g, r)
    # Already small enough: untouched.
    before = [g.copy() for g in grads]
    optim.clip_grad_norm(grads, 10.0, backend=backend)
    for g, b in zip(grads, before):
        np.testing.assert_array_equal(g, b)


def test_cosine_schedule_matches_scalar(backend):
    steps = np.array([-3.0, 0.0, 1.0, 25.0, 50.0, 99.0, 100.0, 130.0])
    got = optim.cosine_schedule(steps, 100, 0.1, 0.001, backend=backend)
    want = [optim.cosine_annealing(s, 100, 0.1, 0.001) for s in steps]
    assert_same(got, want)


def test_state_moves_between_backends(backend, rng):
    """5 steps on numpy, load into this backend, 5 more == 10 steps on this backend."""
    grads = [[rng.normal(size=(3, 4)), rng.normal(size=9)] for _ in range(10)]
    start = [rng.normal(size=(3, 4)), rng.normal(size=9)]
    for cls, kw in [(optim.Adam, dict(lr=0.01, amsgrad=True)),
                    (optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True)),
                    (optim.AdamW, dict(lr=0.01, weight_decay=0.1))]:
        moved = [p.copy() for p in start]
        first = cls(moved, backend="numpy", **kw)
        for g in grads[:5]:
            first.step([x.copy() for x in g])
        second = cls(moved, backend=backend, **kw)
        second.load_state_dict(first.state_dict())
        for g in grads[5:]:
            second.step([x.copy() for x in g])
        direct = [p.copy() for p in start]
        only = cls(direct, backend=backend, **kw)
        for g in grads:
            only.step([x.copy() for x in g])
        for a, b in zip(moved, direct):
            assert_same(a, b, exact_zeros=False)
        second_step = second.state_dict()["state"][0].get("step")
        assert second_step == only.state_dict()["state"][0].get("step")
