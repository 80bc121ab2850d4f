"""The numba backend above its parallel thresholds: the threaded runs against the numpy backend,
and serial and threaded runs of the same kernels against each other, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from kernbench import info
from kernbench._hyper import adam_kernel_args
from tests.helpers import assert_same

pytest.importorskip("numba")
K = pytest.importorskip("kernbench.backends._numba_kernels")
NB = pytest.importorskip("kernbench.backends.numba_backend")

DTYPES = [np.float32, np.float64]
#: Elements enough for every elementwise kernel's parallel build, float32 included.
N_LONG = 2 * NB.PARALLEL_MIN_BYTES // 4 + 17


@pytest.mark.parametrize("dtype", DTYPES)
def test_long_gaussians_match_numpy(rng, dtype):
    mu1 = rng.normal(size=N_LONG).astype(dtype)
    s1 = rng.uniform(1e-3, 30.0, size=N_LONG).astype(dtype)
    s2 = rng.uniform(1e-3, 30.0, size=2 * N_LONG).astype(dtype)[::2]   # a strided view
    for args in [(mu1, s1, dtype(0.5), s2), (mu1, s1, mu1[::-1], dtype(2.0))]:
        got = info.gaussian_kl(*args, backend="numba")
        assert got.dtype == dtype and got.shape == (N_LONG,)
        assert_same(got, info.gaussian_kl(*args, backend="numpy"))
    for sigma in (s1, s2, np.broadcast_to(dtype(3.0), (N_LONG,))):
        assert_same(info.gaussian_entropy(sigma, backend="numba"),
                    info.gaussian_entropy(sigma, backend="numpy"))


def _long_logits(rng, dtype, rows=6, v=50_257):
    """GPT-2 sized rows with a +inf, a nan and an all -inf row, and a row whose max sits in
    its last block."""
    x = (rng.normal(size=(rows, v)) * 4.0).astype(dtype)
    x[1, 40_000] = np.inf
    x[2, 7] = np.nan
    x[3] = -np.inf
    x[4, -1] = 60.0
    return x


@pytest.mark.parametrize("dtype", DTYPES)
def test_long_softmax_rows_match_numpy(rng, dtype):
    x = _long_logits(rng, dtype)
    for name in ("softmax", "log_softmax"):
        fn = getattr(info, name)
        for temperature in (1.0, 0.7):
            got = fn(x, temperature, backend="numba")
            assert_same(got, fn(x, temperature, backend="numpy"), err_msg=name)
        assert np.isnan(got[1]).all() and np.isnan(got[2]).all() and np.isnan(got[3]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_long_cross_entropy_logits_match_numpy(rng, dtype, smoothing):
    x = _long_logits(rng, dtype)
    targets = np.array([5, 6, 7, 8, 50_256, 0])
    got = info.cross_entropy_logits(x, targets, reduction="none", label_smoothing=smoothing,
                                    backend="numba")
    want = info.cross_entropy_logits(x, targets, reduction="none", label_smoothing=smoothing,
                                     backend="numpy")
    assert_same(got, want)
    assert np.isnan(got[[1, 2, 3]]).all() and np.isfinite(got[[0, 4, 5]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_kernels_serial_and_parallel_runs_agree_bitwise(rng, dtype):
    """The host picks the chunking from the shape alone, and a serial run calls the same task
    code on the same chunks as the threads, so the two sum the same partial sums in the same
    order."""
    p = rng.random((3, 70_001)).astype(dtype)
    q = rng.random((3, 70_001)).astype(dtype)
    x = _long_logits(rng, dtype, v=70_001)
    per_task, ch, parallel = NB._row_plan(p)
    x_per_task, x_ch, _ = NB._row_plan(x)
    assert parallel and ch < p.shape[1] and x_ch < x.shape[1]  # long rows cut: the merge paths
    out = {}
    for threads in (False, True):
        v, st = np.empty(3), np.empty(3, dtype=np.int64)
        K.entropy_rows(p, v, st, per_task, ch, threads)
        kl, st2 = np.empty(3), np.empty(3, dtype=np.int64)
        K.pq_rows(p, q, kl, st2, per_task, ch, True, threads)
        js, st3 = np.empty(3), np.empty(3, dtype=np.int64)
        K.js_rows(p, q, js, st3, per_task, ch, threads)
        sm = np.empty_like(x)
        K.softmax_rows(x, 1.0, sm, x_per_task, x_ch, False, threads)
        out[threads] = (v, kl, js, sm)
    for a, b in zip(out[False], out[True]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_serial_and_parallel_runs_agree_bitwise(rng, dtype):
    """An Adam step and a sum of squares over many chunks, on the threads and in one thread."""
    n = N_LONG
    ch, parallel = NB._elementwise(np.empty(n, dtype=dtype))
    assert parallel and ch < n
    arrays = [rng.normal(size=n).astype(dtype) for _ in range(3)] + [
        rng.random(n).astype(dtype)]
    out = {}
    for threads in (False, True):
        p, g, m, v = (a.copy() for a in arrays)
        scalars, flags = adam_kernel_args(1e-3, 0.9, 0.999, 1e-8, 0.01, True, False, False, 3)
        K.adam(p, g, m, v, np.empty(0, dtype=dtype), ch, threads,
               *(dtype(x) for x in scalars), *flags)
        out[threads] = (p, m, v, K.sum_squares(g, ch, threads))
    for a, b in zip(out[False], out[True]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(out[False][0], arrays[0])  # the step did move the params
