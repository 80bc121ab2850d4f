"""The runner's tests share one tiny run per module (two kernels, numpy and python, 1000
elements, float64, three samples a case)."""

from __future__ import annotations

import pytest

from kernbench.bench import runner as rn
from tests.bench.helpers import tiny_settings


@pytest.fixture(scope="module")
def tiny_results() -> dict:
    return rn.run_benchmarks(tiny_settings(), command="kernbench run (test)")
