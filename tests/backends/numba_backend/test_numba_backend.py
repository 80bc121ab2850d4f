"""The numba backend's own hooks against the contract's defaults (``Backend`` in
``backends/interface.py``): the same answers on every layout, dtype and awkward value."""

from __future__ import annotations

import numpy as np
import pytest

from kernbench.backends.interface import Backend

pytest.importorskip("numba")
NB = pytest.importorskip("kernbench.backends.numba_backend")


def _arrays(rng, dtype):
    """Positive arrays with one awkward entry planted, in several layouts and sizes (the
    compiled scan counts blocks of 1024 elements, so the plants sit in later blocks too)."""
    out = []
    for n in (1, 7, 1024, 1025, 5000):
        base = rng.uniform(0.5, 2.0, size=n).astype(dtype)
        out.append(base)
        for value in (0.0, -0.0, -1.0, -np.inf, np.nan, np.inf, 1e-45):
            for where in {0, n // 2, n - 1}:
                a = base.copy()
                a[where] = value
                out.append(a)
        a = base.copy()
        a[[n // 3, n - 1]] = [-2.0, 0.0]   # two bad entries: the first is named
        out.append(a)
    a = rng.uniform(0.5, 2.0, size=(40, 60)).astype(dtype)
    a[17, 3] = -0.5
    a[30, 1] = 0.0
    out += [a, a.T, a[:, ::-3], a[::-1], a[5:6], np.asarray(a[0, 0]), a[:0]]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_not_positive_matches_the_default_hook(rng, dtype):
    numba_backend, default = NB.NumbaBackend(), Backend()
    for a in _arrays(rng, dtype):
        got = numba_backend.first_not_positive(a)
        want = default.first_not_positive(a)
        if want is None:
            assert got is None, a
        else:
            assert type(got) is float and got == want
            assert np.signbit(got) == np.signbit(want)


def test_first_not_positive_of_other_inputs_goes_to_the_default(rng):
    numba_backend, default = NB.NumbaBackend(), Backend()
    for a in (np.array([3, 0, -1]), np.array([1.0, -2.0], dtype=np.float16),
              np.arange(6.0).reshape(2, 3) + 1.0, np.float64(-3.0)):
        assert numba_backend.first_not_positive(a) == default.first_not_positive(a)
