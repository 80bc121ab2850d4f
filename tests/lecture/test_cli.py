"""``kernbench lecture`` and ``python -m kernbench.lecture``: figures and README written, bad
backends refused."""

from __future__ import annotations

import re
import subprocess
import sys

from kernbench import lecture
from kernbench.lecture.report import FIGURES


def test_lecture_command_writes_figures_and_readme(tmp_path):
    out = tmp_path / "lecture"
    assert lecture.main(["--out", str(out), "--quick"]) == 0
    readme = (out / "README.md").read_text(encoding="utf-8")
    for name in FIGURES.values():
        png = out / name
        assert png.stat().st_size > 5000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in readme
    for heading in ("Optimization landscape", "Loops vs NumPy vs Numba", "Temperature",
                    "Gaussian KL", "Maximum entropy", "XOR", "Source coding",
                    "Gradient clipping", "100-500x"):
        assert heading in readme
    # every table: a header, its separator, and rows of as many cells as the header
    tables = re.findall(r"(?m)((?:^\|.*\|\n)+)", readme)
    assert len(tables) >= 10
    for table in tables:
        widths = [line.count(" |") for line in table.splitlines() if not line.startswith("|---")]
        assert len(set(widths)) == 1, table


def test_lecture_command_rejects_unknown_backend(tmp_path, capsys):
    assert lecture.main(["--out", str(tmp_path), "--quick", "--backends", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_python_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "kernbench.lecture", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--out" in proc.stdout and "--quick" in proc.stdout
