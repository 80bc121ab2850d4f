"""The dask scaling measurement at tiny sizes, its command, and the cluster size in results.

The timing figures themselves are never asserted (they depend on the machine's load); what is
checked is what the documents say about the measurement: its cases, clusters, agreement
between the backends, and that bad settings are refused before any cluster starts.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

pytest.importorskip("dask.array")
pytest.importorskip("distributed")

from kernbench.backends import _dask_cluster, dask_backend
from kernbench.bench import dask_scaling as ds
from kernbench.bench import dask_scaling_report as dsr
from kernbench.cli import main


@pytest.fixture(scope="module")
def tiny_doc():
    settings = ds.ScalingSettings(elements=3000, clusters=((1, 1), (2, 1)), repeats=2,
                                  warmup=1, overhead_elements=200)
    before = _dask_cluster.current_client()
    doc = ds.run_scaling(settings, command="test")
    assert _dask_cluster.current_client() is before, "the backend's client was not given back"
    return doc


def test_tiny_scaling_measures_every_case_on_every_cluster(tiny_doc):
    dsr.validate_scaling(tiny_doc)
    shapes = [(c["kernel"], c["dtype"], c["workers"], c["threads_per_worker"])
              for c in tiny_doc["cases"]]
    assert shapes == [("adam", "float32", 1, 1), ("entropy", "float64", 1, 1),
                      ("adam", "float32", 2, 1), ("entropy", "float64", 2, 1)]
    for c in tiny_doc["cases"]:
        assert c["agree"], c
        assert c["chunks"] >= 2 and c["elements"] == 3000
        for side in ("numba", "dask"):
            assert len(c[side]["samples_s"]) == 2 and c[side]["median_s"] > 0
        assert c["dask_over_numba"] == pytest.approx(c["dask"]["median_s"]
                                                     / c["numba"]["median_s"])
        if c["kernel"] == "adam":
            assert c["steps"] == 3
    for cl, workers in zip(tiny_doc["clusters"], (1, 2)):
        assert cl["cluster"]["workers"] == workers and cl["cluster"]["threads"] == workers
        assert cl["cluster"]["worker_processes"] and not cl["cluster"]["embedded"]
        assert cl["small_step"]["elements"] == 200
        assert cl["adam_tasks"]["elements_per_thread"] == -(-3000 // workers)
        assert len(cl["adam_tasks"]["samples_s"]) == 2


def test_markdown_holds_the_tables_and_the_meaning(tiny_doc):
    text = dsr.scaling_markdown(tiny_doc, level=2)
    assert text.startswith("## Dask scaling")
    assert "### Where a dask Adam step's time goes" in text
    assert "### What it means for a real cluster" in text
    for label in ("| adam | float32 | 3,000 | 1 x 1 |", "| entropy | float64 | 3,000 | 2 x 1 |"):
        assert label in text
    assert "At 2 workers x 1 thread" in text
    assert "results differ" not in text
    bad = copy.deepcopy(tiny_doc)
    bad["cases"][0]["agree"] = False
    assert "results differ" in dsr.scaling_markdown(bad)


def test_documents_round_trip_and_bad_ones_name_the_field(tiny_doc, tmp_path):
    path = tmp_path / "s.json"
    dsr.save_scaling(tiny_doc, path)
    assert dsr.load_scaling(path) == json.loads(json.dumps(tiny_doc))
    bad = copy.deepcopy(tiny_doc)
    del bad["cases"][1]["dask"]
    with pytest.raises(ValueError, match=r"cases\[1\] lacks dask"):
        dsr.validate_scaling(bad)
    bad = dict(tiny_doc, kind="kernbench-results")
    with pytest.raises(ValueError, match="not a kernbench-dask-scaling document"):
        dsr.validate_scaling(bad)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        dsr.load_scaling(tmp_path / "broken.json")


@pytest.mark.parametrize("field,value,match", [
    ("elements", 0, "elements"), ("repeats", 1.5, "repeats"), ("warmup", -1, "warmup"),
    ("chunk_bytes", 0, "chunk_bytes"), ("clusters", (), "clusters"),
    ("clusters", ((2, 0),), "threads per worker"), ("clusters", ((1,),), "pairs")])
def test_bad_settings_name_the_field(field, value, match):
    settings = ds.ScalingSettings(**{field: value})
    with pytest.raises(ValueError, match=match):
        settings.validate()


def test_parse_clusters():
    assert ds.parse_clusters("1x1, 2x1,1X2") == [(1, 1), (2, 1), (1, 2)]
    for text in ("2by1", "0x1", "1x0", "", "2x1x1"):
        with pytest.raises(ValueError, match="--clusters"):
            ds.parse_clusters(text)


def test_command_refuses_bad_settings_before_starting_anything(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["dask-scaling", "--clusters", "2x0", "--out", str(out)]) == 2
    assert "--clusters" in capsys.readouterr().err
    assert main(["dask-scaling", "--repeats", "0", "--out", str(out)]) == 2
    assert "repeats" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dask-scaling", "--elements", "1e3,1e4"])
    with pytest.raises(SystemExit):
        main(["dask-scaling", "--chunk", "lots"])
    assert not out.exists()


def test_command_writes_results_and_readme(tmp_path):
    out = tmp_path / "scaling"
    assert main(["dask-scaling", "--elements", "2000", "--clusters", "1x1", "--repeats", "1",
                 "--warmup", "1", "--chunk", "2KiB", "--out", str(out)]) == 0
    doc = dsr.load_scaling(out / "results.json")
    assert doc["command"].startswith("kernbench dask-scaling --elements 2000")
    assert doc["settings"]["chunk_bytes"] == 2048
    for c in doc["cases"]:  # chunks of at most 2 KiB
        assert c["chunk_elements"] * (8 if c["dtype"] == "float64" else 4) <= 2048
        assert c["chunks"] == -(-2000 // c["chunk_elements"])
    readme = (out / "README.md").read_text()
    assert "## Dask scaling" in readme and doc["command"] in readme


def test_runner_records_the_dask_cluster_and_report_adds_scaling(tiny_doc, tmp_path):
    from kernbench.bench.report import write_report
    from kernbench.bench.results import load_results, save_results
    from kernbench.bench.runner import RunSettings, run_benchmarks
    from kernbench.bench.timing import QUICK_POLICY

    settings = RunSettings(kernels=["entropy"], backends=["numpy", "dask"], dtypes=["float64"],
                           elements=[1000], peers=False, measure_compile=False,
                           measure_bandwidth=False, policy=QUICK_POLICY)
    results = run_benchmarks(settings)
    assert {c["status"] for c in results["cases"]} == {"ok"}
    cluster = results["machine"]["dask_cluster"]
    assert cluster == dask_backend.cluster_info()
    assert cluster["workers"] >= 1 and cluster["threads"] >= cluster["workers"]
    path = save_results(results, tmp_path / "r.json")
    scaling = tmp_path / "s.json"
    dsr.save_scaling(tiny_doc, scaling)
    readme = write_report([load_results(path)], tmp_path / "report",
                          dask_scaling=scaling).read_text()
    assert f"- dask cluster: {cluster['workers']} workers" in readme
    assert "## Dask scaling" in readme and "| adam | float32 | 3,000 | 2 x 1 |" in readme


def test_chunk_task_timing_keeps_its_arrays_off_the_worker_object():
    """The first call makes the arrays and keeps them by worker address; the second times the
    rounds and frees them; the worker object gets no attribute of ours."""
    from types import SimpleNamespace

    worker = SimpleNamespace(address="tcp://127.0.0.1:1")
    before = set(vars(worker))
    assert ds._worker_adam_tasks(64, 2, 3, 0, dask_worker=worker) == []
    assert worker.address in ds._WORKER_ARRAYS
    times = ds._worker_adam_tasks(64, 2, 3, 0, dask_worker=worker)
    assert len(times) == 3 and all(t > 0 for t in times)
    assert worker.address not in ds._WORKER_ARRAYS
    assert set(vars(worker)) == before


def test_the_checks_hold_the_backends_to_the_contract_tolerances(monkeypatch):
    """Entropy agrees within the contract's float64 tolerance, not a private one."""
    from kernbench.backends.interface import TOLERANCES

    rtol = TOLERANCES["float64"][0]  # atol (1e-9) is far below these differences
    values = iter([1.0, 1.0 + 0.5 * rtol, 1.0, 1.0 + 3 * rtol])

    class FakeBackend:
        def chunks_for(self, shape, dtype):
            return ((shape[0],),)

        def scatter(self, x, chunks):
            return x

    def interleaved(calls, warmup, repeats, settle=None):
        return {name: {"median_s": 1.0} for name in calls}, {
            "numba": next(values), "dask": next(values)}

    monkeypatch.setattr(ds, "_interleaved", interleaved)
    settings = ds.ScalingSettings(elements=10, clusters=((1, 1),), repeats=1, warmup=0)
    inputs = {"entropy": np.full(10, 0.1)}
    assert ds._measure_entropy(FakeBackend(), settings, inputs)["agree"]
    assert not ds._measure_entropy(FakeBackend(), settings, inputs)["agree"]
