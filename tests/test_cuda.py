"""The cuda backend's own promises: device-resident params and state, grid-stride loops and
block reductions that cross blocks, its availability message.

Run under the simulator with ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/test_cuda.py``;
without a GPU and without the simulator every test here skips except the ones about the
availability message. Sizes stay small: a simulated thread costs about 0.2 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys

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
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


# ---------------------------------------------------------------------------- the runner

def test_runner_times_cuda_by_events_with_device_resident_optimizer_inputs(cb, cuda,
                                                                           monkeypatch):
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
    settings = rn.RunSettings(kernels=["adam_step", "entropy"], backends=["numpy", "cuda"],
                              dtypes=["float32"], elements=[200], peers=False, threads=1,
                              policy=policy, measure_compile=False, measure_bandwidth=False)
    results = validate_results(rn.run_benchmarks(settings))
    by = {(c["kernel"], c["target"]): c for c in results["cases"]}
    adam, entropy = by["adam_step", "cuda"], by["entropy", "cuda"]
    assert adam["status"] == entropy["status"] == "ok"  # validated against numpy
    expected_timer = "simulator" if cb.simulator else "cuda-event"
    assert adam["timer"] == entropy["timer"] == expected_timer
    assert by["adam_step", "numpy"]["timer"] == "host" and "inputs" not in by["adam_step",
                                                                                "numpy"]
    # the optimizer step takes device params and grads; the information functions NumPy
    assert (adam["inputs"], entropy["inputs"]) == ("device", "host")
    assert adam["transfer"]["bytes"] == 2 * 200 * 4  # params and grads
    assert entropy["transfer"]["bytes"] == 200 * 4
    assert adam["transfer"]["host_to_device_s"] >= 0.0
    # two events per sample and per transfer measurement, at least
    samples = len(adam["samples_s"]) + len(entropy["samples_s"])
    assert len(created) >= 2 * samples
    if cb.simulator:
        assert results["machine"]["gpu"]["available"] is False
        assert "simulator" in results["machine"]["gpu"]["reason"]


def test_clip_case_restores_device_grads_between_repeats(cb):
    from kernbench.bench.workloads import WORKLOADS

    case = WORKLOADS["clip_grad_norm"].make(200, "float64", seed=0)
    assert case.placement("cuda") is not None  # the grads go to the device
    clip = case.call("cuda", warm=False)
    first = clip()
    clipped = clip()  # without a reset the grads are already clipped to max_norm
    case.reset()
    again = clip()
    assert first > 2 * case.max_norm
    assert clipped == pytest.approx(case.max_norm, rel=1e-5)
    assert again == pytest.approx(first, rel=1e-12)
    np.testing.assert_array_equal(case.check_value("cuda")[0], first)
