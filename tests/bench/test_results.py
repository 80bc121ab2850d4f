"""The results schema: a tiny run round-trips; broken files of every version are refused."""

from __future__ import annotations

import copy
import json

import pytest

from kernbench.bench.results import ResultsError, load_results, save_results, validate_results
from kernbench.cli import main
from tests.bench.helpers import as_gpu_run, case_of


def test_tiny_run_validates_and_round_trips(tiny_results, tmp_path):
    validate_results(tiny_results)
    assert {c["status"] for c in tiny_results["cases"]} == {"ok"}
    path = save_results(tiny_results, tmp_path / "r.json")
    assert load_results(path)["cases"] == json.loads(path.read_text())["cases"]
    ok = case_of(tiny_results, "adam_step", "numpy")
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
    run = as_gpu_run(tiny_results)
    validate_results(run)
    breakage(run)
    with pytest.raises(ResultsError):
        validate_results(run)
