"""kernbench.bench.small_calls: the cases, the report table and one pyperf run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kernbench import info
from kernbench.bench import small_calls as sc
from kernbench.bench.peers import library_available

ROOT = Path(__file__).resolve().parents[2]


def _own():
    return {c.name: c for c in sc.cases() if c.of is None}


def test_every_information_function_and_the_optimizer_steps_are_cases():
    own = _own()
    assert set(info.__all__) <= set(own)
    assert {"Adam.step", "AdamW.step", "SGD.step"} <= set(own)
    names = [c.name for c in sc.cases()]
    assert len(names) == len(set(names))
    for c in sc.cases():  # a peer stands beside a case that exists
        assert c.of is None or c.of in own


def test_cases_call_the_public_api_on_small_inputs():
    for name, case in _own().items():
        fn, args = case.prepared()
        assert case.prepared()[0] is fn  # made once: the timed loop only calls
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        if name in info.__all__:
            assert all(a.size <= 40 for a in arrays)
            np.testing.assert_array_equal(fn(*args), getattr(info, name)(*args))
        else:
            fn(*args)  # a step of a prepared optimizer


@pytest.mark.skipif(not library_available("scipy"), reason="scipy is not installed")
def test_scipy_peers_compute_what_their_case_computes():
    own = _own()
    for case in sc.cases():
        if case.library != "scipy":
            continue
        fn, args = case.prepared()
        ours_fn, ours_args = own[case.of].prepared()
        np.testing.assert_allclose(fn(*args), ours_fn(*ours_args), rtol=1e-12, atol=1e-15)


def test_markdown_table_rates_each_case_against_the_budget():
    summaries = {
        "entropy": {"median_s": 2e-6, "min_s": 1.5e-6, "q1_s": 1.8e-6, "q3_s": 2.2e-6},
        "Adam.step": {"median_s": 6e-6, "min_s": 5e-6, "q1_s": 5.5e-6, "q3_s": 6.5e-6},
        "scipy.stats.entropy": {"median_s": 9e-5, "min_s": 8e-5, "q1_s": 8e-5, "q3_s": 1e-4},
    }
    baseline = {"entropy": {"median_s": 8e-6}}
    text = sc.markdown(summaries, baseline, note="under load")
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| `")}
    assert set(rows) == {"`entropy`", "`Adam.step`"}
    assert "| 0.50 |" in rows["`entropy`"]  # 2 us of a 4 us budget
    assert "| 1.50 |" in rows["`Adam.step`"]
    assert "| 8.00 | 4.00x |" in rows["`entropy`"]  # before, and before / after
    assert "scipy.stats.entropy 90.00" in rows["`entropy`"]
    assert "under load" in text


def test_a_pyperf_run_writes_results_and_the_table(tmp_path):
    out = tmp_path / "report"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    cmd = [sys.executable, "-m", "kernbench.bench.small_calls", "--only", "entropy",
           "--processes", "1", "--values", "2", "--warmups", "0", "--loops", "8", "--quiet",
           "--out", str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["cases"]) == {"entropy"}
    assert summary["cases"]["entropy"]["values"] == 2
    assert summary["cases"]["entropy"]["median_s"] > 0
    assert "`entropy`" in (out / "README.md").read_text()
    again = sc.load_summaries(out / "results.json")
    assert again["entropy"]["median_s"] == summary["cases"]["entropy"]["median_s"]
