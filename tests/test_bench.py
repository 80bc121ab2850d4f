"""The benchmark runner: schema, report, compare, failure and skip semantics; no heavy timing."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import kernbench as kb
from kernbench.bench import runner as rn
from kernbench.bench.compare import compare_runs
from kernbench.bench.report import write_report
from kernbench.bench.results import ResultsError, load_results, save_results, validate_results
from kernbench.bench.timing import TimingPolicy
from kernbench.bench.workloads import MODEL_SHAPES, WORKLOADS
from kernbench.cli import main

#: Barely any sampling: these tests check what is recorded, not how fast anything is.
TINY = TimingPolicy(min_samples=3, max_samples=3, min_total_s=0.0, target_sample_s=1e-4,
                    case_budget_s=1.0)


def tiny_settings(**overrides) -> rn.RunSettings:
    base = dict(kernels=["adam_step", "entropy"], backends=["numpy", "python"],
                dtypes=["float64"], elements=[1000], peers=False, threads=1, policy=TINY,
                measure_compile=False, measure_bandwidth=False)
    base.update(overrides)
    return rn.RunSettings(**base)


@pytest.fixture(scope="module")
def tiny_results() -> dict:
    return rn.run_benchmarks(tiny_settings(), command="kernbench run (test)")


def _case(results, kernel, target, size_label=None):
    found = [c for c in results["cases"] if c["kernel"] == kernel and c["target"] == target
             and (size_label is None or c["size_label"] == size_label)]
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------- workloads

def test_every_workload_makes_a_case_that_validates_on_numpy():
    for wl in WORKLOADS.values():
        size = wl.sizes("quick")[0] if wl.layout == "model" else wl.shape_for(1000)
        case = wl.make(size, wl.dtypes[0], seed=1)
        value = case.check_value("numpy")
        assert np.all(np.isfinite(value)), wl.name
        assert wl.bytes_moved(case.shape, wl.dtypes[0]) > 0 and wl.flops(case.shape) > 0
        assert wl.sizes("full") == sorted(wl.sizes("full"), key=wl.elements)


def test_workloads_cover_the_issue_and_the_model_is_transformer_shaped():
    wanted = {"sgd_step", "adam_step", "adamw_step", "clip_grad_norm", "entropy",
              "cross_entropy", "kl_divergence", "js_divergence", "mutual_information",
              "conditional_entropy", "softmax", "log_softmax", "cross_entropy_logits",
              "perplexity", "gaussian_kl", "gaussian_entropy", "cosine_schedule", "adam_model"}
    assert wanted <= set(WORKLOADS)
    assert 140 <= len(MODEL_SHAPES) <= 160
    assert 9e6 <= WORKLOADS["adam_model"].elements(WORKLOADS["adam_model"].sizes()[0]) <= 12e6
    assert (64, 50257) in WORKLOADS["cross_entropy_logits"].sizes("full")


def test_same_seed_same_inputs():
    a = WORKLOADS["kl_divergence"].make(1000, "float32", seed=3)
    b = WORKLOADS["kl_divergence"].make(1000, "float32", seed=3)
    np.testing.assert_array_equal(a.inputs["p"], b.inputs["p"])


def test_clip_case_resets_its_grads():
    case = WORKLOADS["clip_grad_norm"].make(1000, "float64", seed=0)
    before = case.work[0].copy()
    case.call("numpy")()
    assert not np.array_equal(case.work[0], before)
    case.reset()
    np.testing.assert_array_equal(case.work[0], before)


# ---------------------------------------------------------------------------- schema

def test_tiny_run_validates_and_round_trips(tiny_results, tmp_path):
    validate_results(tiny_results)
    assert {c["status"] for c in tiny_results["cases"]} == {"ok"}
    path = save_results(tiny_results, tmp_path / "r.json")
    assert load_results(path)["cases"] == json.loads(path.read_text())["cases"]
    ok = _case(tiny_results, "adam_step", "numpy")
    assert len(ok["samples_s"]) == 3 and ok["median_s"] > 0 and ok["gbps"] > 0


@pytest.mark.parametrize("breakage", [
    lambda r: r.pop("schema_version"),
    lambda r: r.update(schema_version=99),
    lambda r: r["cases"][0].update(status="fine"),
    lambda r: r["cases"][0].pop("samples_s"),
    lambda r: r["cases"][0].update(samples_s=[]),
    lambda r: r["cases"].append(copy.deepcopy(r["cases"][0])),
    lambda r: r["cases"][0].update(status="failed", reason=None),
    lambda r: r["cases"][0].update(shape=[0]),
])
def test_schema_rejects_a_broken_file(tiny_results, tmp_path, breakage):
    broken = copy.deepcopy(tiny_results)
    breakage(broken)
    with pytest.raises(ResultsError):
        validate_results(broken)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert main(["report", str(path), "--out", str(tmp_path / "rep")]) == 2


# ---------------------------------------------------------------------------- report, compare

def test_report_renders_tables_and_plots(tiny_results, tmp_path):
    readme = write_report([tiny_results], tmp_path / "report", sources=["tiny.json"])
    text = readme.read_text()
    assert "Loop -> vector -> compiled" in text and "| adam_step |" in text
    pngs = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert pngs == ["bandwidth_float64.png", "speedup_heatmap_float64.png",
                    "time_vs_size_float64.png"]
    for name in pngs:
        assert text.count(f"({name})") == 1
        assert (tmp_path / "report" / name).stat().st_size > 1000


def test_cli_run_then_report(tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["run", "--sizes", "1000", "--kernels", "entropy", "--backends", "numpy",
                 "--dtypes", "float32", "--no-peers", "--no-compile", "--no-bandwidth",
                 "--out", str(out)]) == 0
    results = load_results(out)
    assert results["command"].startswith("kernbench run --sizes 1000")
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "README.md").exists()


def test_compare_exit_codes(tiny_results, tmp_path):
    a = tmp_path / "a.json"
    save_results(tiny_results, a)
    assert main(["compare", str(a), str(a)]) == 0
    slower = copy.deepcopy(tiny_results)
    case = slower["cases"][0]
    case["samples_s"] = [s * 2 for s in case["samples_s"]]
    for field in ("median_s", "q1_s", "q3_s", "iqr_s", "min_s"):
        case[field] *= 2
    case["noisy"] = False
    b = tmp_path / "b.json"
    save_results(slower, b)
    assert main(["compare", str(a), str(b)]) == 1
    assert main(["compare", str(a), str(b), "--threshold", "3"]) == 0
    assert compare_runs(tiny_results, tiny_results) == 0


# ---------------------------------------------------------------------------- failure semantics

def test_a_raising_kernel_is_recorded_as_failed_and_the_run_goes_on(monkeypatch):
    backend = kb.get_backend("python")

    def broken(*args, **kwargs):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(backend, "entropy_rows", broken)
    results = rn.run_benchmarks(tiny_settings())
    failed = _case(results, "entropy", "python")
    assert failed["status"] == "failed" and "kernel exploded" in failed["reason"]
    assert _case(results, "entropy", "numpy")["status"] == "ok"
    assert _case(results, "adam_step", "python")["status"] == "ok"
    validate_results(results)


def test_a_wrong_result_is_recorded_as_wrong_result(monkeypatch):
    backend = kb.get_backend("python")
    honest = backend.entropy_rows

    def off_by_a_bit(p):
        values, status = honest(p)
        return values * 1.001, status

    monkeypatch.setattr(backend, "entropy_rows", off_by_a_bit)
    results = rn.run_benchmarks(tiny_settings(kernels=["entropy"]))
    wrong = _case(results, "entropy", "python")
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
    small = _case(results, "adam_step", "python", "1000")
    big = _case(results, "adam_step", "python", "10000000")
    assert small["status"] == "ok"
    assert big["status"] == "skipped" and "budget" in big["reason"]
    assert _case(results, "adam_step", "numpy", "10000000")["status"] == "ok"
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


def test_compile_probe_failure_is_recorded(monkeypatch):
    from kernbench.bench import compile_probe

    def broken(*args, **kwargs):
        raise RuntimeError("compile probe exited 1: boom")

    monkeypatch.setattr(compile_probe, "_run_fresh", broken)
    records = compile_probe.measure_compile("numba", ["entropy"], ["float64"])
    assert [(r["kernel"], r["status"]) for r in records] == [("entropy", "failed")]
    assert "boom" in records[0]["reason"]


def test_compile_probe_sums_first_minus_steady_over_sizes(monkeypatch):
    from kernbench.bench import compile_probe

    def fake(backend, kernels, dtypes, elements, cache_dir, timeout_s):
        first = 2.0 if "cold" not in fake.__dict__ else 0.1
        fake.cold = True
        return {"import_s": 0.5, "runtime_init_s": 0.2, "records": [
            {"kernel": "entropy", "dtype": "float64", "shape": [1000], "first_call_s": first,
             "steady_s": 0.01},
            {"kernel": "entropy", "dtype": "float64", "shape": [10**6], "first_call_s": first,
             "steady_s": 0.02}]}

    monkeypatch.setattr(compile_probe, "_run_fresh", fake)
    (rec,) = compile_probe.measure_compile("numba", ["entropy"], ["float64"])
    assert rec["status"] == "ok"
    assert rec["compile_s"] == pytest.approx(2.0 - 0.01 + 2.0 - 0.02)
    assert rec["cache_load_s"] == pytest.approx(0.1 - 0.01 + 0.1 - 0.02)


def test_best_bandwidth_keeps_the_best_of_each_figure():
    from kernbench.bench.probe import best_bandwidth

    def m(copy, triad):
        return {"repeats": 3, "one_thread": {"threads": 1, "copy_gbps": copy, "triad_gbps": triad},
                "all_threads": {"threads": 2, "copy_gbps": copy, "triad_gbps": triad}}

    best = best_bandwidth([m(10.0, 30.0), m(20.0, 25.0)])
    assert best["all_threads"] == {"threads": 2, "copy_gbps": 20.0, "triad_gbps": 30.0}
    assert len(best["measurements"]) == 2


def test_a_one_size_workload_is_predicted_from_its_proxy():
    budget = rn.CallBudget(python_budget_s=1.0, call_budget_s=1.0)
    budget.record("adam_step", "float32", "dask", 10_000, 0.07)
    assert budget.skip_reason("adam_model", "float32", "dask", 10**7) is None  # no proxy given
    reason = budget.skip_reason("adam_model", "float32", "dask", 10**7, proxy="adam_step")
    assert "predicted 70 s" in reason
