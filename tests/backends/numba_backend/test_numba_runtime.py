"""The numba backend's task runtime (``_numba_runtime``) and its cache (``_numba_cache``): the
choice of runtime, loading from the cache in a fresh process, no stale cache after an edit,
tuned helpers that emit no code of their own, tuned and plain runtimes giving the same bits,
and threads under numba's workqueue layer."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

numba = pytest.importorskip("numba")
R = pytest.importorskip("kernbench.backends._numba_runtime")
NB = pytest.importorskip("kernbench.backends.numba_backend")

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src"


def _run_python(code: str, env: dict | None = None, path=(SRC, ROOT), timeout=900):
    """Run ``code`` in a fresh interpreter with ``path`` first on its import path."""
    full = dict(os.environ if env is None else env)
    full["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=timeout)


def _last_json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- choice

def test_runtime_in_use_is_reported():
    assert NB.runtime_name() == R.RUNTIME in R.RUNTIMES
    forced = os.environ.get(R.ENV_VAR, "").strip().lower()
    if forced:
        assert forced == R.RUNTIME


def test_invalid_runtime_variable_is_a_clear_error():
    proc = _run_python("import kernbench.backends.numba_backend",
                       env=dict(os.environ, KERNBENCH_NUMBA_RUNTIME="fast"))
    assert proc.returncode != 0
    assert "ValueError: KERNBENCH_NUMBA_RUNTIME must be 'tuned' or 'plain'" in proc.stderr
    assert "'fast'" in proc.stderr


_FALLBACK = """
import json, warnings
import numba
{setup}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from kernbench.backends import _numba_runtime as R
    from kernbench import info
    import numpy as np
    value = info.entropy(np.array([0.25, 0.25, 0.5]), backend="numba")
ours = [str(w.message) for w in caught if issubclass(w.category, R.NumbaRuntimeWarning)]
print(json.dumps(dict(runtime=R.RUNTIME, warnings=ours, value=value)))
"""


def _fallback_env(tmp_path, runtime=None):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop(R.ENV_VAR, None)
    if runtime:
        env[R.ENV_VAR] = runtime
    return env


def test_untested_numba_series_falls_back_to_plain_with_one_warning(tmp_path):
    out = _last_json(_run_python(_FALLBACK.format(setup="numba.__version__ = '0.99.0'"),
                                 env=_fallback_env(tmp_path)))
    assert out["runtime"] == "plain"
    assert len(out["warnings"]) == 1 and "numba 0.99.0 is outside" in out["warnings"][0]
    assert out["value"] == pytest.approx(1.5 * np.log(2.0), rel=1e-12)


_BREAK_PUBLISH = """
import llvmlite.binding
add_symbol = llvmlite.binding.add_symbol
def refuse(name, address):
    if name.startswith("kernbench"):
        raise OSError("no symbol table")
    add_symbol(name, address)
llvmlite.binding.add_symbol = refuse
"""


def test_tuned_runtime_that_fails_to_build_falls_back_with_one_warning(tmp_path):
    out = _last_json(_run_python(_FALLBACK.format(setup=_BREAK_PUBLISH),
                                 env=_fallback_env(tmp_path)))
    assert out["runtime"] == "plain"
    assert len(out["warnings"]) == 1
    assert "does not build" in out["warnings"][0] and "no symbol table" in out["warnings"][0]
    assert out["value"] == pytest.approx(1.5 * np.log(2.0), rel=1e-12)


def test_forced_tuned_runtime_that_fails_to_build_is_an_error(tmp_path):
    proc = _run_python(_FALLBACK.format(setup=_BREAK_PUBLISH),
                       env=_fallback_env(tmp_path, "tuned"))
    assert proc.returncode != 0
    assert "KERNBENCH_NUMBA_RUNTIME=tuned, but" in proc.stderr and "no symbol table" in proc.stderr


def test_forced_plain_runtime_gives_no_warning(tmp_path):
    out = _last_json(_run_python(_FALLBACK.format(setup=""), env=_fallback_env(tmp_path, "plain")))
    assert out["runtime"] == "plain" and out["warnings"] == []


# ---------------------------------------------------------------------------- cache

_CACHE_PROBE = """
import json
import numpy as np
import kernbench
from kernbench.backends import _dask_kernels as D, _numba_kernels as K, _numba_runtime as R
p = np.array([[0.1, 0.2, 0.7], [1.0, 3.0, 0.5]])
values, status = np.empty(2), np.empty(2, dtype=np.int8)
K.entropy_rows(p, values, status, 2, 3, False)
dask_values, _ = D.entropy_final(np.array([[2.0, 0.5, 0.0]]))
stats = [K.entropy_rows.stats, D.entropy_final.stats]
print(json.dumps(dict(file=kernbench.__file__, runtime=R.RUNTIME, values=values.tolist(),
                      dask=dask_values.tolist(),
                      hits=sum(sum(s.cache_hits.values()) for s in stats),
                      misses=sum(sum(s.cache_misses.values()) for s in stats))))
"""


@pytest.mark.parametrize("runtime", R.RUNTIMES)
def test_cache_loads_in_a_fresh_process_and_an_edited_helper_is_never_stale(tmp_path, runtime):
    """A scratch copy of the package: the first process compiles, the second loads every
    kernel from the cache with the same results; after an edit of ``_log`` in _numba_math.py
    (a file the kernels and the dask kernels only call into), a third process compiles again
    and computes with the edited helper."""
    shutil.copytree(SRC / "kernbench", tmp_path / "kernbench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), KERNBENCH_NUMBA_RUNTIME=runtime)

    def probe():
        out = _last_json(_run_python(_CACHE_PROBE, env=env, path=(tmp_path,)))
        assert out["file"].startswith(str(tmp_path)) and out["runtime"] == runtime
        return out

    def keyed_dirs():
        return sorted(p.name for p in cache.iterdir() if p.name.startswith("kernbench-numba-"))

    cold = probe()
    assert cold["hits"] == 0 and cold["misses"] >= 2
    first_dirs = keyed_dirs()
    assert len(first_dirs) == 1 and f"-{runtime}-" in first_dirs[0]

    cached = probe()
    assert cached["misses"] == 0 and cached["hits"] >= 2
    assert cached["values"] == cold["values"] and cached["dask"] == cold["dask"]

    math_file = tmp_path / "kernbench" / "backends" / "_numba_math.py"
    text = math_file.read_text()
    start = text.index("def _log(x):")
    edited, count = re.subn(r"\n    return r\n", "\n    return 2.0 * r\n", text[start:], count=1)
    assert count == 1
    math_file.write_text(text[:start] + edited)

    after = probe()
    assert after["hits"] == 0 and after["misses"] >= 2
    # log doubled: entropy (S log S - A) / S doubles exactly; dask's final step, which takes
    # A as given, moves from (2 log 2 - 0.5) / 2 to (4 log 2 - 0.5) / 2.
    assert after["values"] == [2.0 * v for v in cold["values"]] and cold["values"][0] > 0
    assert cold["dask"][0] == pytest.approx(np.log(2.0) - 0.25, rel=1e-12)
    assert after["dask"][0] == pytest.approx(2.0 * np.log(2.0) - 0.25, rel=1e-12)
    new_dirs = keyed_dirs()
    assert len(new_dirs) == 1 and new_dirs != first_dirs  # the stale directory is gone


def test_processes_filling_one_empty_cache_at_once_agree(tmp_path):
    """Three fresh processes (as a Dask cluster's workers start) compile into one empty cache
    at the same time; a fourth then loads everything from it."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join((str(SRC), str(ROOT)))
    procs = [subprocess.Popen([sys.executable, "-c", _CACHE_PROBE], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    last = _last_json(_run_python(_CACHE_PROBE, env=env))
    assert last["misses"] == 0 and last["hits"] >= 2
    for out in outs:
        assert (out["values"], out["dask"]) == (last["values"], last["dask"])


# ---------------------------------------------------------------------------- tuned helpers

def test_tuned_helpers_and_tasks_emit_no_code_of_their_own(rng):
    if R.RUNTIME != "tuned":
        pytest.skip("the plain runtime compiles helpers as ordinary functions")
    options = dict(R.OPTS, cache=False)

    @R.linked(**options)
    def twice_plus_one(x):
        return 2.0 * x + 1.0

    @numba.njit(**options)
    def task(t, x, out):
        out[t] = twice_plus_one(x[t])

    @numba.njit(**options)
    def kernel(x, out, parallel):
        R.run(task, x.size, (x, out), parallel)

    x = rng.normal(size=64)
    for parallel in (False, True):
        out = np.zeros_like(x)
        kernel(x, out, parallel)
        np.testing.assert_array_equal(out, 2.0 * x + 1.0)
    # Neither was compiled by its own dispatcher, and their libraries were only linked.
    assert not twice_plus_one._kb_dispatcher.overloads and not task.overloads
    names = {"twice_plus_one", "task"}
    libraries = [lib for lib in R.linked_libraries() if lib.name.split(".")[-1] in names]
    assert {lib.name.split(".")[-1] for lib in libraries} == names
    assert not any(lib._finalized for lib in libraries)
    # The task's code is in the kernel's own module (its entry defined there, not declared;
    # the helper is inlined into it).
    llvm_ir = next(iter(kernel.inspect_llvm().values()))
    assert re.search(r"define [^\n]*task[^\n]*\$task_entry", llvm_ir)


# ---------------------------------------------------------------------------- tuned = plain

def every_kernel() -> dict:
    """Every kernel of the numba backend, float32 and float64, serial and on the threads
    (sizes on both sides of the parallel thresholds, long rows cut into chunks)."""
    from kernbench import info
    from kernbench.optim import SGD, Adam, AdamW, clip_grad_norm, cosine_schedule

    rng = np.random.default_rng(2024)
    out = {}
    n_long = 2 * NB.PARALLEL_MIN_BYTES // 4 + 17
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        for n, rows in ((300, 4), (70_001, 3)):
            p = rng.random((rows, n)).astype(dtype)
            q = rng.random((rows, n)).astype(dtype)
            x = (rng.normal(size=(rows, n)) * 4.0).astype(dtype)
            key = f"{name}-{rows}x{n}"
            out[f"entropy-{key}"] = info.entropy(p, backend="numba")
            out[f"cross_entropy-{key}"] = info.cross_entropy(p, q, backend="numba")
            out[f"kl-{key}"] = info.kl_divergence(p, q, backend="numba")
            out[f"js-{key}"] = info.js_divergence(p, q, backend="numba")
            out[f"softmax-{key}"] = info.softmax(x, 0.7, backend="numba")
            out[f"log_softmax-{key}"] = info.log_softmax(x, backend="numba")
            targets = rng.integers(0, n, size=rows)
            out[f"ce_logits-{key}"] = info.cross_entropy_logits(
                x, targets, reduction="none", label_smoothing=0.1, backend="numba")
            out[f"mi-{key}"] = np.array([info.mutual_information(p, backend="numba"),
                                         info.conditional_entropy(p, backend="numba")])
        for n in (1000, n_long):
            key = f"{name}-{n}"
            mu, sigma = rng.normal(size=n).astype(dtype), rng.uniform(0.1, 3.0, n).astype(dtype)
            out[f"gaussian_kl-{key}"] = info.gaussian_kl(mu, sigma, dtype(0.5), sigma[::-1],
                                                         backend="numba")
            out[f"gaussian_entropy-{key}"] = info.gaussian_entropy(sigma, backend="numba")
            # Adam over two tensors: the multi-tensor kernel; AdamW over one: the plain step
            for cls, kwargs, count in ((Adam, dict(amsgrad=True), 2), (AdamW, {}, 1),
                                       (SGD, dict(momentum=0.9, nesterov=True,
                                                  weight_decay=0.01), 2)):
                params = [rng.normal(size=n).astype(dtype)] + [
                    rng.normal(size=37).astype(dtype)] * (count - 1)
                opt = cls(params, lr=1e-2, backend="numba", **kwargs)
                for _ in range(3):
                    opt.step([rng.normal(size=a.size).astype(dtype) for a in params])
                out[f"{cls.__name__}-{key}"] = np.concatenate(opt.params)
            grads = [rng.normal(size=n).astype(dtype)]
            out[f"clip-{key}"] = np.append(grads[0], clip_grad_norm(grads, 1.0, backend="numba"))
    out["cosine"] = cosine_schedule(np.arange(50.0), 40, 0.1, 0.001, backend="numba")
    return out


_OTHER_RUNTIME = """
import numpy as np
from tests.backends.numba_backend.test_numba_runtime import every_kernel
from kernbench.backends import _numba_runtime as R
np.savez(OUT, runtime=np.array(R.RUNTIME), **every_kernel())
"""


def test_tuned_and_plain_runtimes_agree_bit_for_bit(tmp_path):
    """The other runtime in a fresh process, this one here: the same bits from every kernel.
    (Both run the same task code on the same chunks, in the same order; only how that code
    is compiled and reached differs.)"""
    other = "plain" if R.RUNTIME == "tuned" else "tuned"
    path = tmp_path / "other.npz"
    proc = _run_python(_OTHER_RUNTIME.replace("OUT", repr(str(path))),
                       env=dict(os.environ, KERNBENCH_NUMBA_RUNTIME=other), timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = np.load(path)
    assert str(theirs["runtime"]) == other
    ours = every_kernel()
    assert set(ours) == set(theirs.files) - {"runtime"}
    for name, value in ours.items():
        np.testing.assert_array_equal(value, theirs[name], err_msg=name)


# ---------------------------------------------------------------------------- threads

_THREADS = """
import threading
import numba
import numpy as np
from kernbench import info
p = np.random.default_rng(0).random(100_000)
x = np.random.default_rng(1).normal(size=(8, 20_000)).astype(np.float32)
want = (info.entropy(p, backend="numba"), info.softmax(x, backend="numba"))
bad = []

def work():
    for _ in range(40):
        got = (info.entropy(p, backend="numba"), info.softmax(x, backend="numba"))
        if got[0] != want[0] or not np.array_equal(got[1], want[1]):
            bad.append(got)

threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(numba.threading_layer(), len(bad))
"""


def test_python_threads_under_the_workqueue_layer_do_not_abort():
    """numba's workqueue layer aborts the process when two parallel regions overlap; the
    kernels' parallel calls take a lock under it."""
    proc = _run_python(_THREADS, env=dict(os.environ, NUMBA_THREADING_LAYER="workqueue"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["workqueue", "0"]
