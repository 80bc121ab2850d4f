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
                    case_budget_s=1.0, cold_samples=3)


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
    if "llc_bytes" in tiny_results["machine"]["caches"]:
        # 1000 elements fit in any last-level cache: no bandwidth figure, no roofline
        assert pngs == ["headline_speedup.png", "speedup_heatmap_float64.png",
                        "time_vs_size_float64.png"]
        assert "No case of these results has a working set past the last-level cache" in text
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
    # a real run's samples, doubled: with three samples a side no rank test can tell
    case["samples_s"] = [s * 2 for s in case["samples_s"]]
    for field in ("median_s", "q1_s", "q3_s", "iqr_s", "min_s"):
        case[field] *= 2
    b = tmp_path / "b.json"
    save_results(slower, b)
    assert main(["compare", str(a), str(b)]) == 0
    # eight samples a side, all of B past all of A: significant and 2x
    base = copy.deepcopy(tiny_results)
    base["cases"][0]["samples_s"] = [1e-3 * (1 + i / 100) for i in range(8)]
    case["samples_s"] = [2e-3 * (1 + i / 100) for i in range(8)]
    save_results(base, a)
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


# ---------------------------------------------------------------------------- device timing

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


def test_cuda_peers_stand_beside_the_cuda_backend_only(monkeypatch):
    from kernbench.bench import peers

    assert peers.peer_device("torch.cuda.fused") == "cuda"
    assert peers.peer_device("torch.fused") is None
    assert "torch.cuda.fused" in WORKLOADS["adam_step"].peers
    assert "torch.cuda.cross_entropy" in WORKLOADS["cross_entropy_logits"].peers
    monkeypatch.setattr(peers, "_torch_cuda_problem", lambda: "no CUDA device here")
    cpu_only = rn.run_benchmarks(tiny_settings(kernels=["adam_step"], backends=["numpy"],
                                               peers=True))
    assert not [c for c in cpu_only["cases"] if c["target"].startswith("torch.cuda.")]
    # with the cuda backend asked for, its peers are recorded, unavailable, never an error
    with_cuda = rn.run_benchmarks(tiny_settings(kernels=["adam_step"],
                                                backends=["numpy", "cuda"], peers=True))
    fused = _case(with_cuda, "adam_step", "torch.cuda.fused")
    if peers.library_available("torch"):
        assert (fused["status"], fused["reason"]) == ("unavailable", "no CUDA device here")
    else:
        assert (fused["status"], fused["reason"]) == ("unavailable", "torch is not installed")
    validate_results(with_cuda)


def test_torch_without_cuda_says_so():
    from kernbench.bench import peers

    if not peers.library_available("torch"):
        pytest.skip("torch is not installed")
    if peers.torch().cuda.is_available():
        pytest.skip("torch has a CUDA device here")
    assert peers.peer_problem("torch.cuda.fused") == (
        "torch has no CUDA device here (torch.cuda.is_available() is False)")
    assert peers.peer_problem("torch.fused") is None


def test_gpu_preset_reaches_1e8_and_a_training_batch_of_logits():
    from kernbench.bench.workloads import GPT2_BATCH_LOGITS

    assert (100_000_000,) in WORKLOADS["adam_step"].sizes("gpu")
    assert GPT2_BATCH_LOGITS in WORKLOADS["cross_entropy_logits"].sizes("gpu")
    assert GPT2_BATCH_LOGITS not in WORKLOADS["cross_entropy_logits"].sizes("full")
    assert not [s for s in WORKLOADS["entropy"].sizes("gpu") if len(s) != 1]


# ---------------------------------------------------------------------------- the GPU probe

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


# ---------------------------------------------------------------------------- schema v2

GPU_BLOCK = {"available": True, "name": "NVIDIA H200", "compute_capability": [9, 0],
             "multiprocessors": 132, "memory_bytes": 150 * 2**30, "driver_version": "570.1",
             "driver_cuda_version": "12.8", "toolkit_cuda_version": "12.9",
             "nominal_bandwidth_gbps": 4800.0,
             "copy_bandwidth": {"array_bytes": 2**30, "repeats": 10, "statistic": "best of 10",
                                "memcpy_gbps": 3900.0, "kernel_gbps": 4000.0,
                                "best_gbps": 4000.0,
                                "kernel_launch": {"blocks": 1056, "threads_per_block": 256}}}


def _as_gpu_run(results: dict) -> dict:
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


def test_schema_reads_version_1_files(tiny_results):
    old = copy.deepcopy(tiny_results)
    old["schema_version"] = 1
    old["machine"].pop("gpu")
    for case in old["cases"]:
        case.pop("timer", None)
    assert validate_results(old) is old


@pytest.mark.parametrize("breakage", [
    lambda r: r["machine"]["gpu"].pop("name"),
    lambda r: r["machine"]["gpu"].update(compute_capability=[9]),
    lambda r: r["machine"].update(gpu={"available": False}),
    lambda r: r["cases"][0].update(timer="stopwatch"),
    lambda r: r["cases"][0].update(inputs="elsewhere"),
    lambda r: r["cases"][0].update(transfer={"bytes": 8}),
])
def test_schema_v2_rejects_broken_device_fields(tiny_results, breakage):
    run = _as_gpu_run(tiny_results)
    validate_results(run)
    breakage(run)
    with pytest.raises(ResultsError):
        validate_results(run)


def test_report_shows_the_gpu_and_the_device_cases(tiny_results, tmp_path):
    readme = write_report([_as_gpu_run(tiny_results)], tmp_path / "gpu", sources=["gpu.json"])
    text = readme.read_text()
    assert "- GPU: NVIDIA H200, compute capability 9.0, 132 multiprocessors, 150 GiB" in text
    assert "4000 GB/s by a grid-stride kernel (1056 blocks of 256)" in text
    assert "## On the GPU" in text
    row = next(line for line in text.splitlines() if line.startswith("| adam_step | float64 "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    case = _case(_as_gpu_run(tiny_results), "adam_step", "cuda")
    assert cells[3:5] == ["cuda", "device"]
    assert cells[7] == f"{100 * case['gbps'] / 4000.0:.0f}%"
    assert cells[8:] == ["2 µs", "3 µs"]
    no_gpu = write_report([tiny_results], tmp_path / "cpu", sources=["cpu.json"]).read_text()
    assert "## On the GPU" not in no_gpu and "- GPU: none (" in no_gpu
