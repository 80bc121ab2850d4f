"""``kernbench run``: its exit codes and the arguments it refuses before anything is timed."""

from __future__ import annotations

import pytest

import kernbench as kb
from kernbench import cli
from kernbench.bench import runner as rn
from kernbench.bench.results import load_results
from kernbench.cli import main

QUICK_ARGS = ["run", "--sizes", "1000", "--kernels", "entropy", "--dtypes", "float64",
              "--no-peers", "--no-compile", "--no-bandwidth"]


@pytest.fixture
def no_timing(monkeypatch):
    """Fail the test if the runner starts: a refusal must come before any timing."""

    def must_not_run(*args, **kwargs):
        raise AssertionError("the runner started despite a bad argument")

    monkeypatch.setattr(rn, "run_benchmarks", must_not_run)


@pytest.mark.parametrize("argument, value, words", [
    ("--threads", "0", "--threads must be at least 1"),
    ("--threads", "-2", "--threads must be at least 1"),
    ("--threads", "two", "--threads takes a whole number"),
    ("--python-budget", "0", "--python-budget must be a finite number of seconds > 0"),
    ("--call-budget", "-1", "--call-budget must be a finite number of seconds > 0"),
    ("--call-budget", "inf", "--call-budget must be a finite number of seconds > 0"),
    ("--python-budget", "nan", "--python-budget must be a finite number of seconds > 0"),
])
def test_bad_numbers_are_refused_naming_the_argument(no_timing, capsys, argument, value, words):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*QUICK_ARGS, "--backends", "numpy", argument, value])
    assert exit_info.value.code == cli.EXIT_USAGE == 2
    err = capsys.readouterr().err
    assert f"argument {argument}" in err and words in err


def test_an_unavailable_backend_asked_for_by_name_is_refused(no_timing, monkeypatch, capsys,
                                                             tmp_path):
    real = kb.get_backend

    def numba_missing(name):
        if name == "numba":
            raise kb.BackendUnavailableError("backend 'numba' cannot run here: not installed")
        return real(name)

    monkeypatch.setattr(kb, "get_backend", numba_missing)
    out = tmp_path / "r.json"
    code = cli.main([*QUICK_ARGS, "--backends", "numpy,numba", "--out", str(out)])
    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "argument --backends" in err and "'numba' cannot run here" in err
    assert not out.exists()


@pytest.mark.skipif("cuda" in kb.available_backends(), reason="a GPU (or the simulator) is here")
def test_cuda_without_a_gpu_is_refused(no_timing, capsys):
    assert cli.main([*QUICK_ARGS, "--backends", "cuda"]) == cli.EXIT_USAGE
    assert "argument --backends" in capsys.readouterr().err


def test_unknown_backend_is_refused(no_timing, capsys):
    assert cli.main([*QUICK_ARGS, "--backends", "numpyy"]) == cli.EXIT_USAGE
    assert "unknown backend" in capsys.readouterr().err


def test_a_clean_run_exits_0(tmp_path):
    out = tmp_path / "ok.json"
    assert cli.main([*QUICK_ARGS, "--backends", "numpy,python", "--out", str(out)]) == 0
    assert {c["status"] for c in load_results(out)["cases"]} == {"ok"}


@pytest.mark.parametrize("breakage", ["raises", "wrong"])
def test_failed_or_wrong_cases_are_written_then_exit_3(monkeypatch, tmp_path, capsys, breakage):
    backend = kb.get_backend("python")
    honest = backend.entropy_rows

    def broken(p):
        if breakage == "raises":
            raise RuntimeError("kernel exploded")
        values, status = honest(p)
        return values * 1.01, status

    monkeypatch.setattr(backend, "entropy_rows", broken)
    out = tmp_path / "bad.json"
    assert cli.main([*QUICK_ARGS, "--backends", "numpy,python", "--out",
                     str(out)]) == cli.EXIT_CASES_FAILED == 3
    statuses = {c["target"]: c["status"] for c in load_results(out)["cases"]}
    assert statuses == {"numpy": "ok",
                        "python": "failed" if breakage == "raises" else "wrong-result"}
    assert "python" in capsys.readouterr().err


def test_cli_run_then_report(tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["run", "--sizes", "1000", "--kernels", "entropy", "--backends", "numpy",
                 "--dtypes", "float32", "--no-peers", "--no-compile", "--no-bandwidth",
                 "--out", str(out)]) == 0
    results = load_results(out)
    assert results["command"].startswith("kernbench run --sizes 1000")
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "README.md").exists()


def test_version_is_the_installed_distributions(capsys):
    import importlib.metadata

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"kernbench {importlib.metadata.version('kernbench')}"


def test_version_falls_back_to_the_package_when_not_installed(monkeypatch):
    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert cli.version() == kb.__version__


def test_python_m_kernbench_is_the_command():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "kernbench", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"kernbench {cli.version()}"
    proc = subprocess.run([sys.executable, "-m", "kernbench", "frobnicate"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice: 'frobnicate'" in proc.stderr
