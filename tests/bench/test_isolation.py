"""Fair contestants: no process-wide OpenMP setting; torch's host peers in their own process."""

from __future__ import annotations

import os

import pytest

from kernbench.bench import peers as pr
from kernbench.bench import runner as rn
from kernbench.bench.isolation import RemoteClock, isolation_group
from kernbench.bench.results import validate_results
from kernbench.bench.timing import TimingPolicy

TINY = TimingPolicy(min_samples=3, max_samples=3, min_total_s=0.0, target_sample_s=1e-4,
                    case_budget_s=1.0, cold_samples=2)


def test_only_torch_host_peers_are_isolated():
    assert isolation_group("torch.fused", "peer") == "torch"
    assert isolation_group("torch.entr", "peer") == "torch"
    assert isolation_group("torch.cuda.fused", "peer") is None  # beside the cuda backend
    assert isolation_group("scipy.stats", "peer") is None
    assert isolation_group("numba", "backend") is None
    assert isolation_group("numpy", "backend") is None


def test_the_runner_sets_no_openmp_policy_for_its_process(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    settings = rn.RunSettings(kernels=["entropy"], backends=["numpy"], dtypes=["float64"],
                              elements=[1000], peers=False, threads=1, policy=TINY,
                              measure_compile=False, measure_bandwidth=False)
    results = rn.run_benchmarks(settings)
    assert "OMP_WAIT_POLICY" not in os.environ
    assert results["machine"]["environment"]["OMP_WAIT_POLICY"] is None
    assert not hasattr(rn, "PROCESS_ENVIRONMENT")


class _FakeWorker:
    def __init__(self):
        self.requests = []

    def sample(self, name, number, count):
        self.requests.append((name, number, count))
        return [float(i) for i in range(count)]


def test_remote_samples_come_in_batches_and_cold_ones_singly():
    worker = _FakeWorker()
    clock = RemoteClock(worker, "torch.fused", batch=3)
    assert [clock.time_calls(None, 10) for _ in range(4)] == [0.0, 1.0, 2.0, 0.0]
    assert worker.requests == [("torch.fused", 10, 3), ("torch.fused", 10, 3)]
    clock.one_at_a_time()
    assert clock.time_calls(None, 1) == 0.0 and worker.requests[-1] == ("torch.fused", 1, 1)


@pytest.mark.skipif(not pr.library_available("torch"), reason="torch is not installed")
def test_torch_peers_run_validated_in_a_worker_and_records_say_where(monkeypatch):
    for name in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)  # as other commands of this process left it
    settings = rn.RunSettings(kernels=["adam_step", "entropy"], backends=["numpy"],
                              dtypes=["float32"], elements=[1000], peers=True, threads=1,
                              policy=TINY, measure_compile=False, measure_bandwidth=False)
    results = validate_results(rn.run_benchmarks(settings))
    by_target = {(c["kernel"], c["target"]): c for c in results["cases"]}
    fused = by_target[("adam_step", "torch.fused")]
    assert fused["status"] == "ok" and fused["process"] == "torch"
    assert fused["max_abs_err"] is not None  # validated against numpy, in the worker
    assert len(fused["samples_s"]) == 3 and "cold" in fused  # adam 1e3 fits any cache
    assert by_target[("entropy", "torch.entr")]["process"] == "torch"
    assert by_target[("entropy", "scipy.stats")]["process"] == "main"
    assert by_target[("adam_step", "numpy")]["process"] == "main"
    assert fused["contestant_settings"]["torch_threads"] == 1
    contestants = results["machine"]["contestant_settings"]
    assert contestants["torch"]["torch_threads"] == 1
    assert contestants["torch"]["pid"] != contestants["main"]["pid"] == os.getpid()
    assert "OMP_WAIT_POLICY" not in contestants["torch"]["environment"]


@pytest.mark.skipif(not pr.library_available("torch"), reason="torch is not installed")
def test_without_isolation_torch_peers_run_in_the_runners_process():
    settings = rn.RunSettings(kernels=["entropy"], backends=["numpy"], dtypes=["float64"],
                              elements=[1000], peers=True, threads=1, policy=TINY,
                              measure_compile=False, measure_bandwidth=False, isolate=False)
    results = rn.run_benchmarks(settings)
    local = {c["target"]: c for c in results["cases"]}
    assert local["torch.entr"]["process"] == "main" and local["torch.entr"]["status"] == "ok"
    assert set(results["machine"]["contestant_settings"]) == {"main"}


@pytest.mark.skipif(not pr.library_available("torch"), reason="torch is not installed")
def test_the_worker_runs_under_the_environment_of_the_runs_start(monkeypatch):
    from kernbench.bench.isolation import Workers

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    workers = Workers(threads=1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what starting a dask cluster does here
    try:
        settings = workers.get("torch").settings
    finally:
        workers.close()
    assert "OMP_NUM_THREADS" not in settings["environment"]
