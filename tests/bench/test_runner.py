"""The runner's failure and skip semantics: failed, wrong-result, unavailable, skipped by budget."""

from __future__ import annotations

import numpy as np

import kernbench as kb
from kernbench.bench import runner as rn
from kernbench.bench.results import validate_results
from tests.bench.helpers import case_of, tiny_settings


def test_a_raising_kernel_is_recorded_as_failed_and_the_run_goes_on(monkeypatch):
    backend = kb.get_backend("python")

    def broken(*args, **kwargs):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(backend, "entropy_rows", broken)
    results = rn.run_benchmarks(tiny_settings())
    failed = case_of(results, "entropy", "python")
    assert failed["status"] == "failed" and "kernel exploded" in failed["reason"]
    assert case_of(results, "entropy", "numpy")["status"] == "ok"
    assert case_of(results, "adam_step", "python")["status"] == "ok"
    validate_results(results)


def test_a_wrong_result_is_recorded_as_wrong_result(monkeypatch):
    backend = kb.get_backend("python")
    honest = backend.entropy_rows

    def off_by_a_bit(p):
        values, status = honest(p)
        return values * 1.001, status

    monkeypatch.setattr(backend, "entropy_rows", off_by_a_bit)
    results = rn.run_benchmarks(tiny_settings(kernels=["entropy"]))
    wrong = case_of(results, "entropy", "python")
    assert wrong["status"] == "wrong-result" and "rtol" in wrong["reason"]
    validate_results(results)


def test_a_missing_peer_library_is_unavailable(monkeypatch):
    from kernbench.bench import peers

    monkeypatch.setattr(peers, "library_available", lambda name: name not in ("torch", "scipy"))
    results = rn.run_benchmarks(tiny_settings(kernels=["entropy"], backends=["numpy"],
                                              peers=True))
    peer_cases = [c for c in results["cases"] if c["target_kind"] == "peer"]
    assert peer_cases and {c["status"] for c in peer_cases} == {"unavailable"}
    assert {c["reason"] for c in peer_cases} == {"torch is not installed",
                                                 "scipy is not installed"}
    validate_results(results)


def test_python_sizes_past_the_budget_are_skipped_with_the_reason():
    results = rn.run_benchmarks(tiny_settings(kernels=["adam_step"], elements=[1000, 10**7],
                                              python_budget_s=0.05))
    small = case_of(results, "adam_step", "python", "1000")
    big = case_of(results, "adam_step", "python", "10000000")
    assert small["status"] == "ok"
    assert big["status"] == "skipped" and "budget" in big["reason"]
    assert case_of(results, "adam_step", "numpy", "10000000")["status"] == "ok"
    validate_results(results)


def test_budget_predicts_from_cost_per_element():
    budget = rn.CallBudget(python_budget_s=1.0, call_budget_s=1.0)
    assert budget.skip_reason("k", "float64", "python", 10**9) is None  # nothing measured: run
    budget.record("k", "float64", "python", 1000, 1e-3)  # 1 us per element
    assert budget.skip_reason("k", "float64", "python", 10**5) is None  # 0.1 s predicted
    assert "predicted 10 s" in budget.skip_reason("k", "float64", "python", 10**7)


def test_budget_separates_overhead_from_cost_per_element():
    budget = rn.CallBudget(python_budget_s=0.01, call_budget_s=1.0)
    # a cluster-like backend: 50 ms of overhead per call, 10 ns per element
    for n in (1000, 10_000):
        budget.record("k", "float32", "dask", n, 0.05 + 1e-8 * n)
    assert budget.skip_reason("k", "float32", "dask", 10**7) is None  # 0.15 s predicted
    assert "budget 1 s" in budget.skip_reason("k", "float32", "dask", 10**9)
    budget.record("k", "float32", "numpy", 1000, 100.0)
    assert budget.skip_reason("k", "float32", "numpy", 10**9) is None  # the reference runs


def test_a_one_size_workload_is_predicted_from_its_proxy():
    budget = rn.CallBudget(python_budget_s=1.0, call_budget_s=1.0)
    budget.record("adam_step", "float32", "dask", 10_000, 0.07)
    assert budget.skip_reason("adam_model", "float32", "dask", 10**7) is None  # no proxy given
    reason = budget.skip_reason("adam_model", "float32", "dask", 10**7, proxy="adam_step")
    assert "predicted 70 s" in reason


def test_compare_values_checks_inf_and_nan_positions():
    ok, _, _ = rn.compare_values([1.0, np.inf], [1.0 + 1e-12, np.inf], 1e-7, 1e-9)
    assert ok
    ok, _, why = rn.compare_values([1.0, np.nan], [1.0, 2.0], 1e-7, 1e-9)
    assert not ok and "NaN" in why


def test_a_target_returning_nothing_is_failed():
    class Silent:
        def check_value(self, target):
            return None

    status, reason, _ = rn._validate(Silent(), "numba", "backend", "float64", np.ones(3), None)
    assert (status, reason) == ("failed", "returned nothing")


def test_cluster_backends_are_timed_in_a_pass_of_their_own(monkeypatch):
    """No target is timed while a cluster backend's processes are up: every case first runs
    without the cluster backends, then the cluster backends alone, and each case's records
    stay together in the results, in the order of the targets."""
    calls, sample_s = [], []

    def fake_run_case(wl, shape, dtype, settings, budget, llc, flusher, workers, only=None,
                      exclude=()):
        targets = [b for b in settings.backends
                   if b not in exclude and (only is None or b in only)]
        calls.append((wl.name, tuple(targets)))
        sample_s.append(settings.policy.target_sample_s)
        return [{"kernel": wl.name, "dtype": dtype, "target": t, "status": "ok"}
                for t in targets]

    monkeypatch.setattr(rn, "run_case", fake_run_case)
    monkeypatch.setattr(rn, "backend_problem", lambda name: "not here")  # no cluster to ask
    settings = tiny_settings(backends=["numpy", "python", "dask"])
    results = rn.run_benchmarks(settings)
    kernels = settings.kernels
    assert calls == ([(k, ("numpy", "python")) for k in kernels]
                     + [(k, ("dask",)) for k in kernels])
    # the cluster pass samples longer (TimingPolicy.for_cluster); the settings record both
    policy = settings.policy
    assert sample_s == ([policy.target_sample_s] * len(kernels)
                        + [policy.cluster_sample_s] * len(kernels))
    assert policy.cluster_sample_s > policy.target_sample_s
    assert results["settings"]["timing"]["cluster_sample_s"] == policy.cluster_sample_s
    assert [(c["kernel"], c["target"]) for c in results["cases"]] == [
        (k, t) for k in kernels for t in ("numpy", "python", "dask")]


def test_without_a_cluster_backend_there_is_one_pass(monkeypatch):
    calls = []

    def fake_run_case(wl, shape, dtype, settings, budget, llc, flusher, workers, only=None,
                      exclude=()):
        calls.append((wl.name, only, tuple(exclude)))
        return []

    monkeypatch.setattr(rn, "run_case", fake_run_case)
    rn.run_benchmarks(tiny_settings())
    assert calls == [(k, None, ()) for k in tiny_settings().kernels]


def test_a_float32_peer_summing_many_elements_gets_a_tolerance_that_grows_as_sqrt_n():
    """Peers are held to computing the same quantity, not to the contract's accuracy: a float32
    peer's full reduction (torch's norm accumulates in float32) may be off by about sqrt(n)
    epsilons; backends and float64 peers keep the contract's tolerances at every size."""
    from kernbench.backends.interface import PEER_F32_TOLERANCE, TOLERANCES
    assert rn.tolerance("float32", "backend", 10**7) == TOLERANCES["float32"]
    assert rn.tolerance("float64", "peer", 10**7) == TOLERANCES["float64"]
    assert rn.tolerance("float32", "peer", 1000) == PEER_F32_TOLERANCE
    rtol, atol = rn.tolerance("float32", "peer", 10**7)
    assert 7e-4 < rtol < 8e-4 and atol == PEER_F32_TOLERANCE[1]
    small = rn.tolerance("float32", "peer", 10**6)[0]
    assert PEER_F32_TOLERANCE[0] < small < rtol


def test_only_the_full_reductions_are_marked_as_summing_every_element():
    from kernbench.bench.workloads import WORKLOADS
    marked = {name for name, wl in WORKLOADS.items() if wl.reduces_all}
    assert marked == {"clip_grad_norm", "entropy", "cross_entropy", "kl_divergence",
                      "js_divergence", "mutual_information", "conditional_entropy"}
