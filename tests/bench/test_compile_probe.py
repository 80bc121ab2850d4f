"""The compile-time probe: first call minus steady call in fresh processes, failures recorded."""

from __future__ import annotations

import pytest


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
