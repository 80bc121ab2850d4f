"""Shared fixtures: the backends under test and seeded random generators.

The ``backend`` fixture runs a test on every in-process backend usable here (python, numpy,
numba-plain, numba). Modules that set ``ALL_BACKENDS = True`` also run on the backends that compute
elsewhere (cuda, including its simulator under NUMBA_ENABLE_CUDASIM=1, and dask) when those
are available: their per-call cost makes the full suite too slow for them.
"""

from __future__ import annotations

import numpy as np
import pytest

import kernbench as kb

IN_PROCESS = ("python", "numpy", "numba-plain", "numba")
AVAILABLE = kb.available_backends()


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        if getattr(metafunc.module, "ALL_BACKENDS", False):
            names = AVAILABLE
        else:
            names = [b for b in AVAILABLE if b in IN_PROCESS]
        metafunc.parametrize("backend", names)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
