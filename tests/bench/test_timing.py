"""Sampling: calls per sample calibrated as pyperf does, the garbage collector off while timed."""

from __future__ import annotations

import gc

import pytest

from kernbench.bench import timing
from kernbench.bench.timing import (
    Contestant,
    TimingPolicy,
    calibrate_number,
    sample_interleaved,
)
from tests.bench.helpers import TINY, FakeEvent


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


def test_calibration_starts_from_the_estimate_and_stops_at_a_quarter_sample(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    made = []

    def call():  # 2**-13 s a call: 128 of them fill a 2**-6 s sample
        clock.now += 2.0 ** -13
        made.append(1)

    policy = TimingPolicy(target_sample_s=2.0 ** -6)
    assert calibrate_number(call, policy, start=16) == 128
    assert len(made) == 16 + 32  # 32 calls last a quarter sample: scaled from there
    made.clear()
    _, estimate, number = timing.warm_up(call, policy, False, lambda: None)
    assert number == 128 and estimate == 2.0 ** -13
    assert len(made) == 2 + 16 + 32  # two warm-up calls, then from an eighth of the estimate


def test_collect_and_freeze_sets_the_survivors_aside_and_a_run_hands_them_back(tiny_results):
    # the module's run (conftest) froze after every case and handed everything back at its end
    assert tiny_results["cases"] and gc.get_freeze_count() == 0
    try:
        timing.collect_and_freeze()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_warm_up_of_a_case_needing_resets_fills_a_sample_by_the_estimate(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)

    def call():
        clock.now += 2.0 ** -13

    policy = TimingPolicy(target_sample_s=2.0 ** -6)
    first, estimate, number = timing.warm_up(call, policy, True, lambda: None)
    assert number == 128 and first == estimate == 2.0 ** -13  # no calibration without resets


def test_the_garbage_collector_is_off_while_sampling_and_back_on_after():
    seen = []
    c = Contestant("t", lambda: seen.append(gc.isenabled()), 1, [])
    policy = TimingPolicy(min_samples=3, max_samples=3, min_total_s=0.0)
    assert gc.isenabled()
    sample_interleaved([c], policy, lambda: None, False)
    assert seen == [False, False, False] and gc.isenabled() and len(c.samples) == 3


def test_a_call_raising_while_timed_fails_only_that_target():
    from kernbench.bench.timing import Contestant, sample_interleaved

    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("third call")

    good = Contestant("good", lambda: None, 1, [])
    bad = Contestant("bad", flaky, 1, [])
    sample_interleaved([good, bad], TINY, reset=lambda: None, needs_reset=False)
    assert bad.error and "third call" in bad.error
    assert len(good.samples) == TINY.max_samples


def test_event_clock_reads_device_time_per_call_without_waiting_between_calls():
    from kernbench.bench.timing import EventClock

    log: list[str] = []
    stamps = [10.0, 16.0]  # 6 ms between the two events
    clock = EventClock(lambda: FakeEvent(stamps, log))
    seconds = clock.time_calls(lambda: log.append("call"), 3)
    assert seconds == pytest.approx(2e-3)  # 6 ms over 3 calls
    assert log == ["record", "call", "call", "call", "record", "synchronize"]
    assert clock.timer == "cuda-event"


def test_event_clock_rejects_an_impossible_elapsed_time():
    from kernbench.bench.timing import EventClock

    stamps = [5.0, 4.0]  # the end before the start
    clock = EventClock(lambda: FakeEvent(stamps, []))
    with pytest.raises(RuntimeError, match=r"elapsed time of -1\.0 ms"):
        clock.time_calls(lambda: None, 1)


def test_simulated_event_clock_falls_back_to_the_host_clock():
    from kernbench.bench.timing import EventClock

    # the simulator's events say -1 ms; the simulated clock never asks them
    clock = EventClock(lambda: FakeEvent([0.0, -1.0], []), simulated=True)
    assert clock.time_calls(lambda: None, 2) >= 0.0
    assert clock.timer == "simulator"


def test_sampling_uses_each_contestants_clock():
    from kernbench.bench.timing import Contestant, sample_interleaved

    class FixedClock:
        timer, on_device = "cuda-event", True

        def time_calls(self, fn, number):
            fn()
            return 0.5

    device = Contestant("gpu", lambda: None, 1, [], clock=FixedClock())
    host = Contestant("cpu", lambda: None, 1, [])
    sample_interleaved([device, host], TINY, reset=lambda: None, needs_reset=False)
    assert device.samples == [0.5] * TINY.max_samples
    assert len(host.samples) == TINY.max_samples and max(host.samples) < 0.5
