"""The machine probe: bandwidth figures, the GPU as the driver describes it, or why none."""

from __future__ import annotations

import pytest


def test_best_bandwidth_keeps_the_best_of_each_figure():
    from kernbench.bench.probe import best_bandwidth

    def m(copy, triad):
        return {"repeats": 3, "one_thread": {"threads": 1, "copy_gbps": copy, "triad_gbps": triad},
                "all_threads": {"threads": 2, "copy_gbps": copy, "triad_gbps": triad}}

    best = best_bandwidth([m(10.0, 30.0), m(20.0, 25.0)])
    assert best["all_threads"] == {"threads": 2, "copy_gbps": 20.0, "triad_gbps": 30.0}
    assert len(best["measurements"]) == 2


def test_probe_without_a_gpu_records_why(tiny_results):
    gpu = tiny_results["machine"]["gpu"]
    if gpu["available"]:
        pytest.skip("a GPU is visible here")
    assert isinstance(gpu["reason"], str) and gpu["reason"]
    assert set(gpu) == {"available", "reason"}


def test_describe_gpu_reads_the_device_attributes():
    from types import SimpleNamespace

    from kernbench.bench.probe import describe_gpu

    device = SimpleNamespace(name=b"NVIDIA H200", compute_capability=(9, 0),
                             MULTIPROCESSOR_COUNT=132, MEMORY_CLOCK_RATE=2_619_000,
                             GLOBAL_MEMORY_BUS_WIDTH=6144)
    fake = SimpleNamespace(
        get_current_device=lambda: device,
        current_context=lambda: SimpleNamespace(get_memory_info=lambda: (10, 150 * 2**30)),
        cudadrv=SimpleNamespace(driver=SimpleNamespace(
            driver=SimpleNamespace(get_version=lambda: (12, 8)))),
        runtime=SimpleNamespace(get_version=lambda: (12, 9)))
    info = describe_gpu(fake)
    assert info["available"] is True and info["name"] == "NVIDIA H200"
    assert info["compute_capability"] == [9, 0] and info["multiprocessors"] == 132
    assert info["memory_bytes"] == 150 * 2**30
    assert (info["driver_cuda_version"], info["toolkit_cuda_version"]) == ("12.8", "12.9")
    assert info["nominal_bandwidth_gbps"] == pytest.approx(2 * 2.619e9 * 768 / 1e9)
    # an attribute the driver does not report is left out, not an error
    del device.MEMORY_CLOCK_RATE
    assert describe_gpu(fake)["nominal_bandwidth_gbps"] is None


def test_copy_bandwidth_counts_read_and_write_of_the_best_repeat():
    from kernbench.bench.probe import best_copy_gbps

    times = iter([0.004, 0.002, 0.003])

    class Clock:
        def time_calls(self, fn, number):
            fn()
            return next(times)

    calls = []
    gbps = best_copy_gbps(Clock(), lambda: calls.append(1), nbytes=10**9, repeats=3)
    assert gbps == pytest.approx(2 * 10**9 / 0.002 / 1e9)
    assert len(calls) == 4  # one untimed copy first
    with pytest.raises(ValueError, match="repeats"):
        best_copy_gbps(Clock(), lambda: None, nbytes=8, repeats=0)
