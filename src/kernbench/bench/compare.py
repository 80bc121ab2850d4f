"""``kernbench compare A.json B.json``: which cases changed between two runs, from raw samples.

Cases are matched by kernel, dtype, size and target. For each case measured in both runs the
ratio is the median of B's samples over the median of A's (above 1: B is slower), with a 95%
bootstrap interval, and the p-value of a two-sided Mann-Whitney U test of the two sample sets
(:mod:`kernbench.bench.stats`). The verdict, as asv's ``compare`` makes it:

* ``SLOWER`` / ``FASTER``: the change is significant (p < ``alpha``) AND beyond ``threshold``;
* ``unsure``: the medians differ past the threshold but the samples do not tell the runs apart
  (too few, or too spread): no call is made;
* ``same``: within the threshold (significant or not: a 3% change is not a regression);
* ``BROKEN (status)``: ok in A, failed, wrong-result or timeout in B; other status changes are
  listed as ``A-status -> B-status``.

Relative mode (``relative_to="numpy"``): each target is judged by its per-round ratio to the
reference backend measured in the same run (the runner samples the targets of a case
round-robin, so sample ``i`` of every target comes from round ``i``). A machine that is 30%
slower for the second run slows the reference alike and cancels; what is left is the target's
own change. The reference itself gets no verdict there.

Differences between the runs that make any comparison doubtful (machine, library versions,
threads, timing policy, environment) are printed as warnings before the table.

Exit status: 0, no confident slowdown; 1, at least one case is ``SLOWER``; 3, no slowdown but a
case broke (the same code as ``kernbench run`` for a failed case).
"""

from __future__ import annotations

import math
import sys
from typing import TextIO

from kernbench.bench.report_data import fmt_time
from kernbench.bench.results import case_key
from kernbench.bench.stats import ALPHA, change_p_value, paired_ratios, ratio_interval

EXIT_SLOWER, EXIT_BROKEN = 1, 3
BROKEN_STATUSES = ("failed", "wrong-result", "timeout")
#: Verdicts that --only-changed hides.
UNCHANGED = ("same", "unsure", "reference")


def _reference_samples(run: dict, reference: str) -> dict:
    return {(c["kernel"], c["dtype"], c["size_label"]): c["samples_s"] for c in run["cases"]
            if c["target"] == reference and c["status"] == "ok"}


def _judge(ratio: float, p: float, threshold: float, alpha: float) -> str:
    beyond = ratio > threshold or ratio < 1 / threshold
    if not beyond:
        return "same"
    if p >= alpha:
        return "unsure"
    return "SLOWER" if ratio > 1 else "FASTER"


def compare_cases(base: dict, new: dict, threshold: float = 1.25,
                  relative_to: str | None = None, alpha: float = ALPHA) -> list[dict]:
    """One row per case present in both runs: ratio, interval, p-value and verdict."""
    old = {case_key(c): c for c in base["cases"]}
    refs = ((_reference_samples(base, relative_to), _reference_samples(new, relative_to))
            if relative_to else None)
    rows = []
    for c in new["cases"]:
        key = case_key(c)
        a = old.get(key)
        if a is None:
            continue
        row = {"key": key, "base": a, "new": c, "ratio": None, "low": None, "high": None,
               "p": None}
        rows.append(row)
        if a["status"] != "ok" or c["status"] != "ok":
            if a["status"] == "ok" and c["status"] in BROKEN_STATUSES:
                row["verdict"] = f"BROKEN ({c['status']})"
            elif a["status"] == c["status"]:
                row["verdict"] = f"{a['status']}"
            else:
                row["verdict"] = f"{a['status']} -> {c['status']}"
            continue
        before, after = a["samples_s"], c["samples_s"]
        if relative_to:
            if c["target"] == relative_to:
                row["verdict"] = "reference"
                continue
            case = key[:3]
            if case not in refs[0] or case not in refs[1]:
                row["verdict"] = f"no {relative_to} reference"
                continue
            before = paired_ratios(before, refs[0][case])
            after = paired_ratios(after, refs[1][case])
        ratio, low, high = ratio_interval(after, before)
        p = change_p_value(before, after)
        row.update(ratio=ratio, low=low, high=high, p=p,
                   verdict=_judge(ratio, p, threshold, alpha))
    return rows


#: Fields that differ between any two runs and say nothing about comparability.
IGNORED_FIELDS = ("pid",)


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for name in sorted((set(a) | set(b)) - set(IGNORED_FIELDS)):
        x, y = a.get(name), b.get(name)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _differences(x, y, f"{prefix}{name}.")
        elif x != y:
            out.append(f"{prefix}{name}: {x!r} -> {y!r}")
    return out


#: What must match for two runs' times to be comparable: machine fields, then settings.
MACHINE_FIELDS = ("hostname", "platform", "cpu_model", "logical_cpus", "usable_cpus", "threads",
                  "numba_threads", "torch_threads", "numba_threading_layer", "versions",
                  "environment", "caches", "contestant_settings")
SETTINGS_FIELDS = ("threads", "timing", "seed", "cold", "isolate")


def run_warnings(base: dict, new: dict) -> list[str]:
    """The differences between two runs' machines, versions and settings."""
    warnings = []
    ma, mb = base.get("machine", {}), new.get("machine", {})
    for name in MACHINE_FIELDS:
        if name in ma or name in mb:
            warnings += [f"machine {d}" for d in _differences({name: ma.get(name)},
                                                              {name: mb.get(name)})]
    sa, sb = base.get("settings", {}), new.get("settings", {})
    for name in SETTINGS_FIELDS:
        if name in sa or name in sb:
            warnings += [f"settings {d}" for d in _differences({name: sa.get(name)},
                                                               {name: sb.get(name)})]
    return warnings


def _fmt_ratio(row: dict) -> tuple[str, str, str]:
    if row["ratio"] is None:
        return "-", "-", "-"
    interval = ("" if row["low"] is None or math.isnan(row["low"])
                else f"[{row['low']:.2f}, {row['high']:.2f}]")
    return f"{row['ratio']:.2f}", interval, f"{row['p']:.2g}"


def compare_runs(base: dict, new: dict, threshold: float = 1.25, out: TextIO = sys.stdout,
                 relative_to: str | None = None, only_changed: bool = False,
                 alpha: float = ALPHA) -> int:
    """Print the warnings and per-case verdicts; return the exit status (module docstring)."""
    for warning in run_warnings(base, new):
        print(f"warning: the runs differ: {warning}", file=out)
    ga = base.get("machine", {}).get("git", {}).get("commit")
    gb = new.get("machine", {}).get("git", {}).get("commit")
    if ga or gb:
        print(f"A: commit {str(ga)[:10]}; B: commit {str(gb)[:10]}", file=out)
    rows = compare_cases(base, new, threshold, relative_to, alpha)
    what = f"B/A of the time relative to {relative_to}" if relative_to else "B/A"
    print(f"ratio: {what} (medians), 95% bootstrap interval; p: Mann-Whitney U; a change "
          f"counts when p < {alpha:g} and the ratio is past {threshold:g}x", file=out)
    print(f"{'kernel':<21} {'dtype':<8} {'size':>12} {'target':<20} {'A':>10} {'B':>10} "
          f"{'ratio':>6} {'interval':>14} {'p':>8}  verdict", file=out)
    counts: dict = {}
    for r in rows:
        verdict = r["verdict"]
        kind = verdict.split(" ")[0]
        counts[kind] = counts.get(kind, 0) + 1
        if only_changed and (verdict in UNCHANGED or verdict == r["base"]["status"]):
            continue
        kernel, dtype, size, target = r["key"]
        a_t = fmt_time(r["base"].get("median_s")) if r["base"]["status"] == "ok" else "-"
        b_t = fmt_time(r["new"].get("median_s")) if r["new"]["status"] == "ok" else "-"
        ratio, interval, p = _fmt_ratio(r)
        print(f"{kernel:<21} {dtype:<8} {size:>12} {target:<20} {a_t:>10} {b_t:>10} "
              f"{ratio:>6} {interval:>14} {p:>8}  {verdict}", file=out)
    only_a = {case_key(c) for c in base["cases"]} - {case_key(c) for c in new["cases"]}
    slower, broken = counts.get("SLOWER", 0), counts.get("BROKEN", 0)
    print(f"\n{len(rows)} cases compared: {slower} SLOWER, {counts.get('FASTER', 0)} FASTER, "
          f"{counts.get('unsure', 0)} unsure (past {threshold:g}x, not significant), "
          f"{counts.get('same', 0)} same, {broken} broken; {len(only_a)} only in A", file=out)
    if slower:
        return EXIT_SLOWER
    return EXIT_BROKEN if broken else 0
