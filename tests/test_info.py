"""The fast paths of kernbench.info against its general path.

Each public function has a fast path for a plain float32/float64 NumPy array of one or two
dimensions reduced along its last axis (on a backend that keeps the base class's NumPy array
hooks). It must give bit for bit what the general path gives, and raise the same errors. The
``general`` fixture turns the fast paths off by telling info that the backend has hooks of its
own, so both paths run on the same data.
"""

from __future__ import annotations

import numpy as np
import pytest

import kernbench as kb
from kernbench import info
from kernbench.backends import Backend

FAST = ("numpy", "numba", "numba-plain", "python")


@pytest.fixture(params=FAST)
def fast_backend(request):
    if request.param not in kb.available_backends():
        pytest.skip(f"{request.param} is not available here")
    return request.param


def _general(name: str, fn, *args, **kwargs):
    """fn called with the fast paths off for backend ``name``."""
    kernels, hooks = info._backend(name)
    info._BACKENDS[name] = (kernels, False)
    try:
        return fn(*args, backend=name, **kwargs)
    finally:
        info._BACKENDS[name] = (kernels, hooks)


def _same(fast, general):
    assert type(fast) is type(general)
    fast_a, general_a = np.asarray(fast), np.asarray(general)
    assert fast_a.dtype == general_a.dtype
    assert fast_a.shape == general_a.shape
    # bit for bit, NaN included: compare the bytes
    assert fast_a.tobytes() == general_a.tobytes()


def _both(name, fn, *args, **kwargs):
    fast = fn(*args, backend=name, **kwargs)
    general = _general(name, fn, *args, **kwargs)
    _same(fast, general)
    return fast


def _errors(name, fn, *args, **kwargs):
    with pytest.raises((ValueError, TypeError)) as fast:
        fn(*args, backend=name, **kwargs)
    with pytest.raises((ValueError, TypeError)) as general:
        _general(name, fn, *args, **kwargs)
    assert type(fast.value) is type(general.value)
    assert str(fast.value) == str(general.value)


def test_the_numpy_backends_take_the_fast_paths(fast_backend):
    kernels, hooks = info._backend(fast_backend)
    assert hooks
    assert kernels is kb.get_backend(fast_backend)


def test_a_backend_with_its_own_hooks_takes_the_general_path(monkeypatch):
    class Device(Backend):
        name = "device"

        def as_array(self, x, name):
            return super().as_array(x, name)

    monkeypatch.setattr(info, "get_backend", lambda name: Device())
    monkeypatch.setattr(info, "_BACKENDS", {})
    kernels, hooks = info._backend("device")
    assert isinstance(kernels, Device) and not hooks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(10,), (4, 10), (3, 1), (1,)])
def test_reductions_match_the_general_path(fast_backend, rng, dtype, shape):
    p = rng.random(shape).astype(dtype)
    q = rng.random(shape).astype(dtype)
    if shape[-1] > 1:
        p.flat[0] = 0.0  # a zero entry: 0 log 0
    for base in (None, 2.0):
        _both(fast_backend, info.entropy, p, base=base)
        for fn in (info.cross_entropy, info.kl_divergence, info.js_divergence):
            _both(fast_backend, fn, p, q, base=base)
            _both(fast_backend, fn, p, q, base=base, axis=len(shape) - 1)
    if shape[-1] == 1:
        return
    q.flat[0] = 0.0
    q.flat[-1] = 0.0  # p > 0 where q = 0: inf
    _both(fast_backend, info.kl_divergence, p, q)
    _both(fast_backend, info.cross_entropy, p, q)


def test_reductions_of_strided_rows_match(fast_backend, rng):
    p = rng.random((4, 20))[:, ::2]
    q = rng.random((4, 20))[:, 1::2]
    _both(fast_backend, info.entropy, p)
    _both(fast_backend, info.kl_divergence, p, q)
    _both(fast_backend, info.entropy, p[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_joint_reductions_match(fast_backend, rng, dtype):
    j = rng.random((3, 4)).astype(dtype)
    for fn in (info.mutual_information, info.conditional_entropy):
        _both(fast_backend, fn, j)
        _both(fast_backend, fn, j, base=2.0)
        _both(fast_backend, fn, j[:1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(10,), (4, 10), (2, 1)])
def test_softmax_family_matches(fast_backend, rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[0] = -np.inf
    for fn in (info.softmax, info.log_softmax):
        for t in (1.0, 0.5, 3):
            out = _both(fast_backend, fn, x, temperature=t)
            assert out.shape == x.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_logits_matches(fast_backend, rng, dtype):
    x = rng.standard_normal((5, 7)).astype(dtype)
    x[2, 3] = np.nan  # NaN logits propagate
    t = np.array([1, -100, 6, 0, 3])
    for reduction in ("mean", "sum", "none"):
        for smoothing in (0.0, 0.1, 1.0, 1e-50):
            _both(fast_backend, info.cross_entropy_logits, x, t, reduction=reduction,
                  label_smoothing=smoothing)
    _both(fast_backend, info.cross_entropy_logits, x, np.where(t < 0, 6, t).astype(np.int32),
          ignore_index=6)
    _both(fast_backend, info.perplexity, x, t)
    _both(fast_backend, info.perplexity, x, np.full(5, -100))  # all ignored: nan
    _both(fast_backend, info.perplexity, np.array([[0.0, 1e4]], dtype=dtype), np.array([0]))
    many = rng.integers(0, 7, size=100)  # more targets than the Python-int check takes
    _both(fast_backend, info.cross_entropy_logits, rng.standard_normal((100, 7)), many)


@pytest.mark.parametrize("rows", range(1, 11))
def test_mean_loss_is_numpys_sum_of_the_row_losses(backend, rng, rows):
    """The mean over the rows not ignored is np.add.reduce of the per-row losses over their
    count, bit for bit (a few rows are summed as Python floats in NumPy's order), -0.0,
    infinite and huge losses included."""
    x = rng.standard_normal((rows, 5)) * 30
    t = rng.integers(0, 5, size=rows)
    t[rows // 2] = -100
    if rows > 3:
        x[1] = [1e308, -1e308, 0.0, 0.0, 0.0]   # a loss near 2e308 beside others: inf or not
        t[1] = 1
        x[3, 2] = -np.inf                          # an infinite loss
        t[3] = 2
    losses = info.cross_entropy_logits(x, t, reduction="none", backend=backend)
    kept = int(np.count_nonzero(t != -100))
    with np.errstate(over="ignore", invalid="ignore"):
        want = float(np.add.reduce(losses)) / kept if kept else np.nan  # all ignored: NaN
    got = info.cross_entropy_logits(x, t, backend=backend)
    assert got == want or (np.isnan(got) and np.isnan(want))
    with np.errstate(over="ignore"):
        want_ppl = np.exp(want)
    got_ppl = info.perplexity(x, t, backend=backend)
    assert got_ppl == pytest.approx(want_ppl, rel=1e-15, nan_ok=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussians_match(fast_backend, rng, dtype):
    mu1, mu2 = rng.standard_normal((2, 3, 4)).astype(dtype)
    s1, s2 = (rng.random((2, 3, 4)) + 0.1).astype(dtype)
    s1[0, 0] = np.nan  # NaN sigma is not an input error: it propagates
    _both(fast_backend, info.gaussian_kl, mu1, s1, mu2, s2)
    _both(fast_backend, info.gaussian_kl, mu1[0], s1[0], mu2[0], s2[0])
    _both(fast_backend, info.gaussian_entropy, s2)
    _both(fast_backend, info.gaussian_entropy, s2[:, 1])


BAD_P = [np.array([0.5, -0.1, 0.6]), np.array([0.5, np.nan]), np.array([np.inf, 1.0]),
         np.array([0.0, 0.0]), np.array([[0.2, 0.8], [0.0, 0.0]])]


@pytest.mark.parametrize("bad", BAD_P)
def test_bad_distributions_raise_alike(fast_backend, bad):
    good = np.full(bad.shape, 0.5)
    _errors(fast_backend, info.entropy, bad)
    for fn in (info.cross_entropy, info.kl_divergence, info.js_divergence):
        _errors(fast_backend, fn, bad, good)
        _errors(fast_backend, fn, good, bad)
    _errors(fast_backend, info.kl_divergence, good, good[..., :1])  # shapes differ
    _errors(fast_backend, info.entropy, good, base=1.0)
    _errors(fast_backend, info.entropy, good, axis=2)


def test_bad_arguments_raise_alike(fast_backend):
    x = np.zeros((2, 3))
    t = np.array([0, 2])
    for temperature in (0.0, -1.0, float("nan"), float("inf"), True, "1"):
        _errors(fast_backend, info.softmax, x, temperature=temperature)
        _errors(fast_backend, info.log_softmax, x, temperature=temperature)
    for targets in (np.array([0, 3]), np.array([-1, 0]), np.array([0.0, 1.0]), np.array([0]),
                    [0, 5], "ab"):
        _errors(fast_backend, info.cross_entropy_logits, x, targets)
        _errors(fast_backend, info.perplexity, x, targets)
    for smoothing in (-0.1, 1.5, float("nan"), True):
        _errors(fast_backend, info.cross_entropy_logits, x, t, label_smoothing=smoothing)
    _errors(fast_backend, info.cross_entropy_logits, x, t, reduction="max")
    _errors(fast_backend, info.cross_entropy_logits, x, t, ignore_index=1.5)
    _errors(fast_backend, info.cross_entropy_logits, np.zeros(3), t)
    ones = np.ones(4)
    for bad in (np.array([1.0, 0.0, 1.0, 1.0]), np.array([1.0, 1.0, -2.0, 1.0])):
        _errors(fast_backend, info.gaussian_kl, ones, bad, ones, ones)
        _errors(fast_backend, info.gaussian_kl, ones, ones, ones, bad)
        _errors(fast_backend, info.gaussian_entropy, bad)


def test_results_are_new_arrays(fast_backend, rng):
    """The fast paths never hand back (or write into) the caller's array."""
    x = rng.standard_normal((3, 4))
    keep = x.copy()
    out = info.softmax(x, backend=fast_backend)
    assert not np.shares_memory(out, x)
    np.testing.assert_array_equal(x, keep)
    s = rng.random(4) + 1.0
    assert not np.shares_memory(info.gaussian_entropy(s, backend=fast_backend), s)
