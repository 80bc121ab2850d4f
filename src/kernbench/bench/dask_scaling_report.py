"""The ``kernbench dask-scaling`` document: its schema (validate, save, load) and its markdown.

:func:`kernbench.bench.dask_scaling.run_scaling` measures and returns the document;
:func:`save_scaling` and :func:`load_scaling` write and read it as JSON after
:func:`validate_scaling`; :func:`scaling_markdown` is its section of a report and
:func:`write_scaling_readme` the page of its own that ``kernbench dask-scaling`` writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from kernbench.bench import markdown
from kernbench.bench.dask_scaling import CASES, KIND, SCHEMA_VERSION

_TOP = ("schema_version", "kind", "command", "settings", "machine", "numba_threads", "clusters",
        "cases")
_CASE = ("kernel", "dtype", "elements", "workers", "threads_per_worker", "chunks", "numba",
         "dask", "dask_over_numba", "agree")
_CLUSTER = ("workers", "threads_per_worker", "cluster", "small_step", "adam_tasks")


def validate_scaling(doc) -> dict:
    """Check a scaling document's structure; return it, or raise ValueError saying where."""
    def need(obj, keys, where):
        if not isinstance(obj, dict):
            raise ValueError(f"{where} must be an object; got {type(obj).__name__}")
        missing = [k for k in keys if k not in obj]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)}")

    need(doc, _TOP, "dask scaling document")
    if doc["kind"] != KIND or doc["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"not a {KIND} document of version {SCHEMA_VERSION}: kind "
                         f"{doc['kind']!r}, version {doc['schema_version']!r}")
    for i, c in enumerate(doc["cases"]):
        need(c, _CASE, f"cases[{i}]")
        for side in ("numba", "dask"):
            need(c[side], ("median_s", "q1_s", "q3_s", "samples_s"), f"cases[{i}].{side}")
    for i, c in enumerate(doc["clusters"]):
        need(c, _CLUSTER, f"clusters[{i}]")
    return doc


def save_scaling(doc: dict, path) -> None:
    validate_scaling(doc)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def load_scaling(path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    try:
        return validate_scaling(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_scaling_readme(doc: dict, out):
    """``out/README.md``: the scaling section as a page of its own; returns its path."""
    readme = Path(out) / "README.md"
    readme.parent.mkdir(parents=True, exist_ok=True)
    command = doc.get("command") or "kernbench dask-scaling"
    readme.write_text("# kernbench: the dask backend's scaling\n\n"
                      f"Written by `{command}` with its results file `results.json`; every "
                      "figure below comes from that file.\n\n"
                      + scaling_markdown(doc, level=2) + "\n")
    return readme


def _msec(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}"


def _ms(summary: dict) -> str:
    """``median ms (q1-q3)``, three significant digits below 100 ms; ``~``: noisy."""
    mark = " ~" if summary.get("noisy") else ""
    return (f"{_msec(summary['median_s'])} ms ({_msec(summary['q1_s'])}-"
            f"{_msec(summary['q3_s'])}){mark}")


def _elements(n: int) -> str:
    exp = int(math.floor(math.log10(n))) if n > 0 else 0
    return f"1e{exp}" if n == 10**exp else f"{n:,}"


def _row(c: dict, base: dict | None) -> list[str]:
    speedup = (f"{base['dask']['median_s'] / c['dask']['median_s']:.2f}x"
               if base is not None else "-")
    check = "" if c["agree"] else " (results differ!)"
    return [c["kernel"], c["dtype"], _elements(c["elements"]),
            f"{c['workers']} x {c['threads_per_worker']}", str(c["chunks"]), _ms(c["numba"]),
            _ms(c["dask"]), f"**{c['dask_over_numba']:.2f}x**{check}", speedup]


def scaling_markdown(doc: dict, level: int = 2) -> str:
    """The scaling section: the table, where a step's time goes, and what it means."""
    h = "#" * level
    cases = doc["cases"]
    first = {}
    for c in cases:
        first.setdefault((c["kernel"], c["dtype"]), c)
    rows = []
    for kernel, dtype in CASES:
        for c in (c for c in cases if (c["kernel"], c["dtype"]) == (kernel, dtype)):
            base = first[(kernel, dtype)]
            rows.append(_row(c, base if base is not c else None))
    m = doc.get("machine", {})
    parts = [f"{h} Dask scaling", "",
             f"`{doc.get('command') or 'kernbench dask-scaling'}` on {m.get('cpu_model')} "
             f"({m.get('logical_cpus')} logical CPUs), {doc.get('created_utc', '?')}, "
             f"git {m.get('git', {}).get('commit', '?')}"
             f"{' (with local changes)' if m.get('git', {}).get('dirty') else ''}. "
             f"numba runs in the measuring process on {doc['numba_threads']} threads; each "
             "dask cluster is a LocalCluster of worker processes started for the measurement, "
             "with one numba thread per task. Times are medians (quartiles) of "
             f"{doc['settings']['repeats']} calls sampled alternately with numba's after "
             f"{doc['settings']['warmup']} warm-up calls, each call after the previous one's "
             "trailing work is done and a short quiet; `~` marks a noisy median. Inputs "
             "live on the workers before the timing (chunks scattered over them in turn, "
             "grads beside their params), as a model and its grads do on a cluster.", "",
             markdown.table(["kernel", "dtype", "elements", "workers x threads", "chunks", "numba",
                     "dask", "dask / numba", "dask vs first row"], rows), ""]
    spread = []
    for kernel, _ in CASES:
        medians = [c["numba"]["median_s"] for c in cases if c["kernel"] == kernel]
        if len(medians) > 1:
            spread.append(f"{kernel} {_msec(min(medians))} to {_msec(max(medians))} ms")
    if spread:
        parts += ["numba's own medians differ from cluster to cluster (" + ", ".join(spread)
                  + "): its threads share the cores with the idle cluster beside it and with "
                  "whatever else runs on the machine, so read the dask times themselves too.",
                  ""]
    crow = []
    adam = {(c["workers"], c["threads_per_worker"]): c for c in cases if c["kernel"] == "adam"}
    for cl in doc["clusters"]:
        key = (cl["workers"], cl["threads_per_worker"])
        step = adam.get(key)
        tasks = cl["adam_tasks"]["median_s"]
        if step:
            crow.append([f"{key[0]} x {key[1]}", _ms(step["dask"]), _ms(cl["small_step"]),
                         _ms(cl["adam_tasks"]),
                         f"{tasks / step['numba']['median_s']:.2f}x"])
    parts += [f"{h}# Where a dask Adam step's time goes", "",
              f"The fixed cost is an Adam step over "
              f"{_elements(doc['settings']['overhead_elements'])} "
              "elements (one scheduler round trip). The chunk tasks alone are the step's own "
              "task function run on every worker at once on its share of the elements, "
              "without the scheduler, all starting at the same moment; beside them, their "
              "ratio to numba's in-place step. The three are measured apart, so they carry "
              "the machine's noise separately: they show the shares, they do not add up to "
              "the millisecond.", "",
              markdown.table(["workers x threads", "whole step", "fixed cost per step",
                      "chunk tasks alone", "tasks / numba"], crow), ""]
    parts += [f"{h}# What it means for a real cluster", "", _meaning(doc), ""]
    return "\n".join(parts)


def _meaning(doc: dict) -> str:
    """The closing paragraph, with this document's own figures."""
    cases = {(c["kernel"], c["workers"], c["threads_per_worker"]): c for c in doc["cases"]}
    clusters = {(c["workers"], c["threads_per_worker"]): c for c in doc["clusters"]}
    widest = max(clusters, key=lambda k: (k[0] * k[1], k[0]))
    adam, ent = cases.get(("adam", *widest)), cases.get(("entropy", *widest))
    cl = clusters[widest]

    def label(key):
        w, t = key
        return f"{w} worker{'s' if w > 1 else ''} x {t} thread{'s' if t > 1 else ''}"

    text = ["On one machine the workers share the cores and the memory bus that numba's threads "
            "use, so dask can at best match numba there; the ratios are the price of running "
            "through a scheduler (a ratio below 1 is noise in numba's medians)."]
    if adam:
        text.append(
            f"At {label(widest)}, an Adam step costs {adam['dask_over_numba']:.2f}x numba's "
            f"({_msec(adam['dask']['median_s'])} ms): the chunk tasks alone take "
            f"{_msec(cl['adam_tasks']['median_s'])} ms (they write each step's state to new "
            "buffers, so that a step that fails, a worker lost mid-step, leaves the old state "
            "intact and retriable), and a step of any size pays about "
            f"{_msec(cl['small_step']['median_s'])} ms of scheduling.")
    if ent:
        text.append(f"Entropy costs {ent['dask_over_numba']:.2f}x "
                    f"({_msec(ent['dask']['median_s'])} ms).")
    one = (1, 1)
    if widest != one and ("adam", *one) in cases and adam and ent and ("entropy", *one) in cases:
        text.append(
            f"From {label(one)} to {label(widest)} on this machine, the Adam step goes from "
            f"{_msec(cases[('adam', *one)]['dask']['median_s'])} to "
            f"{_msec(adam['dask']['median_s'])} ms (it moves bytes, and one thread already "
            "draws most of what the memory bus gives) and entropy from "
            f"{_msec(cases[('entropy', *one)]['dask']['median_s'])} to "
            f"{_msec(ent['dask']['median_s'])} ms (it computes more per byte).")
    same = [k for k in clusters if k != widest and k[0] * k[1] == widest[0] * widest[1]]
    if adam and same and ("adam", *same[0]) in cases:
        other = cases[("adam", *same[0])]
        close = other["dask"]["median_s"] <= 1.15 * adam["dask"]["median_s"]
        text.append(
            f"{label(same[0])} steps in {_msec(other['dask']['median_s'])} ms against "
            f"{_msec(adam['dask']['median_s'])} ms: the compiled chunk functions release the "
            "GIL, so " + ("a worker's threads serve as well as processes, which only add "
                          "isolation." if close else "threads could serve as well, yet "
                          "processes were faster in this run."))
    per_worker = doc["settings"]["elements"] // widest[0]
    text.append(
        "On a real cluster each worker brings its own cores and memory bandwidth, so a step "
        "over N elements on W machines takes about the chunk-task time for N/W elements plus "
        "the fixed round trip: the state of a model that does not fit one machine is stepped "
        "at the machines' combined bandwidth, as long as each worker's share takes well over "
        f"the round trip (here {_msec(cl['adam_tasks']['median_s'])} ms of chunk tasks "
        f"for {_elements(per_worker)} elements per worker against "
        f"{_msec(cl['small_step']['median_s'])} ms of fixed cost), and as long as the "
        "grads are produced where their params live. Grads shipped to their params' workers "
        f"every step would add a network transfer of their size to each step: "
        f"{per_worker * 4 / 1e9:.1f} GB of float32 grads per worker here, "
        f"{per_worker * 4 * 8 / 10e9:.2f} s at 10 Gbit/s.")
    return " ".join(text)


__all__ = ["load_scaling", "save_scaling", "scaling_markdown", "validate_scaling",
           "write_scaling_readme"]
