"""The host-side finals of the compiled backends (``_finals``): a joint table's status, and
mutual information and H(Y|X) from the sums, with the contract's second pass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernbench.backends import _finals
from kernbench.backends.interface import STATUS_OK, STATUS_P_INVALID, STATUS_P_ZERO_SUM


def _sums(joint):
    """(S, A, R, C) of a table, in float64, as the contract defines them."""
    j = np.asarray(joint, dtype=np.float64)

    def xlogx(x):
        x = x[x > 0]
        with np.errstate(over="ignore"):  # the overflow the second pass is for
            return float(np.sum(x * np.log(x)))

    return float(j.sum()), xlogx(j.ravel()), xlogx(j.sum(axis=1)), xlogx(j.sum(axis=0))


def _scaled(joint):
    """The second pass's callable for a table, counting its calls."""
    calls = []

    def scaled_terms():
        calls.append(1)
        j = np.asarray(joint, dtype=np.float64)
        return _sums(j / j.sum())[1:]

    return scaled_terms, calls


def _mi_reference(joint):
    """sum p log(p / (p_x p_y)) over the normalized table, in float64."""
    p = np.asarray(joint, dtype=np.float64)
    p = p / p.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log((p / (px * py))[nz])))


@pytest.mark.parametrize(("negatives", "total", "want"), [
    (0, 3.0, STATUS_OK),
    (1, 3.0, STATUS_P_INVALID),
    (0, math.nan, STATUS_P_INVALID),
    (0, math.inf, STATUS_P_INVALID),
    (2, 0.0, STATUS_P_INVALID),  # a negative entry wins over a zero sum
    (0, 0.0, STATUS_P_ZERO_SUM),
])
def test_joint_status(negatives, total, want):
    assert _finals.joint_status(negatives, total) == want


@pytest.mark.parametrize("status", [STATUS_P_INVALID, STATUS_P_ZERO_SUM])
def test_a_bad_status_gives_zero_and_skips_the_second_pass(status):
    scaled, calls = _scaled([[1.0]])
    assert _finals.mutual_information(math.nan, math.nan, 0.0, 0.0, status, scaled) == \
        (0.0, status)
    assert _finals.conditional_entropy(math.nan, math.nan, 0.0, status, scaled) == (0.0, status)
    assert calls == []


def test_first_pass_against_the_definition():
    rng = np.random.default_rng(3)
    joint = rng.uniform(0.0, 5.0, size=(4, 6))
    joint[1, 2] = 0.0
    s, a, rr, cc = _sums(joint)
    scaled, calls = _scaled(joint)
    mi, st = _finals.mutual_information(s, a, rr, cc, STATUS_OK, scaled)
    assert st == STATUS_OK and mi == pytest.approx(_mi_reference(joint), rel=1e-12)
    p = joint / s
    h_xy = -float(np.sum(p[p > 0] * np.log(p[p > 0])))
    px = p.sum(axis=1)
    h_x = -float(np.sum(px * np.log(px)))
    h, st = _finals.conditional_entropy(s, a, rr, STATUS_OK, scaled)
    assert st == STATUS_OK and h == pytest.approx(h_xy - h_x, rel=1e-12)
    assert calls == []  # finite first values need no second pass


@pytest.mark.parametrize("scale", [1.0, 1e306])
def test_exact_zeros_and_the_overflow_pass(scale):
    """A diagonal table: I = ln 2 and H(Y|X) = 0 exactly; an independent table: I ~ 0. At
    1e306 per entry S log S overflows, and the second pass (called once) gives the same."""
    diagonal = np.array([[1.0, 0.0], [0.0, 1.0]]) * scale
    independent = np.full((2, 3), 1.0) * scale
    for joint, want_mi, want_h in ((diagonal, math.log(2.0), 0.0),
                                   (independent, 0.0, math.log(3.0))):
        s, a, rr, cc = _sums(joint)
        scaled, calls = _scaled(joint)
        mi = _finals.mutual_information(s, a, rr, cc, STATUS_OK, scaled)
        h = _finals.conditional_entropy(s, a, rr, STATUS_OK, scaled)
        assert len(calls) == (2 if scale > 1.0 else 0)
        assert mi[1] == h[1] == STATUS_OK
        assert mi[0] == pytest.approx(want_mi, rel=1e-12, abs=1e-15)
        assert h[0] == pytest.approx(want_h, rel=1e-12, abs=1e-15)
        if want_h == 0.0:  # the contract's exact zero: R - A of a diagonal table
            assert h[0] == 0.0


def test_rounding_below_zero_is_clamped():
    # A + S log S - R - C a hair below zero, as rounding makes it for an independent table
    scaled, _ = _scaled([[1.0]])
    value, st = _finals.mutual_information(1.0, 0.0, 1e-17, 0.0, STATUS_OK, scaled)
    assert (value, st) == (0.0, STATUS_OK)
    value, st = _finals.conditional_entropy(1.0, 1e-17, 0.0, STATUS_OK, scaled)
    assert (value, st) == (0.0, STATUS_OK)

