"""``kernbench compare A.json B.json``: per-case time ratios, exit 1 on a slowdown.

Cases are matched by kernel, dtype, size and target. The ratio is B's median over A's: above 1
is slower. A case whose ratio passes ``threshold`` counts as a slowdown, unless one of the two
medians is flagged noisy and the quartile ranges overlap (then it is reported as ``noisy`` and
does not fail the comparison: the difference is inside the measured spread).
A case ok in A and not ok in B (failed, wrong-result, ...) is a regression too.
"""

from __future__ import annotations

import sys
from typing import TextIO

from kernbench.bench.report import fmt_time
from kernbench.bench.results import case_key


def _overlap(a: dict, b: dict) -> bool:
    return a["q1_s"] <= b["q3_s"] and b["q1_s"] <= a["q3_s"]


def compare_cases(base: dict, new: dict, threshold: float) -> list[dict]:
    """One row per case present in both runs: ratio and verdict."""
    old = {case_key(c): c for c in base["cases"]}
    rows = []
    for c in new["cases"]:
        key = case_key(c)
        a = old.get(key)
        if a is None:
            continue
        row = {"key": key, "base": a, "new": c, "ratio": None}
        if a["status"] == "ok" and c["status"] == "ok":
            ratio = c["median_s"] / a["median_s"] if a["median_s"] > 0 else float("inf")
            row["ratio"] = ratio
            if ratio > threshold:
                noisy = a.get("noisy") or c.get("noisy")
                row["verdict"] = "noisy" if noisy and _overlap(a, c) else "SLOWER"
            elif ratio < 1 / threshold:
                row["verdict"] = "faster"
            else:
                row["verdict"] = "same"
        elif a["status"] == "ok":
            row["verdict"] = f"BROKEN ({c['status']})"
        else:
            row["verdict"] = f"{a['status']} -> {c['status']}"
        rows.append(row)
    return rows


def compare_runs(base: dict, new: dict, threshold: float = 1.25, out: TextIO = sys.stdout) -> int:
    """Print the per-case ratios; return 1 when a case slowed past ``threshold`` or broke."""
    rows = compare_cases(base, new, threshold)
    print(f"{'kernel':<21} {'dtype':<8} {'size':>12} {'target':<20} {'A':>10} {'B':>10} "
          f"{'B/A':>7}  verdict", file=out)
    bad = 0
    for r in rows:
        kernel, dtype, size, target = r["key"]
        a_t = fmt_time(r["base"].get("median_s")) if r["base"]["status"] == "ok" else "-"
        b_t = fmt_time(r["new"].get("median_s")) if r["new"]["status"] == "ok" else "-"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(f"{kernel:<21} {dtype:<8} {size:>12} {target:<20} {a_t:>10} {b_t:>10} {ratio:>7}  "
              f"{r['verdict']}", file=out)
        if r["verdict"] == "SLOWER" or r["verdict"].startswith("BROKEN"):
            bad += 1
    only_a = {case_key(c) for c in base["cases"]} - {case_key(c) for c in new["cases"]}
    print(f"\n{len(rows)} cases compared, {bad} slower than {threshold:g}x or broken; "
          f"{len(only_a)} only in A", file=out)
    return 1 if bad else 0
