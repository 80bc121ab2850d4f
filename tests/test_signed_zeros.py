"""-0.0 is a zero: every function gives with -0.0 what it gives with +0.0, on every backend.

-0.0 passes validation (it is not negative) and comes naturally out of arithmetic
(``0.0 * -1``), so p > 0 against q = -0.0 must give the +inf of q = 0, and no clamp may hide
the NaN that a careless ``p / q`` makes of it.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernbench import info
from tests.helpers import assert_same

ALL_BACKENDS = True
DTYPES = [np.float64, np.float32]


def _negate_zeros(x):
    """x with every +0.0 replaced by -0.0."""
    x = np.array(x, copy=True)
    x[x == 0] = -0.0
    assert np.signbit(x[x == 0]).all()
    return x


def _pair_rows(dtype):
    p = np.array([[0.5, 0.5, 0.0, 0.0],     # p > 0 where q = 0: inf for KL and CE
                  [0.0, 0.25, 0.25, 0.5],   # zeros in p only
                  [0.0, 1.0, 0.0, 0.0],     # one-hot p, q zero where p is zero
                  [0.2, 0.3, 0.0, 0.5]], dtype=dtype)
    q = np.array([[1.0, 0.0, 0.0, 1.0],
                  [0.25, 0.25, 0.25, 0.25],
                  [0.0, 2.0, 0.0, 0.0],
                  [0.2, 0.3, 0.0, 0.5]], dtype=dtype)
    return p, q


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["kl_divergence", "cross_entropy", "js_divergence"])
def test_pair_reductions_treat_negative_zero_as_zero(backend, dtype, name):
    fn = getattr(info, name)
    p, q = _pair_rows(dtype)
    want = fn(p, q, backend="numpy")
    for a, b in [(p, _negate_zeros(q)), (_negate_zeros(p), q),
                 (_negate_zeros(p), _negate_zeros(q))]:
        got = fn(a, b, backend=backend)
        assert_same(got, want, err_msg=name)
        assert_same(fn(a[0], b[0], backend=backend), want[0], err_msg=f"{name} 1-D")
    if name in ("kl_divergence", "cross_entropy"):
        assert want[0] == np.inf
    if name != "cross_entropy":
        assert want[2] == 0.0 and want[3] == 0.0


def test_kl_of_the_issue_is_inf(backend):
    assert info.kl_divergence([0.5, 0.5], [1.0, -0.0], backend=backend) == np.inf
    assert info.cross_entropy([0.5, 0.5], [1.0, -0.0], backend=backend) == np.inf


def test_pair_reductions_agree_with_scipy_on_negative_zero(backend):
    stats = pytest.importorskip("scipy.stats")
    p, q = _pair_rows(np.float64)
    got = info.kl_divergence(p, _negate_zeros(q), backend=backend)
    assert_same(got, stats.entropy(p, q, axis=-1), err_msg="kl vs scipy")


@pytest.mark.parametrize("dtype", DTYPES)
def test_entropy_treats_negative_zero_as_zero(backend, dtype):
    p = np.array([[0.0, 3.0, 0.0], [0.0, 0.5, 0.5], [0.25, 0.25, 0.5]], dtype=dtype)
    got = info.entropy(_negate_zeros(p), backend=backend)
    assert_same(got, info.entropy(p, backend="numpy"), err_msg="entropy")
    assert got[0] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["mutual_information", "conditional_entropy"])
def test_joint_tables_treat_negative_zero_as_zero(backend, dtype, name):
    fn = getattr(info, name)
    tables = [np.array([[0.5, 0.0], [0.0, 0.5]], dtype=dtype),      # a diagonal
              np.array([[0.0, 0.0, 0.0], [0.1, 0.2, 0.3], [0.0, 0.4, 0.0]], dtype=dtype)]
    for joint in tables:
        want = fn(joint, backend="numpy")
        assert_same(fn(_negate_zeros(joint), backend=backend), want, err_msg=name)
    diagonal = fn(_negate_zeros(tables[0]), backend=backend)
    assert diagonal == (dtype(np.log(2)) if name == "mutual_information" else 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logits_functions_treat_negative_zero_as_zero(backend, dtype):
    logits = np.array([[0.0, 1.0, 0.0, -2.0], [0.0, 0.0, 0.0, 0.0],
                       [-np.inf, 0.0, 3.0, 0.0]], dtype=dtype)
    neg = _negate_zeros(logits)
    targets = np.array([0, 3, 1])
    for name in ("softmax", "log_softmax"):
        got = getattr(info, name)(neg, backend=backend)
        assert_same(np.asarray(got), getattr(info, name)(logits, backend="numpy"), err_msg=name)
    for kw in [{}, {"label_smoothing": 0.1}, {"reduction": "none"}]:
        got = info.cross_entropy_logits(neg, targets, backend=backend, **kw)
        want = info.cross_entropy_logits(logits, targets, backend="numpy", **kw)
        assert_same(np.asarray(got), want, err_msg=f"cross_entropy_logits {kw}")
    assert_same(info.perplexity(neg, targets, backend=backend),
                info.perplexity(logits, targets, backend="numpy"), err_msg="perplexity")


def test_negative_zero_sigma_is_refused(backend):
    with pytest.raises(ValueError, match="sigma"):
        info.gaussian_entropy(np.array([1.0, -0.0]), backend=backend)
    with pytest.raises(ValueError, match="sigma"):
        info.gaussian_kl(0.0, -0.0, 0.0, 1.0, backend=backend)
