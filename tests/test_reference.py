"""Every public kernel against an outside reference (scipy, torch, plain NumPy formulas).

Tolerances are the contract's (:mod:`kernbench.backends.interface`): ``TOLERANCES["float64"]`` for
float64 against a float64 reference, ``F32_VS_F64_TOLERANCE`` for float32 against the float64
reference. inf, -inf, nan and the exact zeros the spec promises must agree exactly.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.special
import scipy.stats

from kernbench import info
from kernbench.backends.interface import F32_VS_F64_TOLERANCE, TOLERANCES
from kernbench.optim import SGD, Adam, AdamW, clip_grad_norm

try:  # torch is an optional peer: only the torch tests skip without it
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

RTOL64, ATOL64 = TOLERANCES["float64"]
RTOL32, ATOL32 = F32_VS_F64_TOLERANCE


def assert_close(actual, expected, rtol=RTOL64, atol=ATOL64, err_msg=""):
    """allclose, with inf/-inf/nan positions required to agree exactly."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    a64 = actual.astype(np.float64)
    e64 = expected.astype(np.float64)
    for what, test in (("nan", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        np.testing.assert_array_equal(test(a64), test(e64),
                                      err_msg=f"{what} positions differ {err_msg}")
    np.testing.assert_allclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=err_msg)


def check_reduction_type(result, x, expected_dtype):
    """A NumPy scalar for 1-D input, an array of the reduced shape otherwise."""
    if np.ndim(x) == 1:
        assert isinstance(result, np.generic), type(result)
        assert np.ndim(result) == 0
    else:
        assert isinstance(result, np.ndarray), type(result)
    assert result.dtype == expected_dtype, result.dtype


# ---------------------------------------------------------------------------------------------
# entropy, kl, js, cross-entropy against scipy
# ---------------------------------------------------------------------------------------------

SHAPE_AXES = [((7,), -1), ((4, 5), 0), ((4, 5), 1), ((4, 5), -1),
              ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1)]
SHAPE_AXIS_IDS = [f"{'x'.join(map(str, s))}-ax{a}" for s, a in SHAPE_AXES]
BASES = [None, 2, 10]


def _nonzero_slices(rng, shape, axis, zeros=True):
    p = rng.random(shape)
    if zeros:
        p[rng.random(shape) < 0.2] = 0.0
    s = p.sum(axis=axis, keepdims=True)
    # give every empty slice some mass at its first position
    first = [slice(None)] * len(shape)
    first[axis] = slice(0, 1)
    p[tuple(first)] += (s == 0) * 0.5
    return p


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("shape,axis", SHAPE_AXES, ids=SHAPE_AXIS_IDS)
def test_entropy_vs_scipy(backend, rng, shape, axis, base):
    p = _nonzero_slices(rng, shape, axis)
    got = info.entropy(p, base=base, axis=axis, backend=backend)
    want = scipy.stats.entropy(p, base=base, axis=axis)
    check_reduction_type(got, p, np.float64)
    assert_close(got, want)


@pytest.mark.parametrize("base", BASES)
def test_entropy_integer_counts(backend, rng, base):
    counts = rng.integers(0, 9, size=(3, 6))
    counts[:, 0] += 1
    got = info.entropy(counts, base=base, axis=-1, backend=backend)
    check_reduction_type(got, counts, np.float64)
    assert_close(got, scipy.stats.entropy(counts, base=base, axis=-1))
    got1 = info.entropy(counts[0], base=base, backend=backend)
    check_reduction_type(got1, counts[0], np.float64)
    assert_close(got1, scipy.stats.entropy(counts[0], base=base))


@pytest.mark.parametrize("axis", [0, -1])
def test_entropy_float32_gives_float32(backend, rng, axis):
    p = _nonzero_slices(rng, (4, 6), axis).astype(np.float32)
    got = info.entropy(p, axis=axis, backend=backend)
    check_reduction_type(got, p, np.float32)
    assert_close(got, scipy.stats.entropy(p.astype(np.float64), axis=axis), RTOL32, ATOL32)
    got1 = info.entropy(p[0], backend=backend)
    check_reduction_type(got1, p[0], np.float32)
    assert_close(got1, scipy.stats.entropy(p[0].astype(np.float64)), RTOL32, ATOL32)


def test_entropy_list_input(backend):
    got = info.entropy([1, 2, 3, 0], backend=backend)
    check_reduction_type(got, [1, 2, 3, 0], np.float64)
    assert_close(got, scipy.stats.entropy([1, 2, 3, 0]))
    got = info.entropy([[0.25, 0.75], [0.5, 0.5]], base=2, backend=backend)
    assert_close(got, scipy.stats.entropy([[0.25, 0.75], [0.5, 0.5]], base=2, axis=-1))


def test_entropy_exact_zero_for_one_hot(backend):
    for p in ([0.0, 1.0, 0.0], [3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 7.0]):
        got = info.entropy(p, backend=backend)
        assert got == 0.0, (p, got)
    got = info.entropy(np.array([[0.0, 5.0], [2.0, 0.0]]), backend=backend)
    np.testing.assert_array_equal(got, [0.0, 0.0])


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("shape,axis", SHAPE_AXES, ids=SHAPE_AXIS_IDS)
def test_kl_vs_scipy(backend, rng, shape, axis, base):
    p = _nonzero_slices(rng, shape, axis)
    q = rng.random(shape) + 0.05
    got = info.kl_divergence(p, q, base=base, axis=axis, backend=backend)
    check_reduction_type(got, p, np.float64)
    assert_close(got, scipy.stats.entropy(p, q, base=base, axis=axis))


def test_kl_zeros_and_inf(backend):
    p = np.array([[1.0, 0.0, 1.0],   # p>0 where q=0 -> inf
                  [1.0, 0.0, 0.0],   # q=0 only where p=0 -> finite
                  [0.0, 2.0, 2.0],   # p=0 where q>0 -> that term is 0
                  [0.2, 0.3, 0.5]])
    q = np.array([[1.0, 1.0, 0.0],
                  [1.0, 0.0, 1.0],
                  [1.0, 1.0, 1.0],
                  [0.2, 0.3, 0.5]])
    got = info.kl_divergence(p, q, backend=backend)
    want = scipy.stats.entropy(p, q, axis=-1)
    assert_close(got, want)
    assert got[0] == np.inf
    assert got[3] == 0.0  # KL(p, p) is exactly zero


def test_kl_of_p_with_itself_is_exactly_zero(backend, rng):
    p = _nonzero_slices(rng, (3, 7), -1)
    np.testing.assert_array_equal(info.kl_divergence(p, p, backend=backend), np.zeros(3))
    assert info.kl_divergence(p[0], p[0].copy(), base=2, backend=backend) == 0.0


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("shape,axis", SHAPE_AXES, ids=SHAPE_AXIS_IDS)
def test_js_vs_scipy(backend, rng, shape, axis, base):
    p = _nonzero_slices(rng, shape, axis)
    q = _nonzero_slices(rng, shape, axis)
    got = info.js_divergence(p, q, base=base, axis=axis, backend=backend)
    check_reduction_type(got, p, np.float64)
    want = scipy.spatial.distance.jensenshannon(p, q, base=base, axis=axis) ** 2
    assert_close(got, want)


@pytest.mark.parametrize("base", BASES)
def test_js_disjoint_supports_is_ln2(backend, base):
    got = info.js_divergence([1.0, 0.0], [0.0, 3.0], base=base, backend=backend)
    want = math.log(2) / (math.log(base) if base else 1.0)
    assert_close(got, want)
    assert info.js_divergence([0.0, 2.0, 2.0], [0.0, 1.0, 1.0], backend=backend) == 0.0


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("shape,axis", SHAPE_AXES, ids=SHAPE_AXIS_IDS)
def test_cross_entropy_vs_formula(backend, rng, shape, axis, base):
    p = _nonzero_slices(rng, shape, axis)
    q = rng.random(shape) + 0.05
    got = info.cross_entropy(p, q, base=base, axis=axis, backend=backend)
    check_reduction_type(got, p, np.float64)
    pn = p / p.sum(axis=axis, keepdims=True)
    qn = q / q.sum(axis=axis, keepdims=True)
    want = -np.sum(scipy.special.xlogy(pn, qn), axis=axis)
    if base is not None:
        want = want / np.log(base)
    assert_close(got, want)


def test_cross_entropy_zeros(backend):
    p = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    q = np.array([[0.0, 1.0, 3.0], [1.0, 0.0, 1.0]])
    got = info.cross_entropy(p, q, backend=backend)
    # row 0: p=0 where q=0 contributes 0; row 1: p>0 where q=0 -> +inf
    want0 = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert_close(got[0], want0)
    assert got[1] == np.inf


# ---------------------------------------------------------------------------------------------
# softmax / log_softmax against scipy.special
# ---------------------------------------------------------------------------------------------

SOFTMAX_CASES = [((6,), -1), ((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1)]


def _logits(rng, shape):
    x = rng.normal(scale=3.0, size=shape)
    flat = x.reshape(-1)
    flat[1] = 1e4
    flat[min(3, flat.size - 1)] = -1e4
    flat[min(4, flat.size - 1)] = -np.inf
    return x


@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES, ids=[f"{s}-ax{a}" for s, a in SOFTMAX_CASES])
def test_softmax_vs_scipy(backend, rng, shape, axis, temperature):
    x = _logits(rng, shape)
    got = info.softmax(x, temperature=temperature, axis=axis, backend=backend)
    want = scipy.special.softmax(x / temperature, axis=axis)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == x.shape
    assert_close(got, want)
    np.testing.assert_array_equal(got[np.isneginf(x)], 0.0)  # -inf logit -> exactly 0

    got = info.log_softmax(x, temperature=temperature, axis=axis, backend=backend)
    want = scipy.special.log_softmax(x / temperature, axis=axis)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == x.shape
    assert_close(got, want)
    assert np.all(np.isneginf(got[np.isneginf(x)]))


@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_float32(backend, rng, axis):
    x = rng.normal(scale=4.0, size=(4, 5)).astype(np.float32)
    x64 = x.astype(np.float64)
    got = info.softmax(x, temperature=0.7, axis=axis, backend=backend)
    assert got.dtype == np.float32
    assert_close(got, scipy.special.softmax(x64 / 0.7, axis=axis), RTOL32, 1e-6)
    got = info.log_softmax(x, temperature=0.7, axis=axis, backend=backend)
    assert got.dtype == np.float32
    assert_close(got, scipy.special.log_softmax(x64 / 0.7, axis=axis), RTOL32, ATOL32)


def test_softmax_nonfinite_rows(backend):
    x = np.array([[0.0, -np.inf, 1.0],       # -inf -> 0
                  [-np.inf, -np.inf, -np.inf],  # all -inf -> nan
                  [np.inf, 0.0, 1.0],        # +inf max -> nan
                  [np.nan, 0.0, 1.0]])       # nan propagates
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = scipy.special.softmax(x, axis=-1)
        got = info.softmax(x, backend=backend)
        got_log = info.log_softmax(x, backend=backend)
    assert_close(got, want)
    assert np.all(np.isnan(got[1:]))
    assert np.all(np.isnan(got_log[1:]))
    assert_close(got_log[0], scipy.special.log_softmax(x[0]))


# ---------------------------------------------------------------------------------------------
# mutual information and conditional entropy
# ---------------------------------------------------------------------------------------------

def _mi_reference(joint, base=None):
    """I(X;Y) of a table by the textbook form; scikit-learn's ``mutual_info_score`` where the
    table holds integer counts (it accepts only a contingency table of counts)."""
    j = np.asarray(joint, dtype=np.float64)
    value = None
    if np.issubdtype(np.asarray(joint).dtype, np.integer):
        try:
            from sklearn.metrics import mutual_info_score
        except ImportError:
            pass
        else:
            value = float(mutual_info_score(None, None, contingency=np.asarray(joint)))
    if value is None:
        j = j / j.sum()
        px = j.sum(axis=1, keepdims=True)
        py = j.sum(axis=0, keepdims=True)
        nz = j > 0
        value = float(np.sum(j[nz] * np.log(j[nz] / (px * py)[nz])))
    value = max(value, 0.0)
    return value / math.log(base) if base else value


def test_mutual_information_vs_sklearn_counts(backend, rng):
    """Integer contingency tables against scikit-learn, the reference that takes counts."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    for shape in [(2, 2), (4, 5), (7, 3), (1, 6)]:
        counts = rng.integers(0, 20, size=shape)
        counts[0, 0] += 1  # never an all-zero table
        want = sklearn_metrics.mutual_info_score(None, None, contingency=counts)
        assert_close(info.mutual_information(counts, backend=backend), max(want, 0.0))


JOINTS = {
    "counts": lambda rng: np.array([[3, 0, 1, 4, 0], [0, 2, 2, 1, 5], [7, 1, 0, 0, 2],
                                    [1, 1, 1, 1, 1]]),
    "probs": lambda rng: rng.random((3, 3)),
    "with_zero_row": lambda rng: np.array([[0.1, 0.2, 0.0], [0.0, 0.0, 0.0], [0.3, 0.0, 0.4]]),
    "column": lambda rng: rng.random((5, 1)),
}


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("kind", list(JOINTS))
def test_mutual_information_vs_reference(backend, rng, kind, base):
    joint = JOINTS[kind](rng)
    got = info.mutual_information(joint, base=base, backend=backend)
    assert np.ndim(got) == 0
    assert_close(got, _mi_reference(joint, base))


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("kind", list(JOINTS))
def test_conditional_entropy_vs_reference(backend, rng, kind, base):
    joint = JOINTS[kind](rng)
    j = np.asarray(joint, dtype=np.float64)
    want = scipy.stats.entropy(j.ravel(), base=base) - scipy.stats.entropy(j.sum(axis=1), base=base)
    got = info.conditional_entropy(joint, base=base, backend=backend)
    assert np.ndim(got) == 0
    assert_close(got, max(want, 0.0))


def test_mutual_information_list_input(backend):
    joint = [[1, 2], [3, 4]]
    assert_close(info.mutual_information(joint, backend=backend), _mi_reference(joint))


# ---------------------------------------------------------------------------------------------
# optimizers against torch.optim
# ---------------------------------------------------------------------------------------------

SHAPES = [(5,), (2, 3), (2, 2, 2), (1,)]
N_STEPS = 20


def _problem(seed=7):
    r = np.random.default_rng(seed)
    params = [r.normal(size=s) for s in SHAPES]
    grads = [[r.normal(size=s) for s in SHAPES] for _ in range(N_STEPS)]
    return params, grads


def _torch_trajectory(cls, kwargs, params0, grads_seq):
    tparams = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params0]
    opt = cls(tparams, foreach=False, **kwargs)
    out = []
    for grads in grads_seq:
        for tp, g in zip(tparams, grads):
            tp.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append([tp.detach().numpy().copy() for tp in tparams])
    return out


def _run_and_compare(cls, tcls, kwargs, backend, dtype):
    params0, grads = _problem()
    if dtype == np.float32:
        params0 = [p.astype(np.float32) for p in params0]
        grads = [[g.astype(np.float32) for g in gs] for gs in grads]
        rtol, atol = RTOL32, ATOL32
    else:
        rtol, atol = RTOL64, ATOL64
    ref = _torch_trajectory(tcls, kwargs, [p.astype(np.float64) for p in params0],
                            [[g.astype(np.float64) for g in gs] for gs in grads])
    params = [p.copy() for p in params0]
    ids = [id(p) for p in params]
    opt = cls(params, backend=backend, **kwargs)
    for step, gs in enumerate(grads):
        opt.step([g.copy() for g in gs])
        for i, (p, want) in enumerate(zip(params, ref[step])):
            assert p.dtype == dtype
            assert_close(p, want, rtol, atol, err_msg=f"step {step + 1}, param {i}")
    if backend != "dask":
        assert [id(p) for p in opt.params] == ids  # the user's own arrays, updated in place
    for p, q in zip(opt.params, params):
        np.testing.assert_array_equal(np.asarray(p), q)


def _sgd_combos():
    for momentum, dampening, nesterov, wd, maximize in itertools.product(
            [0.0, 0.9], [0.0, 0.1], [False, True], [0.0, 0.01], [False, True]):
        if nesterov and (momentum == 0 or dampening != 0):
            continue
        yield dict(lr=0.05, momentum=momentum, dampening=dampening, nesterov=nesterov,
                   weight_decay=wd, maximize=maximize)


def _adam_combos():
    for amsgrad, maximize, wd in itertools.product([False, True], [False, True], [0.0, 0.01]):
        yield dict(lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=wd, amsgrad=amsgrad,
                   maximize=maximize)


def _ids(combos):
    return ["-".join(f"{k}={v}" for k, v in c.items() if k not in ("lr", "eps", "betas"))
            for c in combos]


SGD_COMBOS = list(_sgd_combos())
ADAM_COMBOS = list(_adam_combos())
DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", SGD_COMBOS, ids=_ids(SGD_COMBOS))
def test_sgd_vs_torch(backend, kwargs, dtype):
    _run_and_compare(SGD, torch.optim.SGD, kwargs, backend, dtype)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", ADAM_COMBOS, ids=_ids(ADAM_COMBOS))
def test_adam_vs_torch(backend, kwargs, dtype):
    _run_and_compare(Adam, torch.optim.Adam, kwargs, backend, dtype)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", ADAM_COMBOS, ids=_ids(ADAM_COMBOS))
def test_adamw_vs_torch(backend, kwargs, dtype):
    _run_and_compare(AdamW, torch.optim.AdamW, kwargs, backend, dtype)


@requires_torch
def test_sgd_momentum_none_grad_skips_param(backend):
    """A None grad leaves that param (and its momentum history) alone, as torch does."""
    params0, grads = _problem(3)
    grads = [list(gs) for gs in grads[:6]]
    grads[0][1] = None  # param 1 gets its first grad on step 2
    grads[3][0] = None
    kwargs = dict(lr=0.05, momentum=0.9, dampening=0.1)
    ref = _torch_trajectory(torch.optim.SGD, kwargs, params0, grads)
    params = [p.copy() for p in params0]
    opt = SGD(params, backend=backend, **kwargs)
    for step, gs in enumerate(grads):
        opt.step([None if g is None else g.copy() for g in gs])
        for p, want in zip(params, ref[step]):
            assert_close(p, want)


@requires_torch
def test_strided_view_params_updated_in_place(backend):
    base = np.random.default_rng(1).normal(size=(4, 6))
    untouched = base[:, 1::2].copy()
    view = base[:, ::2]
    params0 = [view.copy()]
    grads = [[np.random.default_rng(s).normal(size=view.shape)] for s in range(5)]
    kwargs = dict(lr=0.01, weight_decay=0.01)
    ref = _torch_trajectory(torch.optim.AdamW, kwargs, params0, grads)
    opt = AdamW([view], backend=backend, **kwargs)
    for gs in grads:
        opt.step([g.copy() for g in gs])
    assert_close(base[:, ::2], ref[-1][0])
    np.testing.assert_array_equal(base[:, 1::2], untouched)


def _assert_plain_data(obj):
    """state_dict() holds only plain NumPy arrays, Python scalars and containers of them."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            assert isinstance(key, (str, int)), type(key)
            _assert_plain_data(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _assert_plain_data(value)
    else:
        assert obj is None or type(obj) in (np.ndarray, int, float, bool, str), type(obj)


@requires_torch
@pytest.mark.parametrize("cls_name", ["SGD", "Adam"])
def test_state_dict_round_trip_across_backends(backend, cls_name):
    """Save after 10 steps on the numpy backend, load into `backend`, continue: torch's path."""
    cls, tcls = {"SGD": (SGD, torch.optim.SGD), "Adam": (Adam, torch.optim.Adam)}[cls_name]
    kwargs = (dict(lr=0.05, momentum=0.9) if cls_name == "SGD"
              else dict(lr=0.01, amsgrad=True, weight_decay=0.01))
    params0, grads = _problem(11)
    ref = _torch_trajectory(tcls, kwargs, params0, grads)
    first = [p.copy() for p in params0]
    opt1 = cls(first, backend="numpy", **kwargs)
    for gs in grads[:10]:
        opt1.step([g.copy() for g in gs])
    state = opt1.state_dict()
    _assert_plain_data(state)
    second = [np.asarray(p).copy() for p in opt1.params]
    opt2 = cls(second, backend=backend, **kwargs)
    opt2.load_state_dict(state)
    for gs in grads[10:]:
        opt2.step([g.copy() for g in gs])
    for p, want in zip(second, ref[-1]):
        assert_close(p, want)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clip_grad_norm_vs_torch(backend, dtype, max_norm):
    r = np.random.default_rng(5)
    grads0 = [r.normal(size=s).astype(dtype) for s in SHAPES]
    tgrads = [torch.tensor(g.astype(np.float64), requires_grad=True) for g in grads0]
    for t, g in zip(tgrads, grads0):
        t.grad = torch.tensor(g.astype(np.float64))
    want_norm = float(torch.nn.utils.clip_grad_norm_(tgrads, max_norm))
    grads = [g.copy() for g in grads0]
    got_norm = clip_grad_norm(grads, max_norm, backend=backend)
    assert isinstance(got_norm, float)
    rtol, atol = (RTOL64, ATOL64) if dtype == np.float64 else (RTOL32, ATOL32)
    assert_close(got_norm, want_norm, rtol, atol)
    for g, t in zip(grads, tgrads):
        assert g.dtype == dtype
        assert_close(g, t.grad.numpy(), rtol, atol)
    if max_norm == 100.0:  # no clipping: grads untouched
        for g, g0 in zip(grads, grads0):
            np.testing.assert_array_equal(g, g0)


# ---------------------------------------------------------------------------------------------
# losses from logits against torch.nn.functional
# ---------------------------------------------------------------------------------------------

def _ce_problem(kind):
    r = np.random.default_rng(17)
    logits = r.normal(scale=2.0, size=(6, 5))
    targets = np.array([0, 3, 1, 4, 2, 1], dtype=np.int64)
    if kind in ("extreme", "ninf_target"):
        logits[0, 2] = 1e4      # huge non-target logit
        logits[1, 3] = 1e4      # huge target logit
        logits[2, 0] = -1e4
        logits[3, 1] = -np.inf  # -inf non-target
    if kind == "ninf_target":
        logits[4, 2] = -np.inf  # -inf at the target: loss +inf
    return logits, targets


CE_KINDS = ["plain", "extreme", "ninf_target"]


@requires_torch
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("ignore", ["none", "default", "custom"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", CE_KINDS)
def test_cross_entropy_logits_vs_torch(backend, kind, reduction, ignore, label_smoothing):
    import torch.nn.functional as F

    logits, targets = _ce_problem(kind)
    kwargs = {}
    if ignore == "default":
        targets[[2, 5]] = -100
    elif ignore == "custom":
        kwargs["ignore_index"] = 1  # a valid class index used as the ignore marker
    want = F.cross_entropy(torch.tensor(logits), torch.tensor(targets), reduction=reduction,
                           label_smoothing=label_smoothing, **kwargs).numpy()
    got = info.cross_entropy_logits(logits, targets, reduction=reduction,
                                    label_smoothing=label_smoothing, backend=backend, **kwargs)
    assert_close(got, want)
    if reduction == "none":
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        ignored = targets == kwargs.get("ignore_index", -100)
        np.testing.assert_array_equal(got[ignored], 0.0)


@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_logits_float32_and_int32_targets(backend, reduction):
    import torch.nn.functional as F

    logits, targets = _ce_problem("plain")
    logits32 = logits.astype(np.float32)
    want = F.cross_entropy(torch.tensor(logits32.astype(np.float64)), torch.tensor(targets),
                           reduction=reduction, label_smoothing=0.1).numpy()
    got = info.cross_entropy_logits(logits32, targets.astype(np.int32), reduction=reduction,
                                    label_smoothing=0.1, backend=backend)
    if reduction == "none":
        assert got.dtype == np.float32
    assert_close(got, want, RTOL32, ATOL32)


@requires_torch
def test_cross_entropy_logits_all_ignored_mean_is_nan(backend):
    import torch.nn.functional as F

    logits, _ = _ce_problem("plain")
    targets = np.full(6, -100, dtype=np.int64)
    want = F.cross_entropy(torch.tensor(logits), torch.tensor(targets)).numpy()
    got = info.cross_entropy_logits(logits, targets, backend=backend)
    assert np.isnan(want) and np.isnan(got)
    got_sum = info.cross_entropy_logits(logits, targets, reduction="sum", backend=backend)
    assert got_sum == 0.0


@requires_torch
def test_cross_entropy_logits_nan_propagates(backend):
    import torch.nn.functional as F

    logits, targets = _ce_problem("plain")
    logits[2, 4] = np.nan
    want = F.cross_entropy(torch.tensor(logits), torch.tensor(targets), reduction="none").numpy()
    got = info.cross_entropy_logits(logits, targets, reduction="none", backend=backend)
    assert_close(got, want)
    assert np.isnan(got[2])


@requires_torch
@pytest.mark.parametrize("kind", ["plain", "extreme"])
@pytest.mark.parametrize("ignore_index", [-100, 3])
def test_perplexity_vs_torch(backend, kind, ignore_index):
    import torch.nn.functional as F

    logits, targets = _ce_problem(kind)
    targets[1] = ignore_index
    want = torch.exp(F.cross_entropy(torch.tensor(logits), torch.tensor(targets),
                                     ignore_index=ignore_index)).numpy()
    got = info.perplexity(logits, targets, ignore_index=ignore_index, backend=backend)
    assert_close(got, want)


# ---------------------------------------------------------------------------------------------
# Gaussians against torch.distributions
# ---------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_kl_vs_torch_broadcasting(backend, dtype):
    from torch.distributions import Normal, kl_divergence

    r = np.random.default_rng(23)
    mu1 = r.normal(size=(3, 1))
    s1 = r.uniform(0.2, 3.0, size=(1, 4))
    mu2 = np.float64(0.3)
    s2 = r.uniform(0.2, 3.0, size=(4,))
    args = [np.asarray(a).astype(dtype) for a in (mu1, s1, mu2, s2)]
    t = [torch.tensor(np.asarray(a, dtype=np.float64)) for a in args]
    want = kl_divergence(Normal(t[0], t[1]), Normal(t[2], t[3])).numpy()
    got = info.gaussian_kl(*args, backend=backend)
    assert got.shape == (3, 4)
    assert got.dtype == dtype
    rtol, atol = (RTOL64, ATOL64) if dtype == np.float64 else (RTOL32, ATOL32)
    assert_close(got, want, rtol, atol)


def test_gaussian_kl_equal_is_exactly_zero(backend):
    mu = np.array([-1.5, 0.0, 2.0, 1e3])
    sigma = np.array([0.1, 1.0, 3.0, 7.5])
    np.testing.assert_array_equal(info.gaussian_kl(mu, sigma, mu, sigma, backend=backend),
                                  np.zeros(4))


def test_gaussian_kl_lists_and_scalars(backend):
    got = info.gaussian_kl([0.0, 1.0], [1.0, 2.0], 0.0, 1.0, backend=backend)
    want = [0.0, math.log(0.5) + (4 + 1) / 2 - 0.5]
    assert_close(got, want)


@requires_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_entropy_vs_torch(backend, dtype):
    from torch.distributions import Normal

    sigma = np.array([[0.01, 0.5, 1.0], [2.0, 10.0, 1e3]], dtype=dtype)
    want = Normal(torch.zeros(2, 3, dtype=torch.float64),
                  torch.tensor(sigma.astype(np.float64))).entropy().numpy()
    got = info.gaussian_entropy(sigma, backend=backend)
    assert got.dtype == dtype and got.shape == sigma.shape
    rtol, atol = (RTOL64, ATOL64) if dtype == np.float64 else (RTOL32, ATOL32)
    assert_close(got, want, rtol, atol)
    assert got[0, 0] < 0  # differential entropy may be negative
