"""pytest-benchmark suite: every kernel x backend x size x dtype, from the workload records.

Benchmarks are off in a plain ``pytest`` run (``--benchmark-disable`` in pyproject.toml: each body
runs once, so the suite is kept alive by CI). Time them with::

    python -m pytest tests/benchmarks --benchmark-enable --benchmark-group-by=group,param:size

Groups are kernels; the JIT is warmed (and optimizer state allocated) before timing; kernels
that mutate their inputs in place are reset between rounds (pedantic setup).
"""

from __future__ import annotations

import pytest

import kernbench as kb
from kernbench.bench.workloads import WORKLOADS

SIZES = [1_000, 100_000]
#: The python backend's loops: smallest size only, a round would take seconds otherwise.
PYTHON_MAX_ELEMENTS = 1_000
DTYPES = ["float32", "float64"]
#: Every backend of the contract (dask's per-call scheduling cost is the runner's business).
BACKENDS = [name for name in kb.known_backends() if name != "dask"]
AVAILABLE = set(kb.available_backends())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("target", BACKENDS)
@pytest.mark.parametrize("kernel", list(WORKLOADS))
def test_kernel(benchmark, kernel, target, size, dtype):
    backend = target  # not "backend": conftest parametrizes that name over the test backends
    workload = WORKLOADS[kernel]
    if backend not in AVAILABLE:
        pytest.skip(f"backend {backend!r} is not available here")
    if dtype not in workload.dtypes:
        pytest.skip(f"{kernel} has no {dtype} variant")
    if backend == "python" and size > PYTHON_MAX_ELEMENTS:
        pytest.skip("python backend: smallest size only (time budget)")
    if workload.layout == "model" and size != SIZES[0]:
        pytest.skip("the model-shaped workload has one size")
    benchmark.group = kernel
    benchmark.extra_info.update(elements=workload.elements(workload.shape_for(size)),
                                bytes_moved=workload.bytes_moved(workload.shape_for(size), dtype))
    case = workload.make(size, dtype, seed=0)
    fn = case.call(backend)  # warmed: JIT compile or cache load happens here, untimed
    if workload.reset_between_repeats:
        result = benchmark.pedantic(fn, setup=case.reset, rounds=20, iterations=1)
    else:
        result = benchmark(fn)
    if not workload.mutates:
        assert result is not None
