"""``kernbench compare`` and its statistics, on synthetic sample sets (nothing is timed)."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest

from kernbench.bench import stats
from kernbench.bench.compare import compare_cases, compare_runs, run_warnings
from kernbench.bench.results import save_results, validate_results
from kernbench.bench.timing import summarize
from kernbench.cli import main


def _case(kernel: str, target: str, samples, size: int = 1000) -> dict:
    samples = [float(s) for s in samples]
    stats_ = summarize(samples, 0.1)
    return {"kernel": kernel, "dtype": "float64", "shape": [size], "size_label": str(size),
            "elements": size, "target": target, "target_kind": "backend", "status": "ok",
            "reason": None, "bytes_moved": 8 * size, "flops": size, "samples_s": samples,
            "calls_per_sample": 1, "first_call_s": samples[0], **stats_,
            "gbps": 1.0, "gflops": 1.0, "max_abs_err": 0.0, "timer": "host"}


def _run(cases: list[dict], **machine) -> dict:
    doc = {"schema_version": 2, "kind": "kernbench-results", "created_utc": "2026-12-01T00:00:00Z",
           "command": "kernbench run (synthetic)",
           "settings": {"kernels": ["adam_step", "entropy"], "backends": ["numpy", "numba"],
                        "dtypes": ["float64"], "threads": 2},
           "machine": {"cpu_model": "AMD EPYC", "logical_cpus": 2,
                       "versions": {"numpy": "2.4.6", "numba": "0.68.1"}, **machine},
           "compile": [], "cases": cases, "elapsed_s": 1.0}
    return validate_results(doc)


def _samples(median: float, n: int = 20, spread: float = 0.03, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return median * rng.lognormal(0.0, spread, n)


def _pair(numba_factor: float = 1.0, numpy_factor: float = 1.0, drift: float = 1.0,
          n: int = 20, spread: float = 0.03):
    """Two runs of numpy and numba on two kernels; B's numba adam is ``numba_factor`` slower,
    every target of B ``drift`` slower (a slower machine)."""
    a_cases, b_cases = [], []
    for k, kernel in enumerate(("adam_step", "entropy")):
        for t, (target, median) in enumerate((("numpy", 1e-3), ("numba", 2e-4))):
            seed = 10 * k + t
            a_cases.append(_case(kernel, target, _samples(median, n, spread, seed)))
            factor = drift * (numba_factor if (kernel, target) == ("adam_step", "numba") else 1)
            factor *= numpy_factor if target == "numpy" else 1
            b_cases.append(_case(kernel, target, _samples(median * factor, n, spread, seed + 100)))
    return _run(a_cases), _run(b_cases)


def _verdicts(rows) -> dict:
    return {(r["key"][0], r["key"][3]): r["verdict"] for r in rows}


# ---------------------------------------------------------------------------- statistics

def test_p_value_separates_a_shift_from_noise():
    a = _samples(1.0, seed=1)
    assert stats.change_p_value(a, _samples(1.0, seed=2)) > 0.05
    assert stats.change_p_value(a, _samples(1.5, seed=2)) < 1e-6
    assert stats.change_p_value([1.0], [2.0]) == 1.0  # one sample a side: no call
    assert stats.change_p_value([1.0, 1.0], [1.0, 1.0]) == 1.0


def test_ratio_interval_covers_the_true_ratio_and_narrows_with_samples():
    wide = stats.ratio_interval(_samples(1.5, 8, 0.2, 3), _samples(1.0, 8, 0.2, 4))
    narrow = stats.ratio_interval(_samples(1.5, 200, 0.2, 3), _samples(1.0, 200, 0.2, 4))
    for estimate, low, high in (wide, narrow):
        assert low <= estimate <= high and low < 1.5 < high
    assert narrow[2] - narrow[1] < wide[2] - wide[1]
    assert np.isnan(stats.ratio_interval([1.0, 2.0], [1.0, 2.0])[1])  # too few to bootstrap


def test_pairing_by_round_cancels_a_shared_drift():
    rng = np.random.default_rng(5)
    drift = np.exp(rng.normal(0.0, 0.3, 40))  # each round slower or faster for every target
    reference = 1e-3 * drift * rng.lognormal(0, 0.01, 40)
    target = 2e-3 * drift * rng.lognormal(0, 0.01, 40)
    _, lo_p, hi_p = stats.ratio_interval(target, reference, paired=True)
    _, lo_u, hi_u = stats.ratio_interval(target, reference, paired=False)
    assert lo_p < 2.0 < hi_p
    assert hi_p - lo_p < (hi_u - lo_u) / 5
    ratios = stats.paired_ratios(target, reference[:30])
    assert ratios.size == 30 and np.allclose(np.median(ratios), 2.0, rtol=0.02)


# ---------------------------------------------------------------------------- verdicts

def test_two_runs_of_the_same_code_flag_nothing():
    a, b = _pair()
    rows = compare_cases(a, b)
    assert set(_verdicts(rows).values()) == {"same"}
    assert compare_runs(a, b, out=io.StringIO()) == 0


def test_a_planted_slowdown_is_flagged_and_nothing_else():
    a, b = _pair(numba_factor=1.5)
    verdicts = _verdicts(compare_cases(a, b))
    assert verdicts.pop(("adam_step", "numba")) == "SLOWER"
    assert set(verdicts.values()) == {"same"}
    assert compare_runs(a, b, out=io.StringIO()) == 1
    assert compare_runs(b, a, out=io.StringIO()) == 0  # the reverse is FASTER
    assert _verdicts(compare_cases(b, a))[("adam_step", "numba")] == "FASTER"


def test_a_significant_change_within_the_threshold_is_same():
    a, b = _pair(numba_factor=1.1, n=60, spread=0.01)
    row = next(r for r in compare_cases(a, b) if r["key"][::3] == ("adam_step", "numba"))
    assert row["p"] < 1e-6 and row["verdict"] == "same"


def test_a_large_but_unresolved_change_is_unsure_and_does_not_fail():
    spread = np.array([1e-3, 3e-3, 1e-3, 3e-3, 2e-3])  # the medians differ 1.5x, the ranks mix
    a = _run([_case("adam_step", "numba", spread)])
    b = _run([_case("adam_step", "numba", 1.5 * spread)])
    row = compare_cases(a, b)[0]
    assert row["ratio"] == pytest.approx(1.5) and row["p"] >= 0.05
    assert row["verdict"] == "unsure"
    assert compare_runs(a, b, out=io.StringIO()) == 0


def test_relative_mode_cancels_a_slower_machine_but_keeps_a_real_slowdown():
    a, b = _pair(drift=1.6)  # B ran on a machine 1.6x slower: same code
    assert set(_verdicts(compare_cases(a, b)).values()) == {"SLOWER"}
    relative = _verdicts(compare_cases(a, b, relative_to="numpy"))
    assert relative.pop(("adam_step", "numpy")) == "reference"
    assert relative.pop(("entropy", "numpy")) == "reference"
    assert set(relative.values()) == {"same"}
    a, b = _pair(drift=1.6, numba_factor=1.5)
    relative = _verdicts(compare_cases(a, b, relative_to="numpy"))
    assert relative[("adam_step", "numba")] == "SLOWER"
    assert relative[("entropy", "numba")] == "same"


def test_a_case_that_broke_exits_3_not_1():
    a, b = _pair()
    b["cases"][1] = {**{k: b["cases"][1][k] for k in ("kernel", "dtype", "shape", "size_label",
                                                      "elements", "target", "target_kind",
                                                      "bytes_moved", "flops")},
                     "status": "failed", "reason": "RuntimeError: boom"}
    rows = compare_cases(a, b)
    assert _verdicts(rows)[("adam_step", "numba")] == "BROKEN (failed)"
    assert compare_runs(a, b, out=io.StringIO()) == 3


# ---------------------------------------------------------------------------- output

def test_warnings_name_what_differs_between_the_runs():
    a, b = _pair()
    assert run_warnings(a, b) == []
    a["machine"]["contestant_settings"] = {"main": {"pid": 1, "numba_threads": 2}}
    b["machine"]["contestant_settings"] = {"main": {"pid": 2, "numba_threads": 2}}
    assert run_warnings(a, b) == []  # another process, same settings
    b = copy.deepcopy(b)
    b["machine"]["versions"]["numba"] = "0.69.0"
    b["machine"]["cpu_model"] = "Intel Xeon"
    b["settings"]["threads"] = 1
    warnings = run_warnings(a, b)
    assert "machine versions.numba: '0.68.1' -> '0.69.0'" in warnings
    assert "machine cpu_model: 'AMD EPYC' -> 'Intel Xeon'" in warnings
    assert "settings threads: 2 -> 1" in warnings
    out = io.StringIO()
    compare_runs(a, b, out=out)
    assert out.getvalue().count("warning: the runs differ") == 3


def test_only_changed_lists_the_changed_cases_alone(tmp_path, capsys):
    a, b = _pair(numba_factor=1.5)
    save_results(a, tmp_path / "a.json")
    save_results(b, tmp_path / "b.json")
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                 "--only-changed"]) == 1
    table = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith(("adam_step", "entropy"))]
    assert len(table) == 1 and table[0].split()[3] == "numba" and "SLOWER" in table[0]
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                 "--threshold", "1.6"]) == 0


@pytest.mark.parametrize("threshold", ["1", "0.8", "inf", "x"])
def test_a_threshold_of_1_or_less_is_refused(tmp_path, capsys, threshold):
    a, _ = _pair()
    save_results(a, tmp_path / "a.json")
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(tmp_path / "a.json"), str(tmp_path / "a.json"),
              "--threshold", threshold])
    assert exit_info.value.code == 2 and "--threshold" in capsys.readouterr().err


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
