"""The cache regime: cache sizes probed, working sets labelled, cold samples where they belong."""

from __future__ import annotations

import numpy as np
import pytest

from kernbench.bench import report_data as rd
from kernbench.bench import runner as rn
from kernbench.bench.probe import cache_sizes
from kernbench.bench.results import ResultsError, validate_results
from kernbench.bench.timing import CacheFlusher, Contestant, TimingPolicy, sample_cold
from kernbench.bench.workloads import WORKLOADS

TINY = TimingPolicy(min_samples=3, max_samples=3, min_total_s=0.0, target_sample_s=1e-4,
                    case_budget_s=1.0, cold_samples=3)


def _fake_sysfs(root, entries):
    for i, (level, kind, size) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return root


def test_cache_sizes_read_sysfs_and_pick_the_last_level(tmp_path):
    root = _fake_sysfs(tmp_path, [(1, "Data", "48K"), (1, "Instruction", "32K"),
                                  (2, "Unified", "1024K"), (3, "Unified", "32768K")])
    caches = cache_sizes(root)
    assert caches["l1d_bytes"] == 48 << 10 and caches["l2_bytes"] == 1 << 20
    assert caches["llc_bytes"] == caches["l3_bytes"] == 32 << 20
    (tmp_path / "two").mkdir()
    no_l3 = cache_sizes(_fake_sysfs(tmp_path / "two", [(1, "Data", "32K"), (2, "Unified", "2M")]))
    assert no_l3["llc_bytes"] == 2 << 20 and "l3_bytes" not in no_l3


def test_working_sets_count_each_array_once():
    n = 1_000_000
    assert WORKLOADS["adam_step"].working_set_bytes((n,), "float32") == 4 * 4 * n  # p g m v
    assert WORKLOADS["adam_step"].bytes_moved((n,), "float32") == 7 * 4 * n
    assert WORKLOADS["entropy"].working_set_bytes((n,), "float64") == 8 * n
    assert WORKLOADS["adam_step"].memory_bound and not WORKLOADS["entropy"].memory_bound


def test_every_case_is_labelled_and_memory_bound_ones_in_cache_are_also_cold(monkeypatch):
    from kernbench.bench import probe

    monkeypatch.setattr(probe, "cache_sizes", lambda: {"llc_bytes": 1 << 20, "source": "test"})
    settings = rn.RunSettings(kernels=["adam_step", "entropy"], backends=["numpy", "python"],
                              dtypes=["float64"], elements=[1000, 100_000], peers=False,
                              threads=1, policy=TINY, measure_compile=False,
                              measure_bandwidth=False)
    results = validate_results(rn.run_benchmarks(settings))
    for c in results["cases"]:
        wl = WORKLOADS[c["kernel"]]
        assert c["working_set_bytes"] == wl.working_set_bytes(tuple(c["shape"]), "float64")
        assert c["fits_llc"] == (c["working_set_bytes"] <= 1 << 20)
        cold_expected = (c["kernel"] == "adam_step" and c["fits_llc"]
                         and c["target"] == "numpy")  # python is interpreter-bound: warm only
        assert ("cold" in c) == cold_expected, c["kernel"]
        if cold_expected:
            assert len(c["cold"]["samples_s"]) == 3 and c["cold"]["flush_bytes"] == 2 << 20
            assert c["cache_regime"] == "warm"


def test_cold_sampling_flushes_before_every_timed_call_and_never_inside():
    events = []
    contestants = [Contestant(name, lambda n=name: events.append(("call", n)), 1, [1e-3])
                   for name in ("a", "b")]
    cold = sample_cold(contestants, 2, lambda: events.append(("flush", None)),
                       lambda: events.append(("reset", None)), needs_reset=True)
    assert {k: len(v) for k, v in cold.items()} == {"a": 2, "b": 2}
    assert events == [("reset", None), ("flush", None), ("call", "a"),
                      ("reset", None), ("flush", None), ("call", "b")] * 2
    flusher = CacheFlusher(1000, factor=3)
    assert flusher.nbytes == 3000
    flusher()
    assert int(flusher._buffer[0]) == 1


def test_a_broken_cold_record_is_rejected():
    case = {"kernel": "k", "dtype": "float64", "shape": [1], "size_label": "1", "elements": 1,
            "target": "numpy", "target_kind": "backend", "status": "ok", "bytes_moved": 8,
            "flops": 1, "samples_s": [1.0], "calls_per_sample": 1, "first_call_s": 1.0,
            "median_s": 1.0, "q1_s": 1.0, "q3_s": 1.0, "iqr_s": 0.0, "min_s": 1.0,
            "noisy": False, "gbps": 1.0, "gflops": 1.0, "cold": {"samples_s": []}}
    doc = {"schema_version": 3, "kind": "kernbench-results", "created_utc": "x", "command": "",
           "settings": {"kernels": [], "backends": [], "dtypes": [], "threads": 1},
           "machine": {}, "compile": [], "cases": [case]}
    with pytest.raises(ResultsError, match="cold"):
        validate_results(doc)


def test_report_holds_only_dram_resident_cases_against_bandwidth():
    def case(size, fits):
        return {"kernel": "adam_step", "dtype": "float32", "shape": [size],
                "size_label": str(size), "elements": size, "target": "numpy",
                "target_kind": "backend", "status": "ok", "median_s": 1e-3,
                "samples_s": [1e-3] * 3, "fits_llc": fits, "bytes_moved": 28 * size,
                "flops": 12 * size, "gbps": 1.0}
    res = rd.Results([{"cases": [case(10_000, True), case(1_000_000, True)],
                       "machine": {"caches": {"llc_bytes": 32 << 20}}}])
    assert rd.dram_size(res, "adam_step", "float32") is None
    res = rd.Results([{"cases": [case(10_000, True), case(10_000_000, False)],
                       "machine": {"caches": {"llc_bytes": 32 << 20}}}])
    assert rd.dram_size(res, "adam_step", "float32") == ("10000000", 10_000_000)
    assert rd.regime_label(res, "adam_step", "float32", ("10000", 10_000)).endswith("in LLC")
    # a v2 case without the label: decided from the footprint and the recorded cache
    old = case(10_000_000, None)
    old.pop("fits_llc")
    assert rd.fits_llc(res, old) is False


def test_each_kernel_is_judged_against_the_lower_roof():
    roofs = {"log_gps": {"float64": 2.0}, "exp_gps": {"float64": 1.5}}
    # entropy f64: 8 bytes per element; 40 GB/s -> 5e9 elements/s; log 2e9/s -> log-bound
    roof, what = rd.kernel_roof("entropy", "float64", 40.0, roofs, in_cache=False)
    assert what == "log/exp rate" and roof == pytest.approx(2e9)
    # adam f64: 56 bytes per element, no log: the bandwidth
    roof, what = rd.kernel_roof("adam_step", "float64", 40.0, roofs, in_cache=False)
    assert what == "DRAM bandwidth" and roof == pytest.approx(40e9 / 56)
    # in the cache, DRAM bandwidth is no roof
    assert rd.kernel_roof("adam_step", "float64", 40.0, roofs, in_cache=True)[0] is None
    assert np.isclose(rd.kernel_roof("entropy", "float64", 40.0, roofs, True)[0], 2e9)
