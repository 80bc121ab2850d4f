"""Cases: prepared calls, and inputs a call mutates restored between repeats."""

from __future__ import annotations

import numpy as np

from kernbench.bench.workloads import WORKLOADS


def test_clip_case_resets_its_grads():
    case = WORKLOADS["clip_grad_norm"].make(1000, "float64", seed=0)
    before = case.work[0].copy()
    case.call("numpy")()
    assert not np.array_equal(case.work[0], before)
    case.reset()
    np.testing.assert_array_equal(case.work[0], before)
