"""The results file: one JSON document per run, with a versioned, documented structure.

Schema version 3 (this kernbench writes it, and reads versions 1 to 3)::

    {
      "schema_version": 3,
      "kind": "kernbench-results",
      "created_utc": "2026-11-28T18:00:00Z",
      "command": "kernbench run --preset quick",        # how the run was started
      "settings": {                                     # what was asked for
        "preset": "quick" | "full" | null, "elements": [int] | null, "kernels": [str],
        "backends": [str], "peers": bool, "dtypes": [str], "threads": int, "seed": int,
        "python_budget_s": float, "timing": {TimingPolicy fields}
      },
      "machine": {... see kernbench.bench.probe.machine_info; "bandwidth" holds
                  {"one_thread": {"copy_gbps", "triad_gbps"}, "all_threads": {...}},
                  "caches": {"l1d_bytes", "l2_bytes", "l3_bytes", "llc_bytes": int,
                             "source": str} | {"error": str},                  # (new in v3)
                  "compute_roofs": {"log_gps", "exp_gps", "fma_gflops":
                                    {"float32": float, "float64": float}, "threads", ...},
                                                                               # (new in v3)
                  "gpu": {"available": false, "reason": str}               # (new in v2)
                       | {"available": true, "name": str, "compute_capability": [int, int],
                          "multiprocessors": int, "memory_bytes": int | null,
                          "driver_version", "driver_cuda_version", "toolkit_cuda_version":
                          str | null, "nominal_bandwidth_gbps": float | null,
                          "copy_bandwidth": {"array_bytes", "repeats", "memcpy_gbps",
                                             "kernel_gbps", "best_gbps", ...} | {"error"}},
                  "dask_cluster": {"scheduler", "workers", "threads", "threads_per_worker",
                                   "memory_limit_bytes", "worker_processes", "embedded"}
                                  | {"error"}    # only when the dask backend ran
                 },
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
         "working_set_bytes": int, "fits_llc": bool | null, "memory_bound": bool,  # (new in v3)
         # present when status == "ok":
         "samples_s": [float], "calls_per_sample": int, "first_call_s": float,
         "median_s", "q1_s", "q3_s", "iqr_s", "min_s": float, "noisy": bool,
         "gbps": float, "gflops": float, "max_abs_err": float | null,
         "timer": one of TIMERS,                                            # (new in v2)
         "cache_regime": "warm",                # what the samples above are (new in v3)
         "process": "main" | "torch",           # the process it was timed in (new in v3)
         "contestant_settings": {"pid", "environment", "numba_threads",
                                 "numba_threading_layer", "torch_threads", ...},  # (v3)
         "cold": {"samples_s": [float], "calls_per_sample": 1, "flush_bytes": int,
                  "median_s", "q1_s", "q3_s", "iqr_s", "min_s", "noisy"},   # (new in v3)
         # a target computing on a device (new in v2):
         "inputs": "device" | "host",
         "transfer": {"bytes": int, "arrays": int, "host_to_device_s": float,
                      "device_to_host_s": float, "library", "timer", "statistic"}
                     | {"bytes": int, "error": str} | null}
      ],
      "elapsed_s": float
    }

Times are seconds per call. ``samples_s`` holds every sample (each the mean of
``calls_per_sample`` back-to-back calls). ``gbps`` is ``bytes_moved / median_s / 1e9``.
``timer`` says what measured the samples: ``host`` (the host's clock around calls that wait
for their result), ``cuda-event`` (device time between CUDA events around calls queued back to
back) or ``simulator`` (the host's clock around launches on numba's CUDA simulator).
``inputs`` says where a device target's inputs were during the timing: ``device`` (copied there
before it, so no transfer is timed) or ``host`` (every call copies them in and its results out);
``transfer`` is the time to copy the case's inputs to the device and back, measured apart.
Version 1 files have no ``gpu``, ``timer``, ``inputs`` or ``transfer``; they read as host-timed
runs.

Contestants (v3): torch's host peers are timed in a worker process of their own
(:mod:`kernbench.bench.isolation`); ``process`` names it, ``contestant_settings`` (also in
``machine.contestant_settings``, by process) states the threads, OpenMP environment and numba
threading layer the target ran under.

Cache regime (v3): ``working_set_bytes`` is the bytes of the distinct arrays one call touches;
``fits_llc`` whether they fit in the last-level cache (``machine.caches.llc_bytes``; null when
the sizes are unknown). The samples are *warm* (repeated calls on the same arrays). A
``memory_bound`` case that fits also has ``cold``: single calls, each after a buffer of
``flush_bytes`` was written outside the timed region, so the arrays come from DRAM. Files before
v3 read as warm, with the regime unknown.
"""

from __future__ import annotations

import json
from pathlib import Path

from kernbench.bench.timing import TIMERS

SCHEMA_VERSION = 3
#: The versions validate_results accepts: each one adds optional fields to the one before.
READABLE_VERSIONS = (1, 2, 3)
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
_GPU = {"name": str, "compute_capability": list, "multiprocessors": int}
INPUT_PLACES = ("device", "host")


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


def _check_gpu(gpu, where: str) -> None:
    if not isinstance(gpu, dict) or not isinstance(gpu.get("available"), bool):
        raise ResultsError(f"{where} must be an object with a bool 'available'")
    if not gpu["available"]:
        if not isinstance(gpu.get("reason"), str):
            raise ResultsError(f"{where} says no GPU is available but gives no reason")
        return
    _require(gpu, _GPU, where)
    cc = gpu["compute_capability"]
    if len(cc) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in cc):
        raise ResultsError(f"{where}.compute_capability must be [major, minor]")


def _check_device_fields(case: dict, where: str) -> None:
    """The fields version 2 adds to a case, where present."""
    if "timer" in case and case["timer"] not in TIMERS:
        raise ResultsError(f"{where}.timer is {case['timer']!r}; expected one of "
                           f"{', '.join(TIMERS)}")
    if "inputs" in case and case["inputs"] not in INPUT_PLACES:
        raise ResultsError(f"{where}.inputs is {case['inputs']!r}; expected device or host")
    transfer = case.get("transfer")
    if transfer is not None:
        if not isinstance(transfer, dict):
            raise ResultsError(f"{where}.transfer must be an object or null")
        if "error" not in transfer:
            _require(transfer, {"bytes": int, "host_to_device_s": _NUMBER,
                                "device_to_host_s": _NUMBER}, f"{where}.transfer")


def validate_results(obj) -> dict:
    """Check ``obj`` against its schema version (any of READABLE_VERSIONS); return it, or raise
    ResultsError saying where."""
    _require(obj, _TOP_LEVEL, "results")
    if obj["kind"] != KIND:
        raise ResultsError(f"results.kind must be {KIND!r}; got {obj['kind']!r}")
    version = obj["schema_version"]
    if version not in READABLE_VERSIONS:
        raise ResultsError(f"results.schema_version is {version}; this kernbench reads "
                           f"versions {', '.join(map(str, READABLE_VERSIONS))}")
    _require(obj["settings"], _SETTINGS, "results.settings")
    if version >= 2 and "gpu" in obj["machine"]:
        _check_gpu(obj["machine"]["gpu"], "results.machine.gpu")
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
        if version >= 2:
            _check_device_fields(case, where)
        if case["status"] == "ok":
            _require(case, _OK_CASE, where)
            samples = case["samples_s"]
            if not samples or not all(isinstance(s, _NUMBER) and s >= 0 for s in samples):
                raise ResultsError(f"{where}.samples_s must be a non-empty list of times >= 0")
            cold = case.get("cold")
            if cold is not None:
                _require(cold, {"samples_s": list, "median_s": _NUMBER, "q1_s": _NUMBER,
                                "q3_s": _NUMBER}, f"{where}.cold")
                if not cold["samples_s"] or not all(isinstance(s, _NUMBER) and s >= 0
                                                    for s in cold["samples_s"]):
                    raise ResultsError(f"{where}.cold.samples_s must be a non-empty list of "
                                       f"times >= 0")
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
