"""The report's uncertainty: speedup intervals, unresolved marks, IQR bands (synthetic runs)."""

from __future__ import annotations

import math

import numpy as np

from kernbench.bench import report as rp
from kernbench.bench import report_data as rd
from kernbench.bench import report_headline as rh
from kernbench.bench import report_plots as rpl
from tests.bench.helpers import as_gpu_run, case_of
from tests.bench.test_compare import _case, _run, _samples


def _one_run(numba_spread: float = 0.02, n: int = 20) -> dict:
    return _run([_case("entropy", "numpy", _samples(1e-3, n, 0.02, 1)),
                 _case("entropy", "numba", _samples(2.5e-4, n, numba_spread, 2))])


def test_speedup_has_an_interval_around_the_ratio_of_medians():
    res = rd.Results([_one_run()])
    estimate, low, high = res.speedup("entropy", "float64", "1000", "numba")
    numpy_case, numba_case = res.get("entropy", "float64", "1000", "numpy"), \
        res.get("entropy", "float64", "1000", "numba")
    assert math.isclose(estimate, numpy_case["median_s"] / numba_case["median_s"])
    assert low < estimate < high and low > 3.5 and high < 4.5
    assert not rd.unresolved((estimate, low, high))
    assert rd.fmt_speedup((estimate, low, high)).startswith(f"{rd.fmt_ratio(estimate)} [")


def test_a_spread_out_target_is_unresolved_and_marked():
    res = rd.Results([_one_run(numba_spread=0.8, n=6)])
    interval = res.speedup("entropy", "float64", "1000", "numba")
    assert rd.unresolved(interval) and rd.fmt_speedup(interval).endswith("?")
    assert rd.unresolved((4.0, math.nan, math.nan)) and rd.unresolved(None)
    cell = rd.speed_cell(res, "entropy", "float64", ("1000", 1000), "numba")
    assert cell.endswith("?)")


def test_cases_from_two_runs_are_not_paired_by_round():
    a, b = _one_run(), _one_run()
    b["cases"] = [c for c in b["cases"] if c["target"] == "numba"]
    res = rd.Results([a, b])
    assert res.run_of[("entropy", "float64", "1000", "numba")] == 1
    assert res.run_of[("entropy", "float64", "1000", "numpy")] == 0
    estimate, low, high = res.speedup("entropy", "float64", "1000", "numba")
    assert low < estimate < high


def test_heatmap_matrix_carries_intervals_and_the_report_explains_them(tmp_path):
    res = rd.Results([_one_run()])
    rows, cols, m = rpl.speedup_matrix(res, "float64")
    assert rows == ["entropy", "geometric mean"] and cols == ["numpy", "numba"]
    j = cols.index("numba")
    assert m[0, j, 1] < m[0, j, 0] < m[0, j, 2]
    assert np.allclose(m[0, cols.index("numpy")], 1.0)
    readme = rp.write_report([_one_run()], tmp_path, sources=["synthetic.json"])
    text = readme.read_text()
    assert "bootstrap interval" in text and "unresolved" in text and "No sample is" in text
    assert "| entropy | 1000 |" in text and "x [" in text


def test_colours_are_the_colour_blind_safe_palette():
    colors = rpl._colors([f"t{i}" for i in range(10)])
    assert set(colors.values()) <= set(rpl.OKABE_ITO)
    dashes = rpl._dashes([f"t{i}" for i in range(10)])
    assert dashes["t0"] != dashes["t8"]  # the palette wraps: the line style tells them apart


def test_headline_follows_the_backend_order_and_marks_noise_and_intervals(tmp_path):
    cases = []
    for target, median in (("numba", 2e-4), ("numpy", 1e-3), ("numba-plain", 4e-4),
                           ("python", 1e-1), ("dask", 5e-2)):
        c = _case("adam_step", target, _samples(median, 12, 0.02, len(cases)), size=10_000)
        c["dtype"] = "float64"
        cases.append(c)
    peer = _case("adam_step", "torch.fused", _samples(5e-4, 12, 0.3, 9), size=10_000)
    peer["target_kind"] = "peer"
    cases.append(peer)
    run = _run(cases)
    table = rh.headline_table(rd.Results([run]))
    header = table.splitlines()[0]
    assert header == ("| case (working set) | python | numpy | numba-plain | numba | "
                      "best peer |")  # the contract's order; the cluster backend left out
    row = table.splitlines()[2]
    assert row.startswith("| Adam step, float64, 1e4 (")
    assert "(5" in row and "x [" in row  # numba: about 5x with its interval
    assert "torch.fused ~" in row  # a noisy peer median is marked
    readme = rp.write_report([run], tmp_path, sources=["synthetic.json"])
    assert (tmp_path / "headline.md").read_text().strip() == table
    assert "![speedup against numpy by size](headline_speedup.png)" in readme.read_text()
    assert (tmp_path / "headline_speedup.png").stat().st_size > 1000


def test_report_renders_tables_and_plots(tiny_results, tmp_path):
    readme = rp.write_report([tiny_results], tmp_path / "report", sources=["tiny.json"])
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


def test_report_shows_the_gpu_and_the_device_cases(tiny_results, tmp_path):
    readme = rp.write_report([as_gpu_run(tiny_results)], tmp_path / "gpu", sources=["gpu.json"])
    text = readme.read_text()
    assert "- GPU: NVIDIA H200, compute capability 9.0, 132 multiprocessors, 150 GiB" in text
    assert "4000 GB/s by a grid-stride kernel (1056 blocks of 256)" in text
    assert "## On the GPU" in text
    row = next(line for line in text.splitlines() if line.startswith("| adam_step | float64 "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    case = case_of(as_gpu_run(tiny_results), "adam_step", "cuda")
    assert cells[3:5] == ["cuda", "device"]
    assert cells[7] == f"{100 * case['gbps'] / 4000.0:.0f}%"
    assert cells[8:] == ["2 µs", "3 µs"]
    no_gpu = rp.write_report([tiny_results], tmp_path / "cpu", sources=["cpu.json"]).read_text()
    assert "## On the GPU" not in no_gpu and "- GPU: none (" in no_gpu
