"""Devices: input transfers counted and timed on the device's clock."""

from __future__ import annotations

import numpy as np
import pytest

from tests.bench.helpers import FakeEvent


def _host_device(elapsed_ms: float):
    """A stand-in device over NumPy arrays whose clock says ``elapsed_ms`` for any interval."""
    from kernbench.bench.device import Device
    from kernbench.bench.timing import EventClock

    class Event(FakeEvent):
        def elapsed_time(self, end):
            return elapsed_ms

    return Device(name="cuda", library="numpy", to_device=lambda a: a.copy(),
                  to_host=lambda d: d.copy(), copy_into=lambda dst, src: np.copyto(dst, src),
                  copy_out=lambda src, dst: np.copyto(dst, src), synchronize=lambda: None,
                  clock=EventClock(lambda: Event([0.0, 0.0], [])))


def test_transfers_count_the_inputs_bytes_and_take_the_device_clock():
    from kernbench.bench.device import measure_transfers

    arrays = [np.ones(100, dtype=np.float32), np.ones((3, 5))]
    t = measure_transfers(_host_device(elapsed_ms=4.0), arrays)
    assert t["bytes"] == 400 + 120 and t["arrays"] == 2
    assert t["host_to_device_s"] == t["device_to_host_s"] == pytest.approx(4e-3)
    with pytest.raises(ValueError, match="repeats"):
        measure_transfers(_host_device(1.0), arrays, repeats=0)
