"""Hypothesis properties of the information functions, on every backend.

Arrays stay at 64 elements or fewer: the python backend is slow on purpose.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernbench import info

FAST = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
LN2 = math.log(2.0)

# probabilities or counts: zeros allowed and likely, no subnormals (their few bits of precision
# make any normalize-then-log formula meaningless), at least one positive entry
prob_entries = st.one_of(st.just(0.0), st.floats(1e-12, 1.0), st.floats(1.0, 1e6))
pos_entries = st.floats(1e-6, 1e3)


def _fix_zero_sum(p):
    p = np.array(p, dtype=np.float64)
    if p.sum() == 0:
        p.flat[0] = 1.0
    return p


sizes = st.integers(1, 64)
distributions = sizes.flatmap(lambda n: arrays(np.float64, n, elements=prob_entries)).map(
    _fix_zero_sum)
positive_pairs = sizes.flatmap(lambda n: st.tuples(
    arrays(np.float64, n, elements=prob_entries).map(_fix_zero_sum),
    arrays(np.float64, n, elements=pos_entries)))
distribution_pairs = sizes.flatmap(lambda n: st.tuples(
    arrays(np.float64, n, elements=prob_entries).map(_fix_zero_sum),
    arrays(np.float64, n, elements=prob_entries).map(_fix_zero_sum)))
joint_shapes = st.tuples(st.integers(1, 8), st.integers(1, 8))
joints = joint_shapes.flatmap(lambda s: arrays(np.float64, s, elements=prob_entries)).map(
    _fix_zero_sum)
marginal_pairs = st.tuples(
    st.integers(1, 8).flatmap(lambda n: arrays(np.float64, n, elements=prob_entries)),
    st.integers(1, 8).flatmap(lambda n: arrays(np.float64, n, elements=prob_entries)),
).map(lambda ab: (_fix_zero_sum(ab[0]), _fix_zero_sum(ab[1])))
logit_entries = st.one_of(st.floats(-30.0, 30.0), st.just(-np.inf))


def _fix_all_ninf(x):
    x = np.array(x, dtype=np.float64)
    x[np.all(np.isneginf(x), axis=-1), 0] = 0.0
    return x


logit_tables = st.tuples(st.integers(1, 8), st.integers(1, 8)).flatmap(
    lambda s: arrays(np.float64, s, elements=logit_entries)).map(_fix_all_ninf)
temperatures = st.floats(0.1, 10.0)


@FAST
@given(p=distributions)
def test_entropy_between_zero_and_log_n(backend, p):
    h = info.entropy(p, backend=backend)
    assert h >= 0.0
    assert h <= math.log(p.size) * (1 + 1e-12) + 1e-12
    assert np.isfinite(h)


@FAST
@given(p=distributions)
def test_entropy_base_2_is_nats_over_ln2(backend, p):
    h = info.entropy(p, backend=backend)
    h2 = info.entropy(p, base=2, backend=backend)
    np.testing.assert_allclose(h2, h / LN2, rtol=1e-12, atol=1e-15)


@FAST
@given(pq=distribution_pairs)
def test_kl_nonnegative(backend, pq):
    p, q = pq
    kl = info.kl_divergence(p, q, backend=backend)
    assert kl >= 0.0  # +inf allowed where q misses p's support
    if np.any((p > 0) & (q == 0)):
        assert kl == np.inf
    else:
        assert np.isfinite(kl)


@FAST
@given(p=distributions)
def test_kl_of_p_with_itself_is_zero(backend, p):
    assert info.kl_divergence(p, p.copy(), backend=backend) == 0.0


@FAST
@given(pq=positive_pairs)
def test_cross_entropy_is_entropy_plus_kl(backend, pq):
    p, q = pq
    ce = info.cross_entropy(p, q, backend=backend)
    h = info.entropy(p, backend=backend)
    kl = info.kl_divergence(p, q, backend=backend)
    np.testing.assert_allclose(ce, h + kl, rtol=1e-7, atol=1e-9)


@FAST
@given(ab=marginal_pairs)
def test_mutual_information_of_independent_joint_is_zero(backend, ab):
    a, b = ab
    joint = np.outer(a, b)
    mi = info.mutual_information(joint, backend=backend)
    assert mi >= 0.0
    np.testing.assert_allclose(mi, 0.0, atol=1e-9)


@FAST
@given(a=st.integers(1, 8).flatmap(lambda n: arrays(np.float64, n, elements=prob_entries))
       .map(_fix_zero_sum))
def test_mutual_information_of_diagonal_joint_is_entropy(backend, a):
    mi = info.mutual_information(np.diag(a), backend=backend)
    h = info.entropy(a, backend=backend)
    np.testing.assert_allclose(mi, h, rtol=1e-7, atol=1e-9)


@FAST
@given(pq=distribution_pairs)
def test_js_between_zero_and_ln2(backend, pq):
    p, q = pq
    js = info.js_divergence(p, q, backend=backend)
    assert 0.0 <= js <= LN2
    js_qp = info.js_divergence(q, p, backend=backend)
    np.testing.assert_allclose(js, js_qp, rtol=1e-7, atol=1e-9)  # symmetric


@FAST
@given(x=logit_tables, t=temperatures)
def test_softmax_rows_sum_to_one(backend, x, t):
    s = info.softmax(x, temperature=t, backend=backend)
    assert s.shape == x.shape
    assert np.all(s >= 0.0) and np.all(s <= 1.0)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(s[np.isneginf(x)], 0.0)


@FAST
@given(x=logit_tables, t=temperatures)
def test_log_softmax_is_log_of_softmax(backend, x, t):
    s = info.softmax(x, temperature=t, backend=backend)
    ls = info.log_softmax(x, temperature=t, backend=backend)
    assert np.all(ls <= 1e-12)
    assert np.all(np.isneginf(ls[np.isneginf(x)]))
    finite = s > 1e-250
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(ls[finite], np.log(s[finite]), rtol=1e-7, atol=1e-9)


@FAST
@given(joint=joints)
def test_conditional_entropy_chain_rule(backend, joint):
    hyx = info.conditional_entropy(joint, backend=backend)
    assert hyx >= 0.0
    h_xy = info.entropy(joint.ravel(), backend=backend)
    h_x = info.entropy(joint.sum(axis=1), backend=backend)
    np.testing.assert_allclose(hyx, max(h_xy - h_x, 0.0), rtol=1e-7, atol=1e-9)
    assert hyx <= h_xy * (1 + 1e-9) + 1e-9


@FAST
@given(joint=joints)
def test_mutual_information_bounds(backend, joint):
    mi = info.mutual_information(joint, backend=backend)
    hx = info.entropy(joint.sum(axis=1), backend=backend)
    hy = info.entropy(joint.sum(axis=0), backend=backend)
    assert mi >= 0.0
    assert mi <= min(hx, hy) + 1e-9
    hyx = info.conditional_entropy(joint, backend=backend)
    np.testing.assert_allclose(mi, max(hy - hyx, 0.0), rtol=1e-7, atol=1e-9)
