"""Empty and degenerate shapes, as NumPy and scipy users expect them, the same on every backend.

An empty result where the reduction is well defined (no slice to reduce, or an empty softmax);
a ValueError naming the argument where it is not (an empty slice: no distribution to
normalize). Slices of one element and tables of one row or column give the exact 0 that the
mathematics gives, not a rounding residue that differs between backends.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernbench import info
from kernbench.optim import SGD, Adam, AdamW, clip_grad_norm
from tests.helpers import assert_same

ALL_BACKENDS = True


def _host(x):
    """A NumPy view of a result (dask arrays computed)."""
    if hasattr(x, "compute") and not isinstance(x, np.ndarray):
        return np.asarray(x.compute())
    return x


# ---------------------------------------------------------------------------- empty results

@pytest.mark.parametrize("shape, axis", [((0,), -1), ((3, 0), -1), ((3, 0), 0), ((0, 3), -1),
                                         ((2, 0, 1), 2), ((2, 0, 1), 1), ((2, 0, 3), 0)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_of_an_empty_array_is_empty(backend, name, shape, axis, dtype):
    """As torch.softmax gives (scipy 1.17's softmax raises NumPy's internal "zero-size array
    to reduction operation maximum" where the axis itself is empty)."""
    x = np.ones(shape, dtype=dtype)
    got = _host(getattr(info, name)(x, axis=axis, backend=backend))
    assert isinstance(got, np.ndarray)
    assert got.shape == shape
    assert got.dtype == dtype


def test_empty_softmax_matches_torch(backend):
    torch = pytest.importorskip("torch")
    for shape, axis in [((0,), 0), ((3, 0), 1), ((2, 0, 1), 1), ((0, 3), 1)]:
        x = np.ones(shape, dtype=np.float32)
        for name in ("softmax", "log_softmax"):
            want = getattr(torch, name)(torch.from_numpy(x), dim=axis).numpy()
            got = _host(getattr(info, name)(x, axis=axis, backend=backend))
            assert got.shape == want.shape and got.dtype == want.dtype


@pytest.mark.parametrize("name", ["entropy", "cross_entropy", "kl_divergence", "js_divergence"])
@pytest.mark.parametrize("shape, axis, lead", [((2, 0, 3), -1, (2, 0)), ((0, 3), 1, (0,)),
                                               ((2, 0, 3), 0, (0, 3)), ((4, 0), 0, (0,))])
def test_reduction_with_no_slice_is_an_empty_result(backend, name, shape, axis, lead):
    p = np.ones(shape, dtype=np.float32)
    args = (p,) if name == "entropy" else (p, p)
    got = getattr(info, name)(*args, axis=axis, backend=backend)
    assert isinstance(got, np.ndarray)
    assert got.shape == lead
    assert got.dtype == np.float32
    assert got.shape == getattr(info, name)(*args, axis=axis, backend="numpy").shape
    counts = np.ones(shape, dtype=np.int64)  # integer counts give float64, empty or not
    assert info.entropy(counts, axis=axis, backend=backend).dtype == np.float64


@pytest.mark.parametrize("name", ["entropy", "cross_entropy", "kl_divergence", "js_divergence"])
@pytest.mark.parametrize("shape, axis", [((0,), -1), ((3, 0), -1), ((0, 3), 0), ((0, 0), 1),
                                         ((2, 0, 3), 1)])
def test_an_empty_slice_is_an_error_naming_p(backend, name, shape, axis):
    p = np.ones(shape)
    args = (p,) if name == "entropy" else (p, p)
    with pytest.raises(ValueError, match=r"^p is empty along axis"):
        getattr(info, name)(*args, axis=axis, backend=backend)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
@pytest.mark.parametrize("name", ["mutual_information", "conditional_entropy"])
def test_an_empty_joint_table_is_an_error_naming_joint(backend, name, shape):
    with pytest.raises(ValueError, match=r"^joint must not be empty"):
        getattr(info, name)(np.ones(shape), backend=backend)


def test_logits_without_rows(backend):
    logits = np.ones((0, 3), dtype=np.float32)
    targets = np.zeros(0, dtype=np.int64)
    mean = info.cross_entropy_logits(logits, targets, backend=backend)
    assert isinstance(mean, np.float32) and math.isnan(mean)  # torch: the mean of nothing
    assert info.cross_entropy_logits(logits, targets, reduction="sum", backend=backend) == 0.0
    none = info.cross_entropy_logits(logits, targets, reduction="none", backend=backend)
    assert none.shape == (0,) and none.dtype == np.float32
    assert math.isnan(info.perplexity(logits, targets, backend=backend))
    with pytest.raises(ValueError, match=r"^logits must have at least one class"):
        info.cross_entropy_logits(np.ones((2, 0)), np.zeros(2, dtype=np.int64), backend=backend)


def test_logits_without_rows_match_torch(backend):
    torch = pytest.importorskip("torch")
    logits = np.ones((0, 3))
    targets = np.zeros(0, dtype=np.int64)
    for reduction in ("mean", "sum"):
        want = torch.nn.functional.cross_entropy(torch.from_numpy(logits),
                                                 torch.from_numpy(targets), reduction=reduction)
        got = info.cross_entropy_logits(logits, targets, reduction=reduction, backend=backend)
        assert_same(got, want.numpy())


@pytest.mark.parametrize("shapes", [[(0,)] * 4, [(2, 0), 1.0, 0.0, (1, 1)],
                                    [(0, 3), (3,), (1, 3), 2.0]])
def test_gaussians_of_empty_arrays_are_empty(backend, shapes):
    args = [np.ones(s) if isinstance(s, tuple) else s for s in shapes]
    got = _host(info.gaussian_kl(*args, backend=backend))
    want = info.gaussian_kl(*args, backend="numpy")
    assert got.shape == want.shape and want.size == 0
    assert _host(info.gaussian_entropy(args[0], backend=backend)).shape == args[0].shape


def test_gaussians_of_scalars_are_numpy_scalars(backend):
    kl = info.gaussian_kl(0.0, 1.0, 1.0, 2.0, backend=backend)
    h = info.gaussian_entropy(np.float32(2.0), backend=backend)
    assert isinstance(kl, np.float64) and isinstance(h, np.float32)
    assert_same(kl, info.gaussian_kl(0.0, 1.0, 1.0, 2.0, backend="numpy"))
    assert_same(h, info.gaussian_entropy(np.float32(2.0), backend="numpy"))


# ---------------------------------------------------------------------------- length-1 axes

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p, q", [([2.0], [3.0]), (["subnormal"], ["max"]), (["tiny"], [7.0]),
                                  ([0.1], [0.3])])
def test_a_slice_of_one_element_measures_exactly_zero(backend, dtype, p, q):
    stats = pytest.importorskip("scipy.stats")
    fi = np.finfo(dtype)
    named = {"subnormal": fi.smallest_subnormal, "max": fi.max, "tiny": fi.tiny}
    p = np.array([named.get(v, v) for v in p], dtype=dtype)
    q = np.array([named.get(v, v) for v in q], dtype=dtype)
    for base in (None, 2.0):
        assert info.entropy(p, base=base, backend=backend) == 0.0
        assert info.kl_divergence(p, q, base=base, backend=backend) == 0.0
        assert info.cross_entropy(p, q, base=base, backend=backend) == 0.0
        assert info.js_divergence(p, q, base=base, backend=backend) == 0.0
    assert stats.entropy(p.astype(np.float64), q.astype(np.float64)) == 0.0
    rows = np.repeat(p[None, :], 3, axis=0)  # (3, 1): one slice of one element per row
    got = info.kl_divergence(rows, np.repeat(q[None, :], 3, axis=0), backend=backend)
    assert got.dtype == dtype and np.array_equal(got, np.zeros(3))
    assert np.array_equal(info.entropy(rows.T, axis=0, backend=backend), np.zeros(3))


@pytest.mark.parametrize("name", ["kl_divergence", "entropy"])
def test_a_one_element_slice_still_checks_its_entry(backend, name):
    for bad, match in [([-1.0], "non-negative"), ([np.nan], "non-negative"),
                       ([0.0], "sums to zero")]:
        args = (bad,) if name == "entropy" else (bad, [1.0])
        with pytest.raises(ValueError, match=match):
            getattr(info, name)(*args, backend=backend)
    if name == "kl_divergence":
        with pytest.raises(ValueError, match=r"^q sums to zero"):
            info.kl_divergence([1.0], [-0.0], backend=backend)


@pytest.mark.parametrize("table", [[[3.0, 3.0]], [[1.0], [2.0], [0.0]], [[0.2, 0.3, 0.5]],
                                   [[7.0]], [[1e-300, 5e-324]]])
def test_a_table_of_one_row_or_column_shares_no_information(backend, table):
    j = np.array(table)
    assert info.mutual_information(j, backend=backend) == 0.0
    if j.shape[1] == 1:  # Y is constant: nothing is left to know about it
        assert info.conditional_entropy(j, backend=backend) == 0.0
    else:  # X is constant: H(Y|X) = H(Y)
        assert_same(info.conditional_entropy(j, backend=backend),
                    info.entropy(j[0], backend="numpy"))


# ---------------------------------------------------------------------------- label smoothing

def test_label_smoothing_is_rounded_to_the_logits_dtype(backend):
    """A label_smoothing that float32 cannot hold is 0 there: the smoothing term is left out,
    as for label_smoothing=0, on every backend (not 0 times an infinite term, NaN)."""
    x = np.array([[0.0, 0.0, 0.0, -np.inf], [1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    t = np.array([0, 3])
    tiny = info.cross_entropy_logits(x, t, label_smoothing=1e-300, reduction="none",
                                     backend=backend)
    zero = info.cross_entropy_logits(x, t, label_smoothing=0.0, reduction="none",
                                     backend="numpy")
    assert np.all(np.isfinite(tiny))
    assert_same(_host(tiny), zero)
    wide = info.cross_entropy_logits(x.astype(np.float64), t, label_smoothing=1e-300,
                                     reduction="none", backend=backend)
    assert wide[0] == np.inf  # in float64 it is a real weight on an infinite term


# ---------------------------------------------------------------------------- optimizers

@pytest.mark.parametrize("make", [
    lambda ps, b: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1, backend=b),
    lambda ps, b: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, maximize=True, backend=b),
    lambda ps, b: Adam(ps, lr=0.1, amsgrad=True, weight_decay=0.1, backend=b),
    lambda ps, b: AdamW(ps, lr=0.1, maximize=True, backend=b),
], ids=["sgd", "sgd-nesterov", "adam-amsgrad", "adamw"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_step_empty_and_length_one_params(backend, make, dtype):
    shapes = [(0,), (2, 0), (1,), (1, 1), (3,)]

    def run(b):
        rng = np.random.default_rng(7)
        params = [rng.standard_normal(s).astype(dtype) for s in shapes]
        opt = make(params, b)
        for _ in range(3):
            opt.step([rng.standard_normal(s).astype(dtype) for s in shapes])
        return [_host(p) for p in opt.params], opt.state_dict()["state"]

    got_params, got_state = run(backend)
    want_params, want_state = run("numpy")
    for g, w in zip(got_params, want_params):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert_same(g, w)
    assert got_state.keys() == want_state.keys()
    for i, st in want_state.items():
        for key, value in st.items():
            if key == "step":
                assert got_state[i][key] == value == 3
            else:
                assert got_state[i][key].shape == value.shape
                assert_same(got_state[i][key], value)


def test_clip_grad_norm_of_empty_grads(backend):
    grads = [np.ones(0, dtype=np.float32), np.ones((0, 3))]
    assert clip_grad_norm(grads, 1.0, backend=backend) == 0.0
    assert [g.shape for g in grads] == [(0,), (0, 3)]
    grads = [np.ones(0), np.full(3, 2.0), np.ones((1, 1))]
    total = clip_grad_norm(grads, 1.0, backend=backend)
    assert total == pytest.approx(math.sqrt(13.0))
    assert_same(grads[1], np.full(3, 2.0 / (math.sqrt(13.0) + 1e-6)))


def test_cuda_empty_device_arrays_stay_on_the_device():
    """An empty device array in gives an empty device array out, no kernel launched."""
    import kernbench as kb

    if "cuda" not in kb.available_backends():
        pytest.skip("the cuda backend does not run here")
    from numba import cuda

    for shape, axis in [((0,), 0), ((3, 0), 1), ((2, 0, 1), 1), ((0, 3), 1)]:
        d = cuda.to_device(np.ones(shape, dtype=np.float32))
        out = info.log_softmax(d, axis=axis, backend="cuda")
        assert hasattr(out, "copy_to_host") and out.shape == shape
    d = cuda.to_device(np.ones((2, 0, 3)))
    assert info.kl_divergence(d, d, backend="cuda").shape == (2, 0)
    assert info.gaussian_entropy(cuda.to_device(np.ones(0)), backend="cuda").shape == (0,)


# ---------------------------------------------------------------------------- found by fuzzing

def test_cosine_schedule_of_a_subnormal_span(backend):
    """(hi - lo) * (1 + cos) / 2 in the contract's order: halving a subnormal span first
    rounded it to 0 on the numpy backend alone."""
    from kernbench.optim import cosine_annealing, cosine_schedule

    steps = np.array([0.0, 2.5, 5.0, 10.0])
    got = cosine_schedule(steps, 10, 0.0, 5e-324, backend=backend)
    want = np.array([cosine_annealing(t, 10, 0.0, 5e-324) for t in steps])
    np.testing.assert_array_equal(got, want)
    assert got[0] == 0.0 and got[-1] == 5e-324


def test_js_divergence_of_float32_rows_summing_past_float32(backend):
    """Two entries at the top of float32 sum past its range (not past float64's, where the
    sum is accumulated): the numpy backend cast that sum to float32 (inf) and normalized q
    to zeros."""
    spatial = pytest.importorskip("scipy.spatial")
    dtype = np.float32
    big = float(np.finfo(dtype).max) * 0.99
    p = np.array([0.0, 0.0, 1.0], dtype=dtype)
    q = np.array([0.0, big, big], dtype=dtype)
    want = spatial.distance.jensenshannon(p.astype(np.float64), q.astype(np.float64)) ** 2
    got = info.js_divergence(p, q, backend=backend)
    assert got.dtype == dtype
    assert_same(np.float64(got), want, tol=(1e-6, 1e-9))
