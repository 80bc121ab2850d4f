"""The results file: one JSON document per run, with a versioned, documented structure.

Schema version 1::

    {
      "schema_version": 1,
      "kind": "kernbench-results",
      "created_utc": "2026-11-28T18:00:00Z",
      "command": "kernbench run --preset quick",        # how the run was started
      "settings": {                                     # what was asked for
        "preset": "quick" | "full" | null, "elements": [int] | null, "kernels": [str],
        "backends": [str], "peers": bool, "dtypes": [str], "threads": int, "seed": int,
        "python_budget_s": float, "timing": {TimingPolicy fields}
      },
      "machine": {... see kernbench.bench.probe.machine_info; "bandwidth" holds
                  {"one_thread": {"copy_gbps", "triad_gbps"}, "all_threads": {...}}},
      "compile": [                                      # JIT cost, from fresh processes
        {"backend", "kernel", "dtype", "status": "ok" | "failed", "reason",
         "compile_s", "cold_first_call_s", "cache_load_s", "cached_first_call_s",
         "cold_import_s", "cached_import_s", "probe_elements"}
      ],
      "cases": [                                        # one per kernel x dtype x size x target
        {"kernel", "dtype", "shape": [int], "size_label": "64x50257", "elements": int,
         "target": "numba" | "torch.fused" | ..., "target_kind": "backend" | "peer",
         "status": one of STATUSES, "reason": str | null,
         "bytes_moved": int, "flops": int,
         # present when status == "ok":
         "samples_s": [float], "calls_per_sample": int, "first_call_s": float,
         "median_s", "q1_s", "q3_s", "iqr_s", "min_s": float, "noisy": bool,
         "gbps": float, "gflops": float, "max_abs_err": float | null}
      ],
      "elapsed_s": float
    }

Times are seconds per call. ``samples_s`` holds every sample (each the mean of
``calls_per_sample`` back-to-back calls). ``gbps`` is ``bytes_moved / median_s / 1e9``.
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA_VERSION = 1
KIND = "kernbench-results"
STATUSES = ("ok", "skipped", "unavailable", "failed", "wrong-result", "timeout")
TARGET_KINDS = ("backend", "peer")

_NUMBER = (int, float)
_TOP_LEVEL = {"schema_version": int, "kind": str, "created_utc": str, "command": str,
              "settings": dict, "machine": dict, "compile": list, "cases": list}
_SETTINGS = {"kernels": list, "backends": list, "dtypes": list, "threads": int}
_CASE = {"kernel": str, "dtype": str, "shape": list, "size_label": str, "elements": int,
         "target": str, "target_kind": str, "status": str, "bytes_moved": int, "flops": int}
_OK_CASE = {"samples_s": list, "calls_per_sample": int, "first_call_s": _NUMBER,
            "median_s": _NUMBER, "q1_s": _NUMBER, "q3_s": _NUMBER, "iqr_s": _NUMBER,
            "min_s": _NUMBER, "noisy": bool, "gbps": _NUMBER, "gflops": _NUMBER}
_COMPILE = {"backend": str, "kernel": str, "dtype": str, "status": str}


class ResultsError(ValueError):
    """A results file that does not follow the schema; the message says where."""


def _require(obj: dict, fields: dict, where: str) -> None:
    if not isinstance(obj, dict):
        raise ResultsError(f"{where} must be an object; got {type(obj).__name__}")
    for name, kind in fields.items():
        if name not in obj:
            raise ResultsError(f"{where} lacks {name!r}")
        value = obj[name]
        # bool is an int in Python: only accept it where a bool is asked for
        if isinstance(value, bool) and kind is not bool:
            raise ResultsError(f"{where}.{name} must be {kind}; got a bool")
        if not isinstance(value, kind):
            raise ResultsError(f"{where}.{name} has type {type(value).__name__}")


def validate_results(obj) -> dict:
    """Check ``obj`` against schema version 1; return it, or raise ResultsError saying where."""
    _require(obj, _TOP_LEVEL, "results")
    if obj["kind"] != KIND:
        raise ResultsError(f"results.kind must be {KIND!r}; got {obj['kind']!r}")
    if obj["schema_version"] != SCHEMA_VERSION:
        raise ResultsError(f"results.schema_version is {obj['schema_version']}; this kernbench "
                           f"reads version {SCHEMA_VERSION}")
    _require(obj["settings"], _SETTINGS, "results.settings")
    for i, rec in enumerate(obj["compile"]):
        _require(rec, _COMPILE, f"results.compile[{i}]")
    seen = set()
    for i, case in enumerate(obj["cases"]):
        where = f"results.cases[{i}]"
        _require(case, _CASE, where)
        if case["status"] not in STATUSES:
            raise ResultsError(f"{where}.status is {case['status']!r}; expected one of "
                               f"{', '.join(STATUSES)}")
        if case["target_kind"] not in TARGET_KINDS:
            raise ResultsError(f"{where}.target_kind is {case['target_kind']!r}")
        if not all(isinstance(d, int) and d > 0 for d in case["shape"]):
            raise ResultsError(f"{where}.shape must hold positive integers")
        if case["status"] == "ok":
            _require(case, _OK_CASE, where)
            samples = case["samples_s"]
            if not samples or not all(isinstance(s, _NUMBER) and s >= 0 for s in samples):
                raise ResultsError(f"{where}.samples_s must be a non-empty list of times >= 0")
        elif not isinstance(case.get("reason"), str):
            raise ResultsError(f"{where} has status {case['status']!r} but no reason")
        key = case_key(case)
        if key in seen:
            raise ResultsError(f"{where} repeats the case {key}")
        seen.add(key)
    return obj


def case_key(case: dict) -> tuple:
    """What identifies a case across runs: kernel, dtype, size and target."""
    return (case["kernel"], case["dtype"], case["size_label"], case["target"])


def save_results(obj: dict, path: Path) -> Path:
    validate_results(obj)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)  # never leave a half-written results file behind
    return path


def load_results(path) -> dict:
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path} is not JSON: {exc}") from None
    try:
        return validate_results(obj)
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from None
