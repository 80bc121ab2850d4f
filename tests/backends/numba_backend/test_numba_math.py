"""The numba backend's own log and exp, float64 and float32 (vectorizable, no SVML here),
against NumPy, in ulps."""

from __future__ import annotations

import numpy as np
import pytest

numba = pytest.importorskip("numba")
M = pytest.importorskip("kernbench.backends._numba_math")


@numba.njit
def _apply_log(x, out):
    for i in range(x.size):
        out[i] = M._log(x[i])


@numba.njit
def _apply_exp(x, out):
    for i in range(x.size):
        out[i] = M._exp(x[i])


@numba.njit
def _apply_logf(x, out):
    for i in range(x.size):
        out[i] = M._logf(x[i])


@numba.njit
def _apply_expf(x, out):
    for i in range(x.size):
        out[i] = M._expf(x[i])


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in units in the last place of ``want``, for finite values."""
    spacing = np.spacing(np.abs(want).astype(got.dtype))
    return np.abs(got - want) / spacing


def _special_agree(got, want):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])


def _log_inputs(rng):
    return np.concatenate([
        np.array([0.0, -0.0, 5e-324, 1e-320, 2.2250738585072014e-308, 1.0, np.inf, -1.0,
                  np.nan, 1.7976931348623157e308]),
        rng.uniform(0.0, 1e-310, 2000),                      # subnormals
        1.0 + rng.uniform(-1e-6, 1e-6, 2000),                # near 1, where cancellation bites
        rng.uniform(0.5, 2.0, 4000),
        10.0 ** rng.uniform(-300, 300, 8000),                # the whole normal range
    ])


def test_log_within_2_ulp_of_numpy(rng):
    x = _log_inputs(rng)
    got = np.empty_like(x)
    _apply_log(x, got)
    with np.errstate(all="ignore"):
        want = np.log(x)
    _special_agree(got, want)
    finite = np.isfinite(want)
    # near 1 the result is tiny: compare in ulps of the result, the strict measure
    assert _ulps(got[finite], want[finite]).max() <= 2.0
    assert got[0] == -np.inf and got[6] == np.inf and np.isnan(got[7]) and np.isnan(got[8])


def test_float32_log_within_2_ulp(rng):
    x = np.concatenate([
        np.array([0.0, -0.0, 1e-45, 1e-40, 1.1754944e-38, 1.0, np.inf, -1.0, np.nan,
                  3.4028235e38]),
        rng.uniform(0.0, 1.2e-38, 2000),                     # subnormals
        1.0 + rng.uniform(-1e-3, 1e-3, 4000),                # near 1
        rng.uniform(0.5, 2.0, 4000),
        10.0 ** rng.uniform(-37, 38, 8000),
    ]).astype(np.float32)
    got = np.empty_like(x)
    _apply_logf(x, got)
    with np.errstate(all="ignore"):
        want = np.log(x.astype(np.float64)).astype(np.float32)  # correctly rounded reference
    _special_agree(got, want)
    finite = np.isfinite(want)
    assert _ulps(got[finite], want[finite]).max() <= 2.0
    assert got[0] == -np.inf and got[1] == -np.inf and got[6] == np.inf
    assert np.isnan(got[7]) and np.isnan(got[8]) and got[5] == 0.0


def test_exp_within_2_ulp_of_numpy(rng):
    x = np.concatenate([
        np.array([0.0, -np.inf, np.inf, np.nan, 709.78, 710.0, -745.1, -708.0, -740.0]),
        rng.uniform(-745.0, 709.0, 10000),
        rng.uniform(-1e-8, 1e-8, 1000),
    ])
    got = np.empty_like(x)
    _apply_exp(x, got)
    with np.errstate(all="ignore"):
        want = np.exp(x)
    _special_agree(got, want)
    normal = np.isfinite(want) & (want >= np.finfo(np.float64).tiny)
    assert _ulps(got[normal], want[normal]).max() <= 2.0
    # subnormal results: within one rounding of the subnormal grid
    sub = np.isfinite(want) & (want < np.finfo(np.float64).tiny)
    assert np.all(np.abs(got[sub] - want[sub]) <= 5e-324)


def test_float32_exp_within_2_ulp(rng):
    x = np.concatenate([np.array([0.0, -0.0, -np.inf, np.inf, np.nan, 88.7, 88.72, 88.73, 89.5,
                                  1e4, -87.3, -103.27, -103.98, -110.0, -1e4]),
                        rng.uniform(-87.0, 88.0, 10000),
                        rng.uniform(-104.0, -87.0, 2000),            # subnormal results
                        rng.uniform(-1e-4, 1e-4, 1000)]).astype(np.float32)
    got = np.empty_like(x)
    _apply_expf(x, got)
    with np.errstate(all="ignore"):
        want = np.exp(x.astype(np.float64)).astype(np.float32)  # correctly rounded reference
    _special_agree(got, want)
    normal = np.isfinite(want) & (want >= np.finfo(np.float32).tiny)
    assert _ulps(got[normal], want[normal]).max() <= 2.0
    sub = np.isfinite(want) & (want < np.finfo(np.float32).tiny)
    assert sub.sum() > 1000
    assert np.all(np.abs(got[sub] - want[sub]) <= np.float32(1.4e-45))
