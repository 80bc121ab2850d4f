"""Shared pieces of the runner's tests: barely any sampling, a tiny run's settings, a case
looked up in results, a run dressed as measured on a GPU, a CUDA event that replays stamps."""

from __future__ import annotations

import copy

from kernbench.bench import runner as rn
from kernbench.bench.timing import TimingPolicy

#: Barely any sampling: these tests check what is recorded, not how fast anything is.
TINY = TimingPolicy(min_samples=3, max_samples=3, min_total_s=0.0, target_sample_s=1e-4,
                    case_budget_s=1.0, cold_samples=3)


def tiny_settings(**overrides) -> rn.RunSettings:
    base = dict(kernels=["adam_step", "entropy"], backends=["numpy", "python"],
                dtypes=["float64"], elements=[1000], peers=False, threads=1, policy=TINY,
                measure_compile=False, measure_bandwidth=False)
    base.update(overrides)
    return rn.RunSettings(**base)


def case_of(results, kernel, target, size_label=None):
    """The one case of ``results`` for a kernel and target (and size, when given)."""
    found = [c for c in results["cases"] if c["kernel"] == kernel and c["target"] == target
             and (size_label is None or c["size_label"] == size_label)]
    assert len(found) == 1, found
    return found[0]


GPU_BLOCK = {"available": True, "name": "NVIDIA H200", "compute_capability": [9, 0],
             "multiprocessors": 132, "memory_bytes": 150 * 2**30, "driver_version": "570.1",
             "driver_cuda_version": "12.8", "toolkit_cuda_version": "12.9",
             "nominal_bandwidth_gbps": 4800.0,
             "copy_bandwidth": {"array_bytes": 2**30, "repeats": 10, "statistic": "best of 10",
                                "memcpy_gbps": 3900.0, "kernel_gbps": 4000.0,
                                "best_gbps": 4000.0,
                                "kernel_launch": {"blocks": 1056, "threads_per_block": 256}}}


def as_gpu_run(results: dict) -> dict:
    """The tiny run as if its numba column had been measured on a GPU."""
    run = copy.deepcopy(results)
    run["machine"]["gpu"] = copy.deepcopy(GPU_BLOCK)
    for case in run["cases"]:
        if case["target"] == "python":
            case.update(target="cuda", timer="cuda-event", inputs="device",
                        transfer={"bytes": 16000, "arrays": 2, "host_to_device_s": 2e-6,
                                  "device_to_host_s": 3e-6, "library": "numba",
                                  "timer": "cuda-event", "statistic": "best of 3"})
    return run


class FakeEvent:
    """A CUDA event whose elapsed time is the difference of given stamps (milliseconds)."""

    def __init__(self, stamps: list[float], log: list[str]):
        self.stamps, self.log, self.at = stamps, log, None

    def record(self):
        self.at = self.stamps.pop(0)
        self.log.append("record")

    def synchronize(self):
        self.log.append("synchronize")

    def elapsed_time(self, end):
        return end.at - self.at
