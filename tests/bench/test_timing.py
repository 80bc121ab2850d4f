"""Sampling: calls per sample calibrated as pyperf does, the garbage collector off while timed."""

from __future__ import annotations

import gc

from kernbench.bench import timing
from kernbench.bench.timing import (
    Contestant,
    TimingPolicy,
    calibrate_number,
    sample_interleaved,
)


class FakeClock:
    """perf_counter that advances only when the timed function runs."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_calls_per_sample_reach_the_target_sample_time(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)

    def call():  # about 122 µs per call (a power of two: exact in binary)
        clock.now += 2.0 ** -13

    policy = TimingPolicy(target_sample_s=2.0 ** -6)
    assert calibrate_number(call, policy) == 128  # 128 such calls: one 15.6 ms sample
    assert calibrate_number(call, TimingPolicy(target_sample_s=2.0 ** -6,
                                               max_calls_per_sample=16)) == 16


def test_warm_up_takes_one_call_per_sample_when_inputs_need_a_reset(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)

    def call():
        clock.now += 1e-5

    first, estimate, number = timing.warm_up(call, TimingPolicy(), True, lambda: None)
    assert number == 1 and first == estimate == 1e-5


def test_the_garbage_collector_is_off_while_sampling_and_back_on_after():
    seen = []
    c = Contestant("t", lambda: seen.append(gc.isenabled()), 1, [])
    policy = TimingPolicy(min_samples=3, max_samples=3, min_total_s=0.0)
    assert gc.isenabled()
    sample_interleaved([c], policy, lambda: None, False)
    assert seen == [False, False, False] and gc.isenabled() and len(c.samples) == 3
