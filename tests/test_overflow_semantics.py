"""Overflow: valid inputs near the top of the float range, and float32 optimizer steps there.

* Reductions: entries near 1e308 make the first pass's S log S, x log x or p log q overflow
  although the distribution is valid; the contract's second pass over the normalized entries
  must then give what scipy gives (see :mod:`kernbench.backends.interface`).
* gaussian_kl goes through log s2 - log s1 and squared quotients: no ratio of sigmas overflows.
* float32 optimizer steps are float32 arithmetic, every operation rounded, on every backend
  (the python backend included): a grad near 3.4e38 overflows the second moment to inf and
  leaves the param unchanged, as in torch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernbench import info
from kernbench.optim import SGD, Adam, AdamW
from tests.helpers import assert_same

ALL_BACKENDS = True

try:
    import torch
except ImportError:  # pragma: no cover - torch is an optional reference
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

#: Rows whose first pass overflows (S log S or x log x beyond float64), with ordinary rows beside.
HUGE_ROWS = np.array([[1e308, 1.0, 4.0, 0.0],
                      [0.0, 1e308, 0.0, 0.0],      # one-hot: exactly 0
                      [5e307, 5e307, 1e-300, 0.0],
                      [0.25, 0.25, 0.5, 0.0],      # ordinary
                      [1e305, 1e305, 0.0, 0.0]])   # large, first pass still finite


def _scipy_stats():
    return pytest.importorskip("scipy.stats")


# ---------------------------------------------------------------------------- entropy

def test_entropy_near_float64_max_matches_scipy(backend):
    stats = _scipy_stats()
    got = np.asarray(info.entropy(HUGE_ROWS, backend=backend))
    want = stats.entropy(HUGE_ROWS, axis=-1)
    assert np.all(np.isfinite(got))
    assert got[1] == 0.0
    # relative agreement, even for the tiny value 3.5e-305 of the issue's row
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=0)
    assert_same(got, info.entropy(HUGE_ROWS, backend="numpy"))


def test_entropy_of_the_issue(backend):
    stats = _scipy_stats()
    x = np.array([1e308, 1.0, 4.0])
    got = float(info.entropy(x, backend=backend))
    assert got > 0.0
    assert math.isclose(got, stats.entropy(x), rel_tol=1e-7)
    assert math.isclose(float(info.entropy(x, base=2, backend=backend)), stats.entropy(x, base=2),
                        rel_tol=1e-7)


# ---------------------------------------------------------------------------- CE and KL

def _pair_cases():
    p = np.array([[1e308, 1.0, 4.0],
                  [1e308, 1.0, 4.0],
                  [1e308, 1.0, 4.0],
                  [1e308, 0.0, 0.0],    # one-hot p, q one-hot at the same place: KL = 0
                  [3.0, 1e308, 2.0],
                  [0.2, 0.3, 0.5]])     # ordinary
    q = np.array([[1e10, 1.0, 1.0],     # p log(p / q) overflows
                  [1e-300, 1.0, 1.0],   # p log q overflows to -inf
                  [8e307, 1.0, 1.0],    # Sp log Sq overflows
                  [1.0, 0.0, 0.0],
                  [1e307, 1e307, 1e307],
                  [0.3, 0.3, 0.4]])
    return p, q


def test_kl_near_float64_max_matches_scipy(backend):
    stats = _scipy_stats()
    p, q = _pair_cases()
    got = np.asarray(info.kl_divergence(p, q, backend=backend))
    want = stats.entropy(p, q, axis=-1)
    assert np.all(np.isfinite(got))
    assert got[3] == 0.0
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)
    assert_same(got, info.kl_divergence(p, q, backend="numpy"))


def test_cross_entropy_near_float64_max_matches_scipy(backend):
    stats = _scipy_stats()
    p, q = _pair_cases()
    got = np.asarray(info.cross_entropy(p, q, backend=backend))
    want = stats.entropy(p, axis=-1) + stats.entropy(p, q, axis=-1)  # H(p) + KL(p || q)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)
    assert_same(got, info.cross_entropy(p, q, backend="numpy"))


def test_kl_of_huge_p_with_itself_is_exactly_zero(backend):
    p = np.array([[1e308, 1.0, 4.0], [5e307, 5e307, 1.0]])
    assert np.all(np.asarray(info.kl_divergence(p, p, backend=backend)) == 0.0)


@pytest.mark.parametrize("q_zero", [0.0, -0.0])
def test_huge_p_against_a_zero_of_q_is_inf(backend, q_zero):
    """p > 0 where q = 0 stays +inf in the second pass, however small p is next to the rest."""
    p = np.array([[1e308, 1e-300], [1e308, 1.0]])
    q = np.array([[1.0, q_zero], [1e10, q_zero]])
    for fn in (info.kl_divergence, info.cross_entropy):
        got = np.asarray(fn(p, q, backend=backend))
        assert np.all(got == np.inf), (fn.__name__, got)


def test_kl_whose_ratio_p_over_q_overflows(backend):
    """p / q beyond float64 with ordinary sums (q subnormal): finite, through the logs (scipy
    itself returns inf here, so the reference is the sum of pn (log pn - log qn))."""
    p = np.array([[1.0, 1.0, 0.0], [1e10, 1.0, 1.0]])
    q = np.array([[1e-310, 1.0, 1.0], [5e-300, 1.0, 2.0]])
    pn = p / p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # p = 0: 0 * -inf, masked below
        terms = pn * ((np.log(p) - np.log(p.sum(axis=1, keepdims=True)))
                      - (np.log(q) - np.log(q.sum(axis=1, keepdims=True))))
    want = np.where(p > 0, terms, 0.0).sum(axis=1)
    got = np.asarray(info.kl_divergence(p, q, backend=backend))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-7)
    ce = np.asarray(info.cross_entropy(p, q, backend=backend))
    h = np.asarray(info.entropy(p, backend=backend))
    np.testing.assert_allclose(ce, h + want, rtol=1e-7)


def test_js_near_the_top_of_float32_and_float64(backend):
    spatial = pytest.importorskip("scipy.spatial")
    for dtype, big in ((np.float32, 3e38), (np.float64, 1e308)):
        p = np.array([big, big / 2, 0.0], dtype=dtype)  # the float32 sum overflows float32
        q = np.array([1.0, 0.0, 1.0], dtype=dtype)
        got = float(info.js_divergence(p, q, backend=backend))
        want = spatial.distance.jensenshannon(p.astype(np.float64), q.astype(np.float64)) ** 2
        assert math.isclose(got, want, rel_tol=2e-6 if dtype == np.float32 else 1e-7)


# ---------------------------------------------------------------------------- joint tables

TABLES = {
    "cell-near-max": np.array([[1e308, 1.0], [2.0, 3e307]]),
    "row-near-max": np.array([[6e307, 2e307, 1.0], [1e307, 0.0, 5e306]]),
    "tiny-beside-max": np.array([[1e308, 1e-300], [3.0, 4.0]]),
}


def _joint_reference(j):
    """(I, H(Y|X)) from scipy's entropies, which normalize before any product."""
    stats = _scipy_stats()
    h_xy = stats.entropy(j.ravel())
    h_x = stats.entropy(j.sum(axis=1))
    h_y = stats.entropy(j.sum(axis=0))
    return max(h_x + h_y - h_xy, 0.0), max(h_xy - h_x, 0.0)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_joint_tables_near_float64_max_match_scipy(backend, name):
    j = TABLES[name]
    mi_want, h_want = _joint_reference(j)
    mi = float(info.mutual_information(j, backend=backend))
    h = float(info.conditional_entropy(j, backend=backend))
    assert math.isfinite(mi) and math.isfinite(h)
    assert math.isclose(mi, mi_want, rel_tol=1e-7, abs_tol=1e-9), (mi, mi_want)
    assert math.isclose(h, h_want, rel_tol=1e-7, abs_tol=1e-9), (h, h_want)
    assert_same(mi, info.mutual_information(j, backend="numpy"))
    assert_same(h, info.conditional_entropy(j, backend="numpy"))


def test_joint_table_near_float64_max_matches_mpmath(backend):
    mpmath = pytest.importorskip("mpmath")
    j = TABLES["cell-near-max"]
    mpmath.mp.dps = 40
    cells = [[mpmath.mpf(float(v)) for v in row] for row in j]
    s = sum(sum(row) for row in cells)
    rows = [sum(row) for row in cells]
    cols = [sum(cells[i][k] for i in range(len(cells))) for k in range(len(cells[0]))]
    mi = sum(c / s * mpmath.log(c * s / (rows[i] * cols[k]))
             for i, row in enumerate(cells) for k, c in enumerate(row) if c > 0)
    h = -sum(c / s * mpmath.log(c / rows[i])
             for i, row in enumerate(cells) for c in row if c > 0)
    assert math.isclose(float(info.mutual_information(j, backend=backend)), float(mi),
                        rel_tol=1e-7, abs_tol=1e-9)
    assert math.isclose(float(info.conditional_entropy(j, backend=backend)), float(h),
                        rel_tol=1e-7, abs_tol=1e-9)


def test_joint_tables_near_float64_max_keep_exact_zeros(backend):
    diagonal = np.array([[1e308, 0.0], [0.0, 3e307]])   # Y determined by X: H(Y|X) = 0
    one_row = np.array([[1e308, 2e307, 1.0]])           # X constant: I(X;Y) = 0
    assert float(info.conditional_entropy(diagonal, backend=backend)) == 0.0
    assert float(info.mutual_information(one_row, backend=backend)) == 0.0
    assert float(info.conditional_entropy(one_row.T, backend=backend)) == 0.0


# ---------------------------------------------------------------------------- gaussian KL

def _gaussian_kl_ref(m1, s1, m2, s2):
    """float64 reference (exact enough) through the logs of the sigmas."""
    return (math.log(s2) - math.log(s1)) + ((s1 / s2) ** 2 + ((m1 - m2) / s2) ** 2) / 2 - 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_kl_sigma_ratio_beyond_the_dtype(backend, dtype):
    big = float(np.finfo(dtype).max) * 0.999
    cases = [(0.0, 0.1, 0.0, big),          # s2 / s1 overflows
             (1.0, 1e-30, -1.0, big / 4),
             (0.0, big, 1.0, big),          # s1 ** 2 overflows: the quadratic term is 1/2
             (2.0, 1e19, 2.0, 1e19)]        # s ** 2 overflows float32: equal, exactly 0
    m1, s1, m2, s2 = (np.array(c, dtype=dtype) for c in zip(*cases))
    got = np.asarray(info.gaussian_kl(m1, s1, m2, s2, backend=backend))
    assert got.dtype == dtype
    want = np.array([_gaussian_kl_ref(*map(float, c)) for c in zip(m1, s1, m2, s2)])
    assert np.all(np.isfinite(got))
    assert got[3] == 0.0
    tol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol, atol=1e-6)


def test_gaussian_kl_of_the_issue(backend):
    """float32 sigma1 = 0.1, sigma2 = 3.4e38: log(3.4e39) - 1/2 = 90.52 (s2 / s1 overflows)."""
    got = float(info.gaussian_kl(np.float32(0.0), np.float32(0.1), np.float32(0.0),
                                 np.float32(3.4e38), backend=backend))
    assert math.isclose(got, math.log(float(np.float32(3.4e38)) / float(np.float32(0.1))) - 0.5,
                        rel_tol=2e-6)


@requires_torch
def test_gaussian_kl_matches_torch_where_torch_is_finite(backend):
    m1 = np.array([0.0, 1.0, -3.0, 1e10])
    s1 = np.array([1e-60, 2.0, 1e100, 3.0])
    m2 = np.array([0.0, -1.0, 5.0, 1e10])
    s2 = np.array([1e60, 0.5, 1e-50, 3.0])
    Normal = torch.distributions.Normal
    want = torch.distributions.kl_divergence(
        Normal(torch.tensor(m1), torch.tensor(s1)), Normal(torch.tensor(m2), torch.tensor(s2))
    ).numpy()
    got = np.asarray(info.gaussian_kl(m1, s1, m2, s2, backend=backend))
    assert np.isfinite(want).all()
    assert_same(got, want)


# ---------------------------------------------------------------------------- optimizers

F32 = np.float32
#: Grads at the float32 limit: g*g and (1-b2)*g*g overflow; 2e19 overflows g*g alone (so the
#: order ((1-b2)*g)*g of the contract decides); ordinary entries beside them.
GRADS = [np.array([3.4e38, -3.3e38, 2e19, 1.0, -3e38, 1e-30], F32),
         np.array([1.0, 1.0, 2e19, 3.0e38, 1.0, -1.0], F32),
         np.array([0.5, -0.25, 1.0, -1.0, 3.4e38, 2.0], F32),
         np.array([1e-3, 2.0, 3e38, 1.0, 1.0, -3.4e38], F32)]
PARAM0 = np.array([1.0, -2.0, 0.5, 3.0, 1e-3, -7.0], F32)

OPTIMIZERS = {
    "sgd": (SGD, dict(lr=0.1)),
    "sgd-momentum-wd": (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd-nesterov-maximize": (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    "adam": (Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.01)),
    "adam-amsgrad-maximize": (Adam, dict(lr=0.01, amsgrad=True, maximize=True)),
    "adamw": (AdamW, dict(lr=0.01, weight_decay=0.1)),
}


def _trajectory(cls, kwargs, backend, grads=GRADS, param0=PARAM0):
    params = [param0.copy()]
    opt = cls(params, backend=backend, **kwargs)
    out = []
    for g in grads:
        opt.step([g.copy()])
        out.append(np.asarray(opt.params[0]).copy())
    return out


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_steps_at_the_overflow_boundary_agree(backend, name):
    """Every backend computes float32 steps in float32 (the numpy backend's ufuncs are)."""
    cls, kwargs = OPTIMIZERS[name]
    want = _trajectory(cls, kwargs, "numpy")
    got = _trajectory(cls, kwargs, backend)
    for step, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == F32
        assert_same(g, w, err_msg=f"{name}, step {step + 1}")


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_step_with_a_grad_near_float32_max_leaves_the_param(backend, decoupled):
    """v overflows to inf, so m / (sqrt(v) + eps) = 0: the param stays (decayed for AdamW),
    where float64 arithmetic rounded at the store would move it by lr."""
    cls = AdamW if decoupled else Adam
    p0 = np.array([1.0, -2.0, 0.5], F32)
    g = np.array([3.4e38, -3.4e38, 2e19], F32)
    (got,) = _trajectory(cls, dict(lr=0.01, weight_decay=0.0), backend, [g], p0)
    np.testing.assert_array_equal(got[:2], p0[:2])
    # 2e19: ((1-b2) g) g = 4e35 is finite (g*g alone would overflow): an ordinary first step
    assert got[2] != p0[2] and abs(float(got[2] - p0[2]) + 0.01) < 1e-6


@requires_torch
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_steps_at_the_overflow_boundary_match_torch(backend, name):
    """Torch's float32 steps, within the float32 tolerances and with the same inf and NaN
    positions (two steps: later ones reach torch's lerp for m, see the contract). Zeros are
    not compared: torch fuses ``p + (-lr) * g`` into one multiply-add, so where the update
    cancels the param exactly in float32 it leaves the rounding error of lr instead."""
    cls, kwargs = OPTIMIZERS[name]
    tcls = {SGD: torch.optim.SGD, Adam: torch.optim.Adam, AdamW: torch.optim.AdamW}[cls]
    tp = torch.tensor(PARAM0.copy(), requires_grad=True)
    topt = tcls([tp], foreach=False, **kwargs)
    got = _trajectory(cls, kwargs, backend, GRADS[:2])
    for step, g in enumerate(GRADS[:2]):
        tp.grad = torch.tensor(g)
        topt.step()
        assert_same(got[step], tp.detach().numpy(), exact_zeros=False,
                    err_msg=f"{name}, step {step + 1}")
