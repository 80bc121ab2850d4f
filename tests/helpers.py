"""Comparison helpers with the contract's tolerances.

inf, -inf, NaN and exact zeros must agree exactly.
"""

from __future__ import annotations

import numpy as np

from kernbench.backends import interface

#: (rtol, atol) by the dtype of the results compared: the contract's, keyed by dtype.
TOLERANCES = {np.dtype(name): tol for name, tol in interface.TOLERANCES.items()}
#: float32 results against a float64 reference (up to 20 optimizer steps).
F32_VS_F64 = interface.F32_VS_F64_TOLERANCE


def assert_same(actual, expected, tol=None, exact_zeros=True, err_msg=""):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{err_msg}: shape {actual.shape} != {expected.shape}"
    if tol is None:
        tol = TOLERANCES.get(np.result_type(actual, expected), TOLERANCES[np.dtype(np.float64)])
    rtol, atol = tol
    a64 = actual.astype(np.float64)
    e64 = expected.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a64), np.isnan(e64), err_msg=f"{err_msg}: NaN positions")
    for sign in (1, -1):
        np.testing.assert_array_equal(a64 == sign * np.inf, e64 == sign * np.inf,
                                      err_msg=f"{err_msg}: {'+' if sign > 0 else '-'}inf positions")
    if exact_zeros:
        np.testing.assert_array_equal(a64 == 0, e64 == 0, err_msg=f"{err_msg}: exact zeros")
    finite = np.isfinite(e64)
    np.testing.assert_allclose(a64[finite], e64[finite], rtol=rtol, atol=atol, err_msg=err_msg)
