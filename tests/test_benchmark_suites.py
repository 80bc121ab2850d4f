"""Both benchmark suites discover every kernel x backend pair, so no kernel can be forgotten."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kernbench as kb
from kernbench.bench.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parents[1]
#: dask is timed by the runner only (see benchmarks/_adapters.py).
SUITE_BACKENDS = [b for b in kb.known_backends() if b != "dask"]


@pytest.fixture(scope="module")
def asv_module():
    sys.path.insert(0, str(ROOT))
    try:
        import benchmarks.kernels as module
    finally:
        sys.path.remove(str(ROOT))
    return module


def test_asv_suite_has_every_kernel_and_backend(asv_module):
    for name in WORKLOADS:
        camel = "".join(part.capitalize() for part in name.split("_"))
        timed = getattr(asv_module, camel)
        assert callable(getattr(timed, f"time_{name}"))
        assert timed.param_names == ["backend", "size", "dtype"]
        assert timed.params[0] == SUITE_BACKENDS
        relative = getattr(asv_module, camel + "Relative")
        track = getattr(relative, f"track_{name}_vs_numpy")
        assert track.unit and set(relative.params[0]) == set(SUITE_BACKENDS) - {"numpy"}
        compiled = getattr(asv_module, "Compile" + camel)
        assert callable(getattr(compiled, f"timeraw_compile_{name}"))
        assert compiled.params[0] == [b for b in SUITE_BACKENDS if b.startswith("numba")]


def test_asv_versions_follow_the_workload_record(asv_module):
    from benchmarks._adapters import workload_version

    versions = {getattr(getattr(asv_module, "".join(p.capitalize() for p in name.split("_"))),
                        f"time_{name}").version for name in WORKLOADS}
    assert len(versions) == len(WORKLOADS)  # each workload its own history
    entropy = WORKLOADS["entropy"]
    assert workload_version(entropy) == workload_version(entropy)
    changed = [dataclasses.replace(entropy, dtypes=("float64",)),
               dataclasses.replace(entropy, layout="logits"),
               dataclasses.replace(entropy, build=WORKLOADS["cross_entropy"].build)]
    assert len({workload_version(w) for w in [entropy, *changed]}) == 4
    assert workload_version(entropy, [10]) != workload_version(entropy, [20])


def test_asv_setup_resets_mutated_inputs_outside_the_timed_call(asv_module):
    bench = asv_module.ClipGradNorm
    assert bench.number == 1  # asv then runs setup before every sample
    timed = bench()
    timed.setup("numpy", 10_000, "float64")
    before = [a.copy() for a in timed.case.copies[0]]  # the grads the first call scales in place
    timed.time_clip_grad_norm("numpy", 10_000, "float64")
    assert any(not np.array_equal(a, b) for a, b in zip(before, timed.case.copies[0]))
    fn = timed.fn
    timed.setup("numpy", 10_000, "float64")  # the next sample's setup
    assert timed.fn is fn  # not prepared again
    for a, b in zip(before, timed.case.copies[0]):
        np.testing.assert_array_equal(a, b)


def test_asv_compile_benchmark_is_a_timeraw_statement(asv_module):
    stmt, setup = asv_module.CompileEntropy().timeraw_compile_entropy("numba", "float64")
    assert stmt == "fn()"
    assert "NUMBA_CACHE_DIR" in setup and "warm=False" in setup
    compile(setup, "<setup>", "exec")


def test_asv_setup_marks_impossible_combinations_not_available(asv_module):
    timed = asv_module.AdamStep()
    with pytest.raises(NotImplementedError):
        timed.setup("python", 10_000_000, "float64")
    with pytest.raises(NotImplementedError):
        asv_module.CosineSchedule().setup("numpy", 1_000, "float32")
    timed.setup("numpy", 1_000, "float64")
    timed.time_adam_step("numpy", 1_000, "float64")


@pytest.mark.skipif(shutil.which("asv") is None, reason="asv is not installed")
def test_asv_check_finds_no_problems():
    done = subprocess.run(["asv", "check", "--python=same"], cwd=ROOT, check=False,
                          capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


#: The committed ids and groups of the pytest-benchmark suite: ``group<TAB>test id`` per line.
IDS_SNAPSHOT = ROOT / "tests" / "benchmarks" / "benchmark_ids.txt"
BENCH_FILE = "tests/benchmarks/test_kernels_benchmark.py"
#: Records each executed benchmark's group (pytest plugin for the subprocess below).
_GROUP_PLUGIN = """
import json, os
def pytest_runtest_teardown(item):
    bench = getattr(item, "funcargs", {}).get("benchmark")
    if bench is not None:
        with open(os.environ["KERNBENCH_GROUPS_OUT"], "a") as out:
            out.write(json.dumps([item.name, bench.group]) + "\\n")
"""


def _collected_ids() -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         BENCH_FILE], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return re.findall(r"::(test_kernel\[[^\]]+\])", done.stdout)


def _expected_group(test_id: str) -> str:
    """The group a stored run files the test under: its workload record's name."""
    kernel = test_id[len("test_kernel["):].split("-")[0]
    return WORKLOADS[kernel].name


def _snapshot() -> dict[str, str]:
    rows = [line.split("\t") for line in IDS_SNAPSHOT.read_text().splitlines() if line]
    return {test_id: group for group, test_id in rows}


def test_pytest_benchmark_ids_match_the_committed_snapshot():
    """Stored runs (--benchmark-autosave) compare by test id and group: neither may drift.

    A deliberate change (a new kernel, size or backend) rewrites the snapshot:
    KERNBENCH_WRITE_BENCHMARK_IDS=1 python -m pytest tests/test_benchmark_suites.py -k snapshot
    """
    ids = _collected_ids()
    if os.environ.get("KERNBENCH_WRITE_BENCHMARK_IDS") == "1":
        IDS_SNAPSHOT.write_text("".join(f"{_expected_group(i)}\t{i}\n" for i in sorted(ids)))
    snapshot = _snapshot()
    lost = sorted(set(snapshot) - set(ids))
    new = sorted(set(ids) - set(snapshot))
    assert not lost and not new, (
        f"benchmark ids changed (stored runs would no longer compare): lost {lost[:10]}, "
        f"new {new[:10]}; if deliberate, rewrite {IDS_SNAPSHOT.name} as the docstring says")
    assert all(snapshot[i] == _expected_group(i) for i in ids)
    pairs = set()
    for test_id in snapshot:
        kernel, rest = test_id[len("test_kernel["):-1].split("-", 1)
        pairs.add((kernel, rest.rsplit("-", 2)[0]))  # backend names may hold a "-"
    expected = {(k, b) for k in WORKLOADS for b in SUITE_BACKENDS}
    assert expected <= pairs, f"missing: {sorted(expected - pairs)}"


def test_pytest_benchmark_groups_are_the_snapshot_groups(tmp_path):
    """Runs the numpy rows at the smallest float64 size, timing disabled, and reads the group
    each test gave its benchmark."""
    (tmp_path / "kernbench_groups_plugin.py").write_text(_GROUP_PLUGIN)
    out = tmp_path / "groups.jsonl"
    env = dict(os.environ, KERNBENCH_GROUPS_OUT=str(out),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "kernbench_groups_plugin", "--benchmark-disable", "-k", "numpy-1000-float64",
         BENCH_FILE], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = dict(json.loads(line) for line in out.read_text().splitlines())
    snapshot = _snapshot()
    ran = [i for i in seen if seen[i] is not None]
    assert {_expected_group(i) for i in ran} == set(WORKLOADS)  # every kernel ran
    for test_id in ran:
        assert seen[test_id] == snapshot[test_id], test_id
