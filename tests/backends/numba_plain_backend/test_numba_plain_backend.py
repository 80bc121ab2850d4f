"""What is particular to the ``numba-plain`` backend; the contract itself is checked for every
backend by the cross-backend, reference, property, validation and signed-zero suites.

* its kernels are plain numba dispatchers: parallel, NumPy's error model, no fastmath, cached;
* a row cut into any number of chunks gives the numpy backend's values, inf, nan and zeros
  included (the suites above use rows too short to be cut);
* the kernels load from the cache in a fresh process and give the same values;
* with numba's SVML switch off they give the same values within the contract's tolerance;
* Python threads calling it never abort the process under numba's workqueue threading layer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import kernbench as kb
from kernbench import info
from kernbench.backends import _numba_plain_kernels as K
from kernbench.backends import numba_plain_backend
from tests.helpers import assert_same

ROOT = Path(__file__).resolve().parents[3]
KERNEL_NAMES = sorted(name for name, obj in vars(K).items()
                      if isinstance(obj, numba.core.registry.CPUDispatcher)
                      and not name.startswith("_"))


def test_kernels_are_plain_parallel_cached_dispatchers():
    assert set(KERNEL_NAMES) == set(PROBED)
    for name in KERNEL_NAMES:
        disp = getattr(K, name)
        options = disp.targetoptions
        assert options.get("parallel") is True, name
        assert options.get("error_model") == "numpy", name
        assert not options.get("fastmath"), name
        assert disp.stats.cache_path is not None, f"{name} is not cached"


def test_backend_is_between_numpy_and_numba():
    names = kb.known_backends()
    assert names.index("numpy") < names.index("numba-plain") < names.index("numba")
    assert kb.get_backend("numba-plain").name == "numba-plain"


def _rows(dtype):
    """Rows long enough to cut, with the cases that must come out exact."""
    rng = np.random.default_rng(7)
    p = rng.random((3, 50)).astype(dtype)
    q = rng.random((3, 50)).astype(dtype)
    p[0, :] = 0.0
    p[0, 17] = 2.0                 # one-hot: entropy exactly 0
    q[1, 10:20] = 0.0
    p[1, 12] = 0.5                 # p > 0 where q = 0: inf for KL and CE
    q[2] = p[2]                    # equal rows: KL and JS exactly 0
    return p, q


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunks", [1, 2, 3, 7, 64])
def test_any_split_of_a_row_gives_the_contract_values(dtype, chunks):
    p, q = _rows(dtype)
    ref = kb.get_backend("numpy")
    for kernel, args in [("entropy_rows", (p,)), ("kl_divergence_rows", (p, q)),
                         ("cross_entropy_rows", (p, q)), ("js_divergence_rows", (p, q))]:
        values = np.empty(p.shape[0])
        status = np.empty(p.shape[0], dtype=np.int8)
        if kernel == "entropy_rows":
            K.entropy_rows(p, values, status, chunks)
        elif kernel == "js_divergence_rows":
            K.js_rows(p, q, values, status, chunks)
        else:
            K.pq_rows(p, q, values, status, kernel.startswith("kl"), chunks)
        want_values, want_status = getattr(ref, kernel)(*args)
        assert_same(values, want_values, err_msg=f"{kernel} in {chunks} chunks")
        np.testing.assert_array_equal(status, want_status)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logit_rows_give_the_contract_values(dtype):
    p, _ = _rows(dtype)
    ref = kb.get_backend("numpy")
    logits = (p * 10).astype(dtype)
    logits[1, 3] = -np.inf
    logits[2, 5] = np.nan          # a nan logit: the row comes out nan
    for log in (False, True):
        out = np.empty_like(logits)
        K.softmax_rows(logits, dtype(0.5), out, log)
        want = np.empty_like(logits)
        (ref.log_softmax_rows if log else ref.softmax_rows)(logits, 0.5, want)
        assert_same(out, want, err_msg=f"softmax log={log}")
        assert np.isnan(out[2]).all()
    targets = np.array([4, 3, 0])
    for eps in (0.0, 0.1):
        losses = np.empty(3)
        K.ce_logits_rows(logits, targets, -100, eps, losses)
        want = ref.cross_entropy_logits_rows(logits, targets, -100, eps)
        assert_same(losses, want, err_msg=f"cross-entropy from logits, eps={eps}")
        assert losses[1] == np.inf and np.isnan(losses[2])


def test_a_long_row_is_cut_when_rows_are_fewer_than_threads(monkeypatch):
    monkeypatch.setattr(numba_plain_backend, "MIN_CHUNK", 8)
    p = np.random.default_rng(3).random(1000)
    threads = numba.get_num_threads()
    assert numba_plain_backend._chunks(p.reshape(1, -1)) == max(1, threads)
    assert numba_plain_backend._chunks(np.ones((threads, 1000))) == 1
    assert_same(info.entropy(p, backend="numba-plain"), info.entropy(p, backend="numpy"))


# ---------------------------------------------------------------------------- fresh processes

_PROBE = r"""
import json, sys
import numba, numpy as np
from kernbench import info, optim
from kernbench.backends import _numba_plain_kernels as K

rng = np.random.default_rng(11)
out = {"svml": bool(numba.config.USING_SVML)}
for dt in ("float32", "float64"):
    p = rng.random((4, 300)).astype(dt)
    q = rng.random((4, 300)).astype(dt)
    p[0, :10] = 0.0
    q[1, :10] = 0.0
    x = (rng.standard_normal((4, 300)) * 5).astype(dt)
    x[3, 0] = -np.inf
    s = rng.random(300).astype(dt) + 0.5
    r = {
        "entropy": info.entropy(p, backend="numba-plain"),
        "kl": info.kl_divergence(p, q, backend="numba-plain"),
        "ce": info.cross_entropy(p, q, backend="numba-plain"),
        "js": info.js_divergence(p, q, backend="numba-plain"),
        "mi": info.mutual_information(p, backend="numba-plain"),
        "hyx": info.conditional_entropy(p, backend="numba-plain"),
        "softmax": info.softmax(x, temperature=0.7, backend="numba-plain"),
        "log_softmax": info.log_softmax(x, backend="numba-plain"),
        "ce_logits": info.cross_entropy_logits(x, np.arange(4), reduction="none",
                                               label_smoothing=0.1, backend="numba-plain"),
        "gaussian_kl": info.gaussian_kl(s, s[::-1], 0.5, s, backend="numba-plain"),
        "gaussian_entropy": info.gaussian_entropy(s, backend="numba-plain"),
    }
    if dt == "float64":  # the contract's second pass, for sums near the top of float64
        huge = np.array([[1e308, 1.0, 4.0], [3.0, 1e308, 0.0]])
        r["huge_entropy"] = info.entropy(huge, backend="numba-plain")
        r["huge_mi"] = info.mutual_information(huge * 0.5, backend="numba-plain")
    params = [x[0].copy(), x[1].copy()]
    opt = optim.Adam(params, lr=1e-2, amsgrad=True, weight_decay=0.1, backend="numba-plain")
    sgd = optim.SGD([x[2].copy()], lr=1e-2, momentum=0.9, nesterov=True, backend="numba-plain")
    for _ in range(3):
        opt.step([x[2], np.ones_like(x[3])])
        sgd.step([x[0]])
    r["adam"] = np.concatenate(params)
    r["sgd"] = sgd.params[0]
    grads = [x[0].copy()]
    r["clip"] = optim.clip_grad_norm(grads, 1.0, backend="numba-plain")
    r["clipped"] = grads[0]
    r["cosine"] = optim.cosine_schedule(np.arange(12.0), 10, 1.0, 0.1, backend="numba-plain")
    out[dt] = {k: np.asarray(v, dtype=np.float64).ravel().tolist() for k, v in r.items()}
out["hits"] = {n: sum(getattr(K, n).stats.cache_hits.values()) for n in sys.argv[1:]}
out["misses"] = {n: sum(getattr(K, n).stats.cache_misses.values()) for n in sys.argv[1:]}
print(json.dumps(out, allow_nan=True))
"""
#: The kernels the probe calls (sum_squares and scale through clip_grad_norm).
PROBED = ["adam_step", "ce_logits_rows", "cosine_schedule", "entropy_rows", "gaussian_entropy",
          "gaussian_kl", "joint_scaled_terms", "joint_terms", "js_rows", "pq_rows", "scale",
          "sgd_step", "softmax_rows", "sum_squares"]


def _probe(cache_dir, **env):
    environ = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), **env)
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT),
                                             environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", _PROBE, *PROBED], env=environ,
                          capture_output=True, text=True, timeout=900, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_agree(a, b, what):
    for dt, (rtol, atol) in (("float64", (1e-7, 1e-9)), ("float32", (1.3e-6, 1e-5))):
        for key in a[dt]:
            x, y = np.array(a[dt][key]), np.array(b[dt][key])
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"{what} {key}")
            np.testing.assert_array_equal(x[np.isinf(x)], y[np.isinf(x)],
                                          err_msg=f"{what} {key}")
            np.testing.assert_array_equal(x == 0, y == 0, err_msg=f"{what} {key}")
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"{what} {key} {dt}")


def test_fresh_process_loads_every_kernel_from_the_cache(tmp_path):
    assert set(PROBED) <= set(KERNEL_NAMES)
    cold = _probe(tmp_path)
    assert all(cold["misses"][n] > 0 for n in PROBED), cold["misses"]
    warm = _probe(tmp_path)
    assert warm["misses"] == {n: 0 for n in PROBED}, warm["misses"]
    assert all(warm["hits"][n] > 0 for n in PROBED), warm["hits"]
    _assert_agree(cold, warm, "cached")
    for dt in ("float32", "float64"):
        assert cold[dt] == warm[dt]  # the same machine code on the same data: the same bits


def test_values_agree_with_and_without_svml(tmp_path):
    """SVML changes how math.log/math.exp are computed (ulps), never zeros, inf or nan. Each
    mode compiles into its own cache: code compiled to call SVML needs the library loaded."""
    if not numba.config.USING_SVML:
        pytest.skip("numba does not use SVML here (numba >= 0.62 ships an LLVM without the "
                    "SVML patch, or intel-cmplr-lib-rt is not installed): the two runs would "
                    "compile the same code")
    default = _probe(tmp_path / "default")
    assert default["svml"]
    off = _probe(tmp_path / "off", NUMBA_DISABLE_INTEL_SVML="1")
    assert not off["svml"]
    _assert_agree(default, off, "svml on/off")


_THREADS = r"""
import threading
import numba, numpy as np
from kernbench import info, optim

p = np.random.default_rng(0).random((4, 50_000))
want = info.entropy(p, backend="numpy")
bad = []

def work():
    params = [np.zeros(50_000, dtype=np.float32)]
    opt = optim.Adam(params, lr=0.1, backend="numba-plain")
    for _ in range(20):
        # both numba backends: their parallel regions share one lock under workqueue
        for backend in ("numba-plain", "numba"):
            if not np.allclose(info.entropy(p, backend=backend), want):
                bad.append(backend)
        opt.step([np.ones(50_000, dtype=np.float32)])

threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(numba.threading_layer(), len(bad))
"""


def test_threads_never_abort_the_process_under_the_workqueue_layer():
    """numba's workqueue layer aborts the process when two threads enter parallel code at
    once; the backend runs its kernels one at a time there."""
    environ = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", _THREADS], env=environ, capture_output=True,
                          text=True, timeout=600, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["workqueue", "0"]
