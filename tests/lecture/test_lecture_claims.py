"""The lecture's own claims, checked on every backend."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from kernbench import info
from kernbench.optim import SGD, Adam, AdamW, clip_grad_norm, cosine_annealing


def test_entropy_plus_kl_is_cross_entropy(backend, rng):
    p = rng.random(10)
    q = rng.random(10) + 0.01
    h = info.entropy(p, backend=backend)
    kl = info.kl_divergence(p, q, backend=backend)
    ce = info.cross_entropy(p, q, backend=backend)
    np.testing.assert_allclose(h + kl, ce, rtol=1e-7, atol=1e-9)
    # and row by row, in bits
    P = rng.random((3, 6))
    Q = rng.random((3, 6)) + 0.01
    h2 = info.entropy(P, base=2, backend=backend)
    kl2 = info.kl_divergence(P, Q, base=2, backend=backend)
    np.testing.assert_allclose(h2 + kl2, info.cross_entropy(P, Q, base=2, backend=backend),
                               rtol=1e-7, atol=1e-9)


def test_mutual_information_of_x_with_itself_is_its_entropy(backend, rng):
    px = np.array([0.5, 0.25, 0.125, 0.125])
    np.testing.assert_allclose(info.mutual_information(np.diag(px), backend=backend),
                               info.entropy(px, backend=backend), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(info.entropy(px, base=2, backend=backend), 1.75, rtol=1e-7)
    np.testing.assert_allclose(info.mutual_information(np.diag(px), base=2, backend=backend), 1.75,
                               rtol=1e-7)
    # from samples: X = Y, joint table of counts
    x = rng.integers(0, 5, size=200)
    joint = np.zeros((5, 5), dtype=np.int64)
    np.add.at(joint, (x, x), 1)
    counts = np.bincount(x, minlength=5)
    np.testing.assert_allclose(info.mutual_information(joint, backend=backend),
                               info.entropy(counts, backend=backend), rtol=1e-7, atol=1e-9)
    assert info.conditional_entropy(joint, backend=backend) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_without_decay_is_adam(backend, dtype, amsgrad):
    r = np.random.default_rng(0)
    start = [r.normal(size=(4,)).astype(dtype), r.normal(size=(2, 3)).astype(dtype)]
    a = [p.copy() for p in start]
    w = [p.copy() for p in start]
    adam = Adam(a, lr=0.05, amsgrad=amsgrad, backend=backend)
    adamw = AdamW(w, lr=0.05, weight_decay=0.0, amsgrad=amsgrad, backend=backend)
    for _ in range(15):
        grads = [r.normal(size=p.shape).astype(dtype) for p in start]
        adam.step([g.copy() for g in grads])
        adamw.step([g.copy() for g in grads])
        for pa, pw in zip(a, w):
            np.testing.assert_array_equal(pa, pw)


def test_gaussian_kl_lecture_example(backend):
    # KL(N(1, 2^2) || N(0, 1)): sigma 2 means variance 4
    closed_form = math.log(1 / 2) + (4 + 1) / 2 - 1 / 2
    assert closed_form == pytest.approx(2 - math.log(2), rel=1e-15)
    got = info.gaussian_kl(1.0, 2.0, 0.0, 1.0, backend=backend)
    assert float(got) == pytest.approx(2 - math.log(2), rel=1e-7)
    # the reverse direction differs: KL is not symmetric
    rev = math.log(2) + (1 + 1) / (2 * 4) - 1 / 2
    assert float(info.gaussian_kl(0.0, 1.0, 1.0, 2.0, backend=backend)) == pytest.approx(rev,
                                                                                      rel=1e-7)


def test_gaussian_entropy_lecture_values(backend):
    got = info.gaussian_entropy([1.0, 2.0], backend=backend)
    want = [0.5 * math.log(2 * math.pi * math.e), 0.5 * math.log(2 * math.pi * math.e * 4)]
    np.testing.assert_allclose(got, want, rtol=1e-7)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_6_8_to_unit_norm(backend, split, dtype):
    grads = ([np.array([6.0], dtype=dtype), np.array([8.0], dtype=dtype)] if split
             else [np.array([6.0, 8.0], dtype=dtype)])
    total = clip_grad_norm(grads, 1.0, backend=backend)
    assert isinstance(total, float)
    assert total == pytest.approx(10.0, rel=1e-6)
    flat = np.concatenate([g.astype(np.float64) for g in grads])
    assert math.sqrt(float(flat @ flat)) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(flat, [0.6, 0.8], rtol=1e-6)
    assert all(g.dtype == dtype for g in grads)


def test_clip_below_max_norm_leaves_grads(backend):
    grads = [np.array([0.3, 0.4])]
    assert clip_grad_norm(grads, 1.0, backend=backend) == pytest.approx(0.5, rel=1e-12)
    np.testing.assert_array_equal(grads[0], [0.3, 0.4])


def test_cosine_annealing_endpoints():
    T, hi, lo = 100, 0.1, 0.001
    assert cosine_annealing(0, T, hi, lo) == pytest.approx(hi, rel=1e-12)
    assert cosine_annealing(T, T, hi, lo) == pytest.approx(lo, rel=1e-12)
    assert cosine_annealing(T // 2, T, hi, lo) == pytest.approx((hi + lo) / 2, rel=1e-12)
    assert cosine_annealing(T + 50, T, hi, lo) == pytest.approx(lo, rel=1e-12)  # clamped
    assert cosine_annealing(-10, T, hi, lo) == pytest.approx(hi, rel=1e-12)  # clamped
    assert cosine_annealing(T, T, hi) == 0.0  # lr_min defaults to 0
    assert isinstance(cosine_annealing(25, T, hi, lo), float)
    q = lo + (hi - lo) * (1 + math.cos(math.pi / 4)) / 2
    assert cosine_annealing(25, T, hi, lo) == pytest.approx(q, rel=1e-12)
    lrs = [cosine_annealing(t, T, hi, lo) for t in range(T + 1)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))  # non-increasing


def _quadratic_loss_after(opt_cls, lr, backend, steps=100):
    theta = np.array([1.0, 1.0])
    opt = opt_cls([theta], lr=lr, backend=backend)
    for _ in range(steps):
        opt.step([np.array([2.0 * theta[0], 200.0 * theta[1]])])
    return theta[0] ** 2 + 100.0 * theta[1] ** 2


def test_adam_beats_sgd_on_ill_conditioned_quadratic(backend):
    start = 1.0 + 100.0
    adam = _quadratic_loss_after(Adam, 0.1, backend)
    sgd = _quadratic_loss_after(SGD, 0.009, backend)
    assert sgd < start and adam < start
    assert adam < sgd
    # torch.optim gives 8.71e-4 for Adam and 2.644e-2 for SGD on this problem
    assert adam == pytest.approx(8.710308637749872e-04, rel=1e-6)
    assert sgd == pytest.approx(2.644219827237848e-02, rel=1e-6)
