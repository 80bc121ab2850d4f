"""The cuda backend's own promises: device-resident params and state, grid-stride loops and
block reductions that cross blocks, its availability message.

Run under the simulator with
``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/backends/cuda_backend/test_cuda_backend.py``;
without a GPU and without the simulator every test here skips except the ones about the
availability message. Sizes stay small: a simulated thread costs about 0.2 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kernbench as kb
from kernbench import info, optim
from tests.helpers import assert_same


def _cuda_backend():
    try:
        return kb.get_backend("cuda")
    except kb.BackendUnavailableError as exc:
        pytest.skip(str(exc))


# Not called ``backend``: conftest parametrizes that name over every available backend.
@pytest.fixture
def cb():
    """The cuda backend object (skips when it cannot run here)."""
    return _cuda_backend()


@pytest.fixture
def cuda(cb):
    from numba import cuda

    return cuda


def _on_device(x) -> bool:
    """A Numba device array (real or simulated), not a NumPy array."""
    return not isinstance(x, np.ndarray) and bool(getattr(x, "__cuda_ndarray__", False))


# ---------------------------------------------------------------------------- availability

def _run_python(code: str, env_drop=("NUMBA_ENABLE_CUDASIM",)) -> str:
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    root = str(Path(__file__).resolve().parents[3])
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_unavailable_without_gpu_or_simulator_says_why():
    pytest.importorskip("numba_cuda")
    out = _run_python(
        "import kernbench as kb\n"
        "from numba import cuda\n"
        "print('GPU' if cuda.is_available() else 'NOGPU')\n"
        "print('cuda' in kb.available_backends())\n"
        "try:\n"
        "    kb.get_backend('cuda')\n"
        "except kb.BackendUnavailableError as exc:\n"
        "    print(exc)\n")
    lines = out.splitlines()
    if lines[0] == "GPU":
        pytest.skip("a CUDA GPU is visible: the backend is available without the simulator")
    assert lines[1] == "False"
    message = lines[2]
    assert "no CUDA GPU is visible" in message
    assert "numba.cuda.is_available() is False" in message
    assert "NUMBA_ENABLE_CUDASIM=1" in message


@pytest.mark.parametrize("hidden", ["numba_cuda", "numba.cuda"])
def test_module_imports_without_numba_cuda_and_names_the_extra(hidden):
    # sys.modules[name] = None: as if numba-cuda (or its CUDA bindings) were not installed.
    out = _run_python(
        "import sys\n"
        f"sys.modules[{hidden!r}] = None\n"
        "import kernbench as kb\n"
        "from kernbench.backends.cuda_backend import CudaBackend\n"
        "print(CudaBackend.unavailable_reason() is None)\n"
        "try:\n"
        "    kb.get_backend('cuda')\n"
        "except kb.BackendUnavailableError as exc:\n"
        "    print(exc)\n", env_drop=())
    lines = out.splitlines()
    assert lines[0] == "False"
    assert 'pip install "kernbench[cuda]"' in lines[1]
    if hidden == "numba_cuda":
        assert "numba-cuda is not installed" in lines[1]


def test_reason_when_numba_cuda_is_not_installed(monkeypatch):
    from kernbench.backends import cuda_backend

    real = cuda_backend.importlib.util.find_spec
    monkeypatch.setattr(cuda_backend.importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    reason = cuda_backend.CudaBackend.unavailable_reason()
    assert reason == 'numba-cuda is not installed; pip install "kernbench[cuda]" to add it'


# ---------------------------------------------------------------------------- launch config

def test_launch_configuration_comes_from_the_device(cb):
    assert cb.block & (cb.block - 1) == 0  # a power of two: the tree halves it
    assert cb.max_blocks >= 1
    assert cb.grid_for(1) == 1
    assert cb.grid_for(10**9) == cb.max_blocks
    if cb.simulator:
        assert cb.max_blocks * cb.block <= 512  # the simulator's thread budget


# ---------------------------------------------------------------------------- grid-stride

def test_grid_stride_covers_more_elements_than_threads(cb, cuda, rng):
    n = 3000
    grid = cb.grid_for(n)
    assert grid * cb.block < n  # every thread handles several elements
    x = rng.normal(size=n)
    d = cuda.to_device(x)
    cb._k.scale_kernel[2, cb.block](d, np.float64(3.0))  # a deliberately tiny grid
    np.testing.assert_array_equal(d.copy_to_host(), x * 3.0)
    # Through the public layer: an optimizer step and an elementwise info function.
    p = rng.normal(size=n).astype(np.float32)
    ref = p.copy()
    g = rng.normal(size=n).astype(np.float32)
    optim.Adam([p], lr=0.01, backend="cuda").step([g.copy()])
    optim.Adam([ref], lr=0.01, backend="numpy").step([g])
    assert_same(p, ref, exact_zeros=False)
    sig = rng.uniform(0.1, 3.0, size=n)
    assert_same(info.gaussian_entropy(sig, backend="cuda"),
                info.gaussian_entropy(sig, backend="numpy"))


# ---------------------------------------------------------------------------- block reductions

def test_reductions_cross_blocks(cb, rng):
    n = 3000
    nch, ch = cb.row_chunks(1, n)
    assert nch > 1 and ch % cb.block == 0 and (nch - 1) * ch < n <= nch * ch
    p = rng.random(n)
    p[p < 0.2] = 0.0
    q = rng.random(n)
    assert_same(info.entropy(p, backend="cuda"), info.entropy(p, backend="numpy"))
    for name in ("kl_divergence", "cross_entropy", "js_divergence"):
        fn = getattr(info, name)
        assert_same(fn(p, q, backend="cuda"), fn(p, q, backend="numpy"), err_msg=name)
    # Exact zeros survive the split into chunks: the partial sums combine in a fixed order.
    assert info.kl_divergence(p, p, backend="cuda") == 0.0
    assert info.js_divergence(q, q, backend="cuda") == 0.0
    one_hot = np.zeros(n)
    one_hot[2999] = 5.0
    assert info.entropy(one_hot, backend="cuda") == 0.0
    # A bad entry in the last chunk of a row is still found.
    bad = p.copy()
    bad[-1] = -1.0
    with pytest.raises(ValueError, match=r"\bp\b"):
        info.entropy(bad, backend="cuda")
    # The clipping norm: per-block partials, then a one-block second pass.
    g = rng.normal(size=n)
    assert cb.grid_for(n) > 1
    assert_same(cb.sum_squares(g), float(np.dot(g, g)), tol=(1e-12, 0.0))


def test_joint_and_row_kernels_on_longer_rows(rng):
    _cuda_backend()
    joint = rng.random((3, 200))
    for name in ("mutual_information", "conditional_entropy"):
        fn = getattr(info, name)
        assert_same(fn(joint, backend="cuda"), fn(joint, backend="numpy"), err_msg=name)
    x = rng.normal(scale=4.0, size=(2, 300))
    x[1, 7] = -np.inf
    for name in ("softmax", "log_softmax"):
        fn = getattr(info, name)
        assert_same(fn(x, 0.7, backend="cuda"), fn(x, 0.7, backend="numpy"), err_msg=name)
    t = np.array([3, 250])
    for eps in (0.0, 0.2):
        assert_same(info.cross_entropy_logits(x, t, reduction="none", label_smoothing=eps,
                                              backend="cuda"),
                    info.cross_entropy_logits(x, t, reduction="none", label_smoothing=eps,
                                              backend="numpy"))


# ---------------------------------------------------------------------------- device residency

@pytest.mark.parametrize("cls,kw", [(optim.Adam, dict(lr=0.01, amsgrad=True)),
                                    (optim.SGD, dict(lr=0.05, momentum=0.9)),
                                    (optim.AdamW, dict(lr=0.01))])
def test_device_params_update_in_place_and_state_stays_on_device(cuda, rng, cls, kw):
    host = [rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=40)]
    ref = [h.copy() for h in host]
    dev = [cuda.to_device(h) for h in host]
    opt = cls(dev, backend="cuda", **kw)
    ref_opt = cls(ref, backend="numpy", **kw)
    state_ids = None
    for step in range(3):
        grads = [rng.normal(size=h.shape).astype(h.dtype) for h in host]
        # Grads may be NumPy arrays or device arrays.
        opt.step([cuda.to_device(grads[0]), grads[1].copy()])
        ref_opt.step(grads)
        assert opt.params[0] is dev[0] and opt.params[1] is dev[1]
        for d, r in zip(dev, ref):
            assert_same(d.copy_to_host(), r, exact_zeros=False, err_msg=f"step {step}")
        arrays = {(i, k): a for i, st in enumerate(opt.state) for k, a in st.items()
                  if k != "step"}
        assert arrays and all(_on_device(a) for a in arrays.values())
        ids = {key: id(a) for key, a in arrays.items()}
        if state_ids is not None:
            assert ids == state_ids  # the same device buffers, updated in place
        state_ids = ids


def test_numpy_params_slow_path_updates_strided_views(cuda, rng):
    theta = rng.normal(size=30)
    before = theta.copy()
    cube = rng.normal(size=(3, 4, 6)).astype(np.float32)
    cube_before = cube.copy()
    params = [theta[::2], cube[:, ::2, 1::2]]
    ref = [p.copy() for p in params]
    opt = optim.Adam(params, lr=0.1, backend="cuda")
    ref_opt = optim.Adam(ref, lr=0.1, backend="numpy")
    for _ in range(2):
        grads = [rng.normal(size=p.shape).astype(p.dtype) for p in params]
        opt.step(grads)
        ref_opt.step([g.copy() for g in grads])
    for p, r in zip(params, ref):
        assert_same(p, r, exact_zeros=False)
    np.testing.assert_array_equal(theta[1::2], before[1::2])
    mask = np.ones(cube.shape, bool)
    mask[:, ::2, 1::2] = False
    np.testing.assert_array_equal(cube[mask], cube_before[mask])
    assert all(_on_device(a) for a in opt.state[0].values() if not isinstance(a, int))


def test_non_contiguous_device_param(cuda, rng):
    host = rng.normal(size=(4, 6))
    dev_full = cuda.to_device(host)
    dev = dev_full[:, ::2]
    ref = host[:, ::2].copy()
    opt = optim.SGD([dev], lr=0.1, momentum=0.5, backend="cuda")
    ref_opt = optim.SGD([ref], lr=0.1, momentum=0.5, backend="numpy")
    for _ in range(2):
        g = rng.normal(size=ref.shape)
        opt.step([g])
        ref_opt.step([g.copy()])
    full = dev_full.copy_to_host()
    assert_same(full[:, ::2], ref, exact_zeros=False)
    np.testing.assert_array_equal(full[:, 1::2], host[:, 1::2])


def test_check_grad_types_and_shapes(cuda):
    p = cuda.to_device(np.zeros(4, dtype=np.float32))
    opt = optim.SGD([p], lr=0.1, backend="cuda")
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        opt.step([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(ValueError, match=r"grads\[0\].*dtype"):
        opt.step([cuda.to_device(np.zeros(4))])
    with pytest.raises(ValueError, match=r"grads\[0\].*shape"):
        opt.step([np.zeros(5, dtype=np.float32)])
    with pytest.raises(TypeError, match=r"params\[0\]"):
        optim.SGD(["weights"], backend="cuda")
    with pytest.raises(ValueError, match=r"params\[0\].*float32 or float64"):
        optim.SGD([cuda.to_device(np.zeros(3, dtype=np.int64))], backend="cuda")
    np.testing.assert_array_equal(p.copy_to_host(), 0.0)  # nothing moved


def test_clip_grad_norm_scales_device_grads_in_place(cuda, rng):
    hosts = [rng.normal(size=50), rng.normal(size=(3, 5))]
    grads = [cuda.to_device(h) for h in hosts]
    ref = [h.copy() for h in hosts]
    norm = optim.clip_grad_norm(grads, 0.5, backend="cuda")
    ref_norm = optim.clip_grad_norm(ref, 0.5, backend="numpy")
    assert isinstance(norm, float)
    assert_same(norm, ref_norm)
    for d, r in zip(grads, ref):
        assert_same(d.copy_to_host(), r)


def test_state_dict_round_trip_cuda_numpy_cuda(cuda, rng):
    start = [rng.normal(size=(3, 4)), rng.normal(size=9).astype(np.float32)]
    grads = [[rng.normal(size=(3, 4)), rng.normal(size=9).astype(np.float32)]
             for _ in range(6)]
    kw = dict(lr=0.01, amsgrad=True, weight_decay=0.1)
    # 2 steps on cuda (device params), 2 on numpy, 2 on cuda again == 6 steps on numpy.
    dev = [cuda.to_device(p) for p in start]
    first = optim.AdamW(dev, backend="cuda", **kw)
    for g in grads[:2]:
        first.step([x.copy() for x in g])
    sd = first.state_dict()
    for st in sd["state"].values():
        for key, value in st.items():
            assert isinstance(value, int) if key == "step" else isinstance(value, np.ndarray)
    middle_params = [d.copy_to_host() for d in dev]
    middle = optim.AdamW(middle_params, backend="numpy", **kw)
    middle.load_state_dict(sd)
    for g in grads[2:4]:
        middle.step([x.copy() for x in g])
    last_dev = [cuda.to_device(p) for p in middle_params]
    last = optim.AdamW(last_dev, backend="cuda", **kw)
    last.load_state_dict(middle.state_dict())
    assert all(_on_device(a) for st in last.state for k, a in st.items() if k != "step")
    for g in grads[4:]:
        last.step([x.copy() for x in g])
    direct = [p.copy() for p in start]
    only = optim.AdamW(direct, backend="numpy", **kw)
    for g in grads:
        only.step([x.copy() for x in g])
    for d, r in zip(last_dev, direct):
        assert_same(d.copy_to_host(), r, exact_zeros=False)
    mine, theirs = last.state_dict()["state"], only.state_dict()["state"]
    for i in theirs:
        assert mine[i]["step"] == theirs[i]["step"] == 6
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert_same(mine[i][key], theirs[i][key], exact_zeros=False, err_msg=key)


# ---------------------------------------------------------------------------- device inputs
# Information functions on device arrays, against the numpy backend on the same values.

def _host(x):
    return x.copy_to_host() if _on_device(x) else x


@pytest.fixture
def transfers(cuda, monkeypatch):
    """Element counts of every host <-> device copy made through numba while a test runs;
    a device array converted by NumPy (a hidden copy to the host) fails the test."""
    cls = type(cuda.to_device(np.zeros(1)))
    log = {"to_host": [], "to_device": []}
    real_copy, real_to_device = cls.copy_to_host, cuda.to_device

    def copy_to_host(self, *args, **kwargs):
        log["to_host"].append(self.size)
        return real_copy(self, *args, **kwargs)

    def to_device(a, *args, **kwargs):
        log["to_device"].append(np.size(a))
        return real_to_device(a, *args, **kwargs)

    def no_conversion(self, *args, **kwargs):
        raise AssertionError("NumPy converted a device array: a copy to the host")

    monkeypatch.setattr(cls, "copy_to_host", copy_to_host)
    monkeypatch.setattr(cls, "__array__", no_conversion, raising=False)
    monkeypatch.setattr(cuda, "to_device", to_device)
    return log


def _distributions(rng, dtype):
    """p and q (4, 60) with an all-zero-but-one row, identical rows and q = 0 where p > 0."""
    p = rng.random((4, 60))
    p[p < 0.2] = 0.0
    p[0] = 0.0
    p[0, 3] = 2.0                                   # one-hot: entropy exactly 0
    q = rng.random((4, 60))
    q[1] = p[1]                                     # identical: KL and JS exactly 0
    q[2, np.flatnonzero(p[2] > 0)[0]] = 0.0         # p > 0 where q = 0: KL and CE inf
    q[3, p[3] == 0] = 0.0                           # zeros in both
    return p.astype(dtype), q.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_device_reductions_match_numpy(cuda, rng, dtype):
    p, q = _distributions(rng, dtype)
    dp, dq = cuda.to_device(p), cuda.to_device(q)
    cases = [((dp,), (p,), {}), ((dp[1],), (p[1],), {}), ((dp,), (p,), {"axis": 0}),
             ((dp[:, 1::2],), (p[:, 1::2],), {"base": 2}), ((dp[1:3],), (p[1:3],), {})]
    for dev, host, kw in cases:
        got, want = info.entropy(*dev, **kw, backend="cuda"), info.entropy(*host, **kw,
                                                                          backend="numpy")
        assert type(got) is type(want) and np.asarray(got).dtype == dtype  # NumPy results
        assert_same(got, want, err_msg=f"entropy {kw}")
    assert info.entropy(dp[0], backend="cuda") == 0.0
    for name in ("kl_divergence", "cross_entropy", "js_divergence"):
        fn = getattr(info, name)
        for dev, host, kw in [((dp, dq), (p, q), {}), ((dp, dq), (p, q), {"axis": 0}),
                              ((dp[:, ::3], dq[:, ::3]), (p[:, ::3], q[:, ::3]), {})]:
            got = fn(*dev, **kw, backend="cuda")
            assert isinstance(got, np.ndarray) and got.dtype == dtype
            assert_same(got, fn(*host, **kw, backend="numpy"), err_msg=f"{name} {kw}")
        if name != "cross_entropy":
            assert fn(dp[1], dq[1], backend="cuda") == 0.0
        if name != "js_divergence":
            assert fn(dp[2], dq[2], backend="cuda") == np.inf


def test_device_joint_tables_match_numpy(cuda, rng):
    joint = rng.random((5, 30))
    joint[:, 3] = 0.0
    joint[2] = 0.0
    d = cuda.to_device(joint)
    for name in ("mutual_information", "conditional_entropy"):
        fn = getattr(info, name)
        for dev, host in [(d, joint), (d[:, ::2], joint[:, ::2]), (d.T, joint.T)]:
            assert_same(fn(dev, backend="cuda"), fn(host, backend="numpy"), err_msg=name)
    diagonal = cuda.to_device(np.diag([1.0, 2.0, 3.0]))
    assert info.conditional_entropy(diagonal, backend="cuda") == 0.0


def _awkward_logits(rng, dtype):
    x = rng.normal(scale=4.0, size=(6, 40))
    x[0, 5] = -np.inf       # probability 0
    x[1] = -np.inf          # all -inf: a NaN row
    x[2, 7] = np.nan        # NaN propagates to the row
    x[3, 0] = np.inf        # +inf: a NaN row
    x[4, 39] = 60.0         # a dominant logit
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_device_softmax_matches_numpy_and_stays_on_device(cuda, rng, dtype, name):
    fn = getattr(info, name)
    x = _awkward_logits(rng, dtype)
    d = cuda.to_device(x)
    for dev, host, kw in [(d, x, {}), (d, x, {"axis": 0, "temperature": 0.5}),
                          (d[1::2, 3:], x[1::2, 3:], {"temperature": 2.0}),
                          (d[4], x[4], {})]:
        got = fn(dev, **kw, backend="cuda")
        assert _on_device(got) and got.dtype == dtype and got.shape == host.shape
        assert_same(got.copy_to_host(), fn(host, **kw, backend="numpy"), err_msg=f"{kw}")
    empty = fn(cuda.to_device(np.zeros((0, 4), dtype)), backend="cuda")
    assert _on_device(empty) and empty.shape == (0, 4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_device_cross_entropy_logits_matches_numpy(cuda, rng, dtype):
    x = _awkward_logits(rng, dtype)
    x[1] = rng.normal(size=40)  # a finite row again, its target ignored below
    t = np.array([5, -100, 3, 2, 39, 0])  # row 0 targets its -inf logit: an infinite loss
    d, dt = cuda.to_device(x), cuda.to_device(t)
    for targets in (dt, t):  # targets on the device or the host
        for kw in [{"reduction": "none"}, {"reduction": "sum"}, {"label_smoothing": 0.1},
                   {"reduction": "none", "label_smoothing": 0.3}]:
            got = info.cross_entropy_logits(d, targets, **kw, backend="cuda")
            want = info.cross_entropy_logits(x, t, **kw, backend="numpy")
            assert type(got) is type(want) and np.asarray(got).dtype == dtype
            assert_same(got, want, err_msg=f"{kw}")
    finite = slice(4, 6)  # targets 39 and 0
    for kw in [{}, {"ignore_index": 39}]:
        assert_same(info.cross_entropy_logits(d[finite], dt[finite], **kw, backend="cuda"),
                    info.cross_entropy_logits(x[finite], t[finite], **kw, backend="numpy"))
        assert_same(info.perplexity(d[finite], dt[finite], **kw, backend="cuda"),
                    info.perplexity(x[finite], t[finite], **kw, backend="numpy"))
    ignored = cuda.to_device(np.full(6, -100))
    assert np.isnan(info.cross_entropy_logits(d, ignored, backend="cuda"))
    assert info.cross_entropy_logits(d, ignored, reduction="sum", backend="cuda") == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_device_gaussians_match_numpy_and_stay_on_device(cuda, rng, dtype):
    mu1, mu2 = rng.normal(size=(2, 3, 20)).astype(dtype)
    s1, s2 = rng.uniform(0.2, 3.0, size=(2, 3, 20)).astype(dtype)
    s2[0, :4] = s1[0, :4]
    mu2[0, :4] = mu1[0, :4]  # equal Gaussians: KL exactly 0
    dev = [cuda.to_device(a) for a in (mu1, s1, mu2, s2)]
    got = info.gaussian_kl(*dev, backend="cuda")
    assert _on_device(got) and got.dtype == dtype and got.shape == mu1.shape
    assert_same(got.copy_to_host(), info.gaussian_kl(mu1, s1, mu2, s2, backend="numpy"))
    # Python scalars beside device arrays take their dtype, as in torch
    got = info.gaussian_kl(dev[0], dev[1], 0.0, 1.0, backend="cuda")
    assert _on_device(got) and got.dtype == dtype
    want = info.gaussian_kl(mu1, s1, np.zeros(1, dtype), np.ones(1, dtype), backend="numpy")
    assert_same(got.copy_to_host(), want)
    got = info.gaussian_entropy(dev[3][:, ::2], backend="cuda")
    assert _on_device(got) and got.dtype == dtype
    assert_same(got.copy_to_host(), info.gaussian_entropy(s2[:, ::2], backend="numpy"))
    scalar = info.gaussian_entropy(cuda.to_device(np.array(2.0, dtype)), backend="cuda")
    assert _on_device(scalar) and scalar.shape == ()
    assert_same(scalar.copy_to_host(), info.gaussian_entropy(dtype(2.0), backend="numpy"))


def test_device_inputs_are_read_in_place(cuda, rng, transfers):
    """Only small results cross to the host, and nothing of the inputs is copied in."""
    rows = 4
    p, q = (cuda.to_device(a) for a in _distributions(rng, np.float64))
    x = cuda.to_device(rng.normal(size=(rows, 60)))
    t = cuda.to_device(np.array([0, 7, -100, 59]))
    sigma = cuda.to_device(rng.uniform(0.5, 2.0, size=(rows, 60)))
    transfers["to_host"].clear()
    transfers["to_device"].clear()
    info.entropy(p, backend="cuda")
    info.entropy(p, axis=0, backend="cuda")  # 60 columns: 60 values come back
    for name in ("kl_divergence", "cross_entropy", "js_divergence"):
        getattr(info, name)(p, q, backend="cuda")
    info.mutual_information(p, backend="cuda")
    info.cross_entropy_logits(x, t, reduction="none", backend="cuda")
    info.perplexity(x, t, backend="cuda")
    outputs = [info.softmax(x, backend="cuda"), info.log_softmax(x, axis=0, backend="cuda"),
               info.gaussian_kl(x, sigma, 0.0, 1.0, backend="cuda"),
               info.gaussian_entropy(sigma, backend="cuda")]
    assert all(_on_device(o) for o in outputs)
    assert transfers["to_device"] == [1, 1]  # the two scalars of gaussian_kl
    assert transfers["to_host"] and max(transfers["to_host"]) <= 60 < rows * 60


class _Launched(Exception):
    pass


class _NoLaunch:
    """Stands in for a computing kernel: launching it fails the test."""

    def __init__(self, name):
        self.name = name

    def __getitem__(self, config):
        raise _Launched(f"{self.name} was launched")


#: The kernels that compute; the argument checks (targets_partials,
#: count_not_positive_kernel, sum_kernel) may run.
_COMPUTING = ("rows_partials", "rows_finish", "column_sums", "joint_finish", "softmax_kernel",
              "ce_logits_kernel", "gaussian_kl_kernel", "gaussian_entropy_kernel")

LOGITS = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
ON = "device"  # a marker in the table below: the argument before it goes to the device


def _d(a, dtype=None):
    return (np.asarray(a, dtype=dtype), ON)


# (id, function, arguments (device ones marked with _d), keywords, regex of the message)
BAD_DEVICE_CALLS = [
    ("p-int-dtype", info.entropy, [_d([1, 2, 3])], {}, r"\bp\b.*dtype int64"),
    ("p-float16", info.entropy, [_d([1, 2, 3], np.float16)], {}, r"\bp\b.*float16"),
    ("p-rows-need-a-copy", info.entropy, [_d(np.ones((2, 3, 4)))], {"axis": 1},
     r"\bp\b.*axis 1"),
    ("p-negative-strides", info.entropy, [(np.ones((2, 4)), "reversed")], {},
     r"\bp\b.*negative strides"),
    ("q-host-beside-device-p", info.kl_divergence, [_d([0.5, 0.5]), [0.5, 0.5]], {},
     r"\bq\b.*host"),
    ("p-q-dtypes", info.cross_entropy, [_d([0.5, 0.5]), _d([0.5, 0.5], np.float32)], {},
     r"dtype.*\bp\b float64.*\bq\b float32"),
    ("p-q-shapes", info.js_divergence, [_d([0.5, 0.5]), _d([0.2, 0.3, 0.5])], {},
     r"same shape"),
    ("joint-1d", info.mutual_information, [_d([0.5, 0.5])], {}, r"joint"),
    ("temperature-zero", info.softmax, [_d(LOGITS)], {"temperature": 0.0}, r"temperature"),
    ("logits-1d", info.cross_entropy_logits, [_d([1.0, 2.0]), _d([0])], {}, r"logits"),
    ("target-too-big", info.cross_entropy_logits, [_d(LOGITS), _d([0, 3])], {},
     r"targets\[1\] = 3 is outside \[0, 3\)"),
    ("target-negative", info.cross_entropy_logits, [_d(LOGITS), _d([-1, 0])], {},
     r"targets\[0\] = -1"),
    ("target-ignore-index-elsewhere", info.perplexity, [_d(LOGITS), _d([-100, 1])],
     {"ignore_index": 1}, r"targets\[0\] = -100"),
    ("targets-int32", info.cross_entropy_logits, [_d(LOGITS), _d([0, 1], np.int32)], {},
     r"targets.*int64"),
    ("targets-float", info.cross_entropy_logits, [_d(LOGITS), _d([0.0, 1.0])], {},
     r"targets.*int64"),
    ("targets-shape", info.cross_entropy_logits, [_d(LOGITS), _d([0, 1, 2])], {},
     r"targets must have shape \(2,\)"),
    ("label-smoothing", info.cross_entropy_logits, [_d(LOGITS), _d([0, 1])],
     {"label_smoothing": 2.0}, r"label_smoothing"),
    ("sigma-zero", info.gaussian_entropy, [_d([1.0, 0.0, 2.0])], {},
     r"sigma must be > 0 everywhere; found 0\.0"),
    ("sigma2-negative", info.gaussian_kl, [_d([0.0, 1.0]), _d([1.0, 1.0]), 0.0,
                                           _d([1.0, -2.0])], {}, r"sigma2.*found -2\.0"),
    ("sigma1-scalar-zero", info.gaussian_kl, [_d([0.0, 1.0]), 0.0, 0.0, 1.0], {}, r"sigma1"),
    ("sigma1-partial-broadcast", info.gaussian_kl, [_d(np.zeros((3, 2))), _d([1.0, 1.0]),
                                                    0.0, 1.0], {}, r"sigma1.*shape \(2,\)"),
    ("mu2-host-array", info.gaussian_kl, [_d([0.0, 1.0]), _d([1.0, 1.0]), [0.0, 0.0], 1.0],
     {}, r"mu2.*host"),
]


def _place(cuda, arg):
    if isinstance(arg, tuple) and arg[1] == ON:
        return cuda.to_device(arg[0])
    if isinstance(arg, tuple) and arg[1] == "reversed":
        return cuda.to_device(arg[0])[:, ::-1]
    return arg


@pytest.mark.parametrize("fn,args,kw,match", [c[1:] for c in BAD_DEVICE_CALLS],
                         ids=[c[0] for c in BAD_DEVICE_CALLS])
def test_bad_device_input_raises_before_any_computing_kernel(cb, cuda, monkeypatch, fn, args,
                                                             kw, match):
    placed = [_place(cuda, a) for a in args]
    for name in _COMPUTING:
        monkeypatch.setattr(cb._k, name, _NoLaunch(name))
    with pytest.raises(ValueError, match=match):
        fn(*placed, **kw, backend="cuda")


@pytest.mark.parametrize("p,q,match", [
    ([0.5, -0.1, 0.6], None, r"\bp\b must hold finite, non-negative"),
    ([[0.5, 0.5], [0.0, 0.0]], None, r"\bp\b sums to zero \(slice 1"),
    ([0.5, 0.5], [0.5, np.nan], r"\bq\b must hold finite"),
    ([0.5, np.inf], [0.5, 0.5], r"\bp\b must hold finite"),
])
def test_invalid_device_distributions_raise_from_the_kernels_status(cuda, p, q, match):
    dp = cuda.to_device(np.asarray(p))
    with pytest.raises(ValueError, match=match):
        if q is None:
            info.entropy(dp, backend="cuda")
        else:
            info.kl_divergence(dp, cuda.to_device(np.asarray(q)), backend="cuda")


def test_device_outputs_come_back_as_the_callers_kind_of_array(cb, cuda, monkeypatch):
    import types

    out = cuda.to_device(np.arange(3.0))

    class Tensor:  # stands in for a torch CUDA tensor
        __cuda_array_interface__: dict = {}
        device = "cuda:1"

    class CupyArray:
        __cuda_array_interface__: dict = {}

    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(
        Tensor=Tensor, as_tensor=lambda a, device: ("torch", a, device)))
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(
        ndarray=CupyArray, asarray=lambda a: ("cupy", a)))
    assert cb.deliver(out, 0.0, Tensor()) == ("torch", out, "cuda:1")
    assert cb.deliver(out, [1.0], CupyArray(), Tensor()) == ("cupy", out)
    assert cb.deliver(out, cuda.to_device(np.zeros(3))) is out  # numba in, numba out
    host = np.zeros(3)
    assert cb.deliver(host, Tensor()) is host  # NumPy input: a NumPy result


# ---------------------------------------------------------------------------- the runner

def test_runner_times_cuda_by_events_with_device_resident_inputs(cb, cuda, monkeypatch):
    from kernbench.bench import runner as rn
    from kernbench.bench.results import validate_results
    from kernbench.bench.timing import TimingPolicy

    created = []
    real_event = cuda.event

    def counted_event(*args, **kwargs):
        created.append(1)
        return real_event(*args, **kwargs)

    monkeypatch.setattr(cuda, "event", counted_event)
    policy = TimingPolicy(min_samples=2, max_samples=2, min_total_s=0.0, target_sample_s=1e-4,
                          case_budget_s=1.0)
    kernels = ["adam_step", "entropy", "softmax", "cross_entropy_logits"]
    settings = rn.RunSettings(kernels=kernels, backends=["numpy", "cuda"],
                              dtypes=["float32"], elements=[200], peers=False, threads=1,
                              policy=policy, measure_compile=False, measure_bandwidth=False)
    results = validate_results(rn.run_benchmarks(settings))
    by = {(c["kernel"], c["target"]): c for c in results["cases"]}
    cases = [by[k, "cuda"] for k in kernels]
    adam, entropy, softmax, ce = cases
    expected_timer = "simulator" if cb.simulator else "cuda-event"
    for case in cases:
        assert case["status"] == "ok", case["reason"]  # validated against numpy
        assert case["timer"] == expected_timer
        # the optimizer step and the information functions alike read device arrays
        assert case["inputs"] == "device"
        assert case["transfer"]["host_to_device_s"] >= 0.0
    assert by["adam_step", "numpy"]["timer"] == "host" and "inputs" not in by["adam_step",
                                                                                "numpy"]
    assert adam["transfer"]["bytes"] == 2 * 200 * 4  # params and grads
    assert entropy["transfer"]["bytes"] == 200 * 4
    rows, classes = softmax["shape"]
    assert softmax["transfer"]["bytes"] == rows * classes * 4
    assert ce["transfer"]["bytes"] == rows * classes * 4 + rows * 8  # logits and targets
    # two events per sample and per transfer measurement, at least
    assert len(created) >= 2 * sum(len(c["samples_s"]) for c in cases)
    if cb.simulator:
        assert results["machine"]["gpu"]["available"] is False
        assert "simulator" in results["machine"]["gpu"]["reason"]


def test_information_cases_put_their_arrays_on_the_device(cb, cuda):
    from kernbench.bench.workloads import WORKLOADS

    case = WORKLOADS["cross_entropy_logits"].make((3, 16), "float32", seed=0)
    assert case.placement("cuda") is not None and case.placement("numpy") is None
    placed = case._inputs_for("cuda")
    assert _on_device(placed["logits"]) and _on_device(placed["targets"])
    assert case._inputs_for("cuda") is placed  # placed once, reused by every call
    softmax = WORKLOADS["softmax"].make((3, 16), "float64", seed=0)
    assert _on_device(softmax.call("cuda")())  # the output stays on the device ...
    assert_same(softmax.check_value("cuda"), softmax.check_value("numpy"))  # ... until checked
    # the cosine schedule is computed on the host from NumPy steps
    assert WORKLOADS["cosine_schedule"].make(50, "float64").placement("cuda") is None


def test_clip_case_restores_device_grads_between_repeats(cb, monkeypatch):
    from kernbench.bench import cases
    from kernbench.bench.workloads import WORKLOADS

    monkeypatch.setattr(cases, "CLIP_MAX_COPIES", 3)  # a few copies: the simulator is slow
    case = WORKLOADS["clip_grad_norm"].make(200, "float64", seed=0)
    assert case.placement("cuda") is not None  # the grads go to the device
    clip = case.call("cuda", warm=False)
    k = case.calls_per_reset
    assert k == 3  # a sample of fast clips scales several copies of the grads
    norms = [clip() for _ in range(k)]  # each call scales a copy of its own ...
    wrapped = clip()  # ... then copy 0 again, without a reset: already clipped to max_norm
    case.reset()
    again = clip()
    first = norms[0]
    assert first > 2 * case.max_norm
    assert norms == pytest.approx([first] * k, rel=1e-12)
    assert wrapped == pytest.approx(case.max_norm, rel=1e-5)
    assert again == pytest.approx(first, rel=1e-12)
    np.testing.assert_array_equal(case.check_value("cuda")[0], first)
