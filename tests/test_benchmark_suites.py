"""Both benchmark suites discover every kernel x backend pair, so no kernel can be forgotten."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

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
        assert callable(getattr(compiled, f"time_compile_{name}"))


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
    done = subprocess.run(["asv", "check", "--python=same"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout


def test_pytest_benchmark_suite_has_every_kernel_and_backend():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/benchmarks/test_kernels_benchmark.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = re.findall(r"test_kernel\[([^\]]+)\]", done.stdout)
    pairs = set()
    for test_id in ids:
        kernel, rest = test_id.split("-", 1)  # backend names may hold a "-" (numba-plain)
        backend, size, dtype = rest.rsplit("-", 2)
        pairs.add((kernel, backend))
    expected = {(k, b) for k in WORKLOADS for b in SUITE_BACKENDS}
    assert expected <= pairs, f"missing: {sorted(expected - pairs)}"
