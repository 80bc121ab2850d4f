"""Cases: prepared calls, and inputs a call mutates restored between repeats."""

from __future__ import annotations

import numpy as np
import pytest

from kernbench.bench import timing
from kernbench.bench.cases import CLIP_COPY_BYTES
from kernbench.bench.timing import Contestant, TimingPolicy, time_sample, warm_up
from kernbench.bench.workloads import WORKLOADS


def test_clip_case_resets_its_grads():
    case = WORKLOADS["clip_grad_norm"].make(1000, "float64", seed=0)
    before = case.copies[0][0].copy()
    case.call("numpy")()
    assert not np.array_equal(case.copies[0][0], before)
    case.reset()
    np.testing.assert_array_equal(case.copies[0][0], before)


@pytest.mark.parametrize("target", ["numpy", "numba"])
def test_each_clip_between_two_resets_scales_a_pristine_copy_of_its_own(target):
    """A sample of several clips must time the same work each call: every call after a reset
    finds unclipped grads (the same norm) and scales them, its own copy each time."""
    case = WORKLOADS["clip_grad_norm"].make(1000, "float64", seed=0)
    k = case.calls_per_reset
    assert k > 1 and k * 8000 <= CLIP_COPY_BYTES
    fn = case.call(target)
    pristine = case.pristine[0].copy()
    for _ in range(2):  # and again after a reset
        norms = [float(fn()) for _ in range(k)]
        assert norms == [norms[0]] * k and norms[0] > case.max_norm
        for work in case.copies:
            assert not np.array_equal(work[0], pristine)
        case.reset()
        for work in case.copies:
            np.testing.assert_array_equal(work[0], pristine)


def test_a_clip_reset_restores_the_copies_scaled_since_the_last_one_and_no_others():
    """A sample of one call (asv's) must find its copy just written, not evicted by restores of
    copies no call touched; a calibration that wrapped past the last copy restores them all."""
    case = WORKLOADS["clip_grad_norm"].make(1000, "float64", seed=0)
    k = case.calls_per_reset
    fn = case.call("numpy")
    pristine = case.pristine[0]
    marker = np.full_like(pristine, 7.0)
    fn(), fn()  # copies 0 and 1
    np.copyto(case.copies[2][0], marker)  # untouched by a call: a reset must leave it alone
    case.reset()
    for i in (0, 1):
        np.testing.assert_array_equal(case.copies[i][0], pristine)
    np.testing.assert_array_equal(case.copies[2][0], marker)
    for _ in range(k + 1):  # past the last copy: every copy was scaled
        fn()
    case.reset()
    for work in case.copies:
        np.testing.assert_array_equal(work[0], pristine)


def test_a_large_clip_case_keeps_one_copy_and_one_call_per_sample():
    case = WORKLOADS["clip_grad_norm"].make(10**6, "float64", seed=0)
    assert case.calls_per_reset == 1 and len(case.copies) == 1


def test_a_sample_of_a_case_needing_resets_runs_over_its_copies_between_resets(monkeypatch):
    """A sample lasts target_sample_s whatever the copies: runs of at most calls_per_reset
    calls, each after a reset that is not timed, together one sample."""
    clock = {"now": 0.0}
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["now"])
    policy = TimingPolicy(target_sample_s=1.0)
    events = []

    def call():
        clock["now"] += 0.125
        events.append("call")

    def reset():
        clock["now"] += 10.0  # a reset's time never reaches the sample
        events.append("reset")

    _, estimate, number = warm_up(call, policy, True, reset)
    assert estimate == 0.125 and number == 8  # eight calls fill the one-second sample
    events.clear()
    c = Contestant("t", call, number, [])
    assert time_sample(c, reset, True, calls_per_reset=3) == 0.125
    assert events == ["reset", "call", "call", "call"] * 2 + ["reset", "call", "call"]
    events.clear()
    assert time_sample(c, reset, False) == 0.125 and "reset" not in events


def test_a_clip_sample_scales_a_pristine_copy_with_every_call():
    case = WORKLOADS["clip_grad_norm"].make(1000, "float64", seed=0)
    fn = case.call("numpy")
    norms = []
    c = Contestant("numpy", lambda: norms.append(float(fn())), 2 * case.calls_per_reset + 1, [])
    time_sample(c, case.reset, True, case.calls_per_reset)
    assert len(norms) == c.number and norms == [norms[0]] * c.number
    assert norms[0] > case.max_norm  # every call found unclipped grads
