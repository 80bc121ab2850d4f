"""Bad input raises a clear error naming the argument, and a failed call changes nothing."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import kernbench as kb
from kernbench import info
from kernbench.optim import SGD, Adam, AdamW, clip_grad_norm

ALL_BACKENDS = True  # bad input must raise on every backend, cuda and dask included
VE = ValueError
TE = TypeError
EITHER = (ValueError, TypeError)

P = np.array([0.2, 0.3, 0.5])
Q = np.array([0.25, 0.25, 0.5])
LOGITS = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
TARGETS = np.array([2, 0], dtype=np.int64)


def _params(dtype=np.float64):
    return [np.ones(3, dtype=dtype), np.ones((2, 2), dtype=dtype)]


# (id, call(backend), expected exception, regex that the message must match)
BAD_CALLS = [
    # -- backends
    ("unknown-backend", lambda b: kb.get_backend("fortran"), VE, r"python"),
    ("unknown-backend-in-info", lambda b: info.entropy(P, backend="fortran"), VE, r"python"),
    ("unknown-backend-in-optim", lambda b: Adam(_params(), backend="fortran"), VE, r"python"),
    # -- probabilities
    ("entropy-negative", lambda b: info.entropy([0.5, -0.1, 0.6], backend=b), VE, r"\bp\b"),
    ("entropy-nan", lambda b: info.entropy([0.5, np.nan, 0.5], backend=b), VE, r"\bp\b"),
    ("entropy-inf", lambda b: info.entropy([0.5, np.inf, 0.5], backend=b), VE, r"\bp\b"),
    ("entropy-neg-in-2d-row", lambda b: info.entropy([[0.5, 0.5], [1.0, -1e-9]], backend=b),
     VE, r"\bp\b"),
    ("entropy-empty", lambda b: info.entropy(np.array([]), backend=b), VE, r"\bp\b|axis|empty"),
    ("entropy-empty-axis0", lambda b: info.entropy(np.zeros((0, 3)), axis=0, backend=b), VE,
     r"\bp\b|axis|empty"),
    ("entropy-zero-sum", lambda b: info.entropy([0.0, 0.0, 0.0], backend=b), VE, r"\bp\b"),
    ("entropy-zero-sum-row", lambda b: info.entropy([[0.0, 1.0], [0.0, 0.0]], backend=b), VE,
     r"\bp\b"),
    ("entropy-zero-sum-column", lambda b: info.entropy([[0.0, 1.0], [0.0, 2.0]], axis=0,
                                                       backend=b), VE, r"\bp\b"),
    ("kl-q-negative", lambda b: info.kl_divergence(P, [0.5, -0.5, 1.0], backend=b), VE, r"\bq\b"),
    ("kl-q-nan", lambda b: info.kl_divergence(P, [0.5, np.nan, 1.0], backend=b), VE, r"\bq\b"),
    ("kl-q-zero-sum", lambda b: info.kl_divergence(P, [0.0, 0.0, 0.0], backend=b), VE, r"\bq\b"),
    ("kl-p-inf", lambda b: info.kl_divergence([np.inf, 1.0, 1.0], Q, backend=b), VE, r"\bp\b"),
    ("kl-shapes", lambda b: info.kl_divergence(P, [0.5, 0.5], backend=b), VE,
     r"\bp\b|\bq\b|shape"),
    ("ce-shapes", lambda b: info.cross_entropy(P, np.ones((2, 3)), backend=b), VE,
     r"\bp\b|\bq\b|shape"),
    ("ce-q-negative", lambda b: info.cross_entropy(P, [1.0, -1.0, 1.0], backend=b), VE, r"\bq\b"),
    ("js-shapes", lambda b: info.js_divergence(np.ones(4), np.ones(3), backend=b), VE,
     r"\bp\b|\bq\b|shape"),
    ("js-p-zero-sum", lambda b: info.js_divergence([0.0, 0.0, 0.0], Q, backend=b), VE, r"\bp\b"),
    ("mi-negative", lambda b: info.mutual_information([[0.5, -0.1], [0.2, 0.4]], backend=b), VE,
     r"joint"),
    ("mi-zero-sum", lambda b: info.mutual_information(np.zeros((2, 3)), backend=b), VE, r"joint"),
    ("condent-nan", lambda b: info.conditional_entropy([[0.5, np.nan], [0.2, 0.4]], backend=b),
     VE, r"joint"),
    # -- base
    ("base-zero", lambda b: info.entropy(P, base=0, backend=b), VE, r"base"),
    ("base-negative", lambda b: info.kl_divergence(P, Q, base=-2.0, backend=b), VE, r"base"),
    ("base-one", lambda b: info.entropy(P, base=1, backend=b), VE, r"base"),
    ("base-one-mi", lambda b: info.mutual_information(np.eye(2), base=1.0, backend=b), VE,
     r"base"),
    # -- temperature
    ("temperature-zero", lambda b: info.softmax(LOGITS, temperature=0.0, backend=b), VE,
     r"temperature"),
    ("temperature-negative", lambda b: info.log_softmax(LOGITS, temperature=-1.0, backend=b), VE,
     r"temperature"),
    ("temperature-inf", lambda b: info.softmax(LOGITS, temperature=np.inf, backend=b), VE,
     r"temperature"),
    ("temperature-nan", lambda b: info.log_softmax(LOGITS, temperature=np.nan, backend=b), VE,
     r"temperature"),
    # -- cross_entropy_logits / perplexity
    ("logits-1d", lambda b: info.cross_entropy_logits(np.ones(3), np.array([0]), backend=b), VE,
     r"logits"),
    ("logits-3d", lambda b: info.cross_entropy_logits(np.ones((2, 3, 1)), TARGETS, backend=b),
     VE, r"logits"),
    ("targets-2d", lambda b: info.cross_entropy_logits(LOGITS, TARGETS[:, None], backend=b), VE,
     r"target"),
    ("targets-wrong-length", lambda b: info.cross_entropy_logits(LOGITS, np.array([0, 1, 2]),
                                                                 backend=b), VE, r"target"),
    ("targets-float", lambda b: info.cross_entropy_logits(LOGITS, np.array([0.0, 1.0]),
                                                          backend=b), EITHER, r"target"),
    ("target-too-big", lambda b: info.cross_entropy_logits(LOGITS, np.array([0, 3]), backend=b),
     VE, r"target"),
    ("target-negative", lambda b: info.cross_entropy_logits(LOGITS, np.array([-1, 0]),
                                                            backend=b), VE, r"target"),
    ("perplexity-target-out-of-range", lambda b: info.perplexity(LOGITS, np.array([0, 7]),
                                                                 backend=b), VE, r"target"),
    ("label-smoothing-negative", lambda b: info.cross_entropy_logits(
        LOGITS, TARGETS, label_smoothing=-0.1, backend=b), VE, r"label_smoothing"),
    ("label-smoothing-above-one", lambda b: info.cross_entropy_logits(
        LOGITS, TARGETS, label_smoothing=1.5, backend=b), VE, r"label_smoothing"),
    ("reduction-unknown", lambda b: info.cross_entropy_logits(LOGITS, TARGETS, reduction="avg",
                                                              backend=b), VE, r"reduction"),
    # -- gaussians
    ("gaussian-kl-sigma1-zero", lambda b: info.gaussian_kl(0.0, 0.0, 0.0, 1.0, backend=b), VE,
     r"sigma1"),
    ("gaussian-kl-sigma2-negative", lambda b: info.gaussian_kl([0.0, 1.0], 1.0, 0.0, [1.0, -2.0],
                                                               backend=b), VE, r"sigma2"),
    ("gaussian-entropy-sigma-zero", lambda b: info.gaussian_entropy(0.0, backend=b), VE,
     r"sigma"),
    ("gaussian-entropy-sigma-negative", lambda b: info.gaussian_entropy([1.0, -1.0], backend=b),
     VE, r"sigma"),
    # -- optimizer hyperparameters
    ("sgd-lr-negative", lambda b: SGD(_params(), lr=-0.1, backend=b), VE, r"\blr\b"),
    ("adam-lr-nan", lambda b: Adam(_params(), lr=np.nan, backend=b), VE, r"\blr\b"),
    ("adamw-lr-inf", lambda b: AdamW(_params(), lr=np.inf, backend=b), VE, r"\blr\b"),
    ("adam-eps-negative", lambda b: Adam(_params(), eps=-1e-8, backend=b), VE, r"\beps\b"),
    ("adam-beta1-one", lambda b: Adam(_params(), betas=(1.0, 0.999), backend=b), VE, r"beta"),
    ("adamw-beta2-negative", lambda b: AdamW(_params(), betas=(0.9, -0.1), backend=b), VE,
     r"beta"),
    ("adam-beta2-above-one", lambda b: Adam(_params(), betas=(0.9, 1.5), backend=b), VE, r"beta"),
    ("sgd-weight-decay-negative", lambda b: SGD(_params(), weight_decay=-0.01, backend=b), VE,
     r"weight_decay"),
    ("adam-weight-decay-negative", lambda b: Adam(_params(), weight_decay=-1.0, backend=b), VE,
     r"weight_decay"),
    ("adamw-weight-decay-negative", lambda b: AdamW(_params(), weight_decay=-1e-3, backend=b),
     VE, r"weight_decay"),
    ("sgd-momentum-negative", lambda b: SGD(_params(), momentum=-0.9, backend=b), VE,
     r"momentum"),
    ("sgd-momentum-nan", lambda b: SGD(_params(), momentum=np.nan, backend=b), VE, r"momentum"),
    ("sgd-nesterov-without-momentum", lambda b: SGD(_params(), nesterov=True, backend=b), VE,
     r"nesterov"),
    ("sgd-nesterov-with-dampening", lambda b: SGD(_params(), momentum=0.9, dampening=0.1,
                                                  nesterov=True, backend=b), VE, r"nesterov"),
    ("clip-max-norm-zero", lambda b: clip_grad_norm(_params(), 0.0, backend=b), VE, r"max_norm"),
    ("clip-max-norm-negative", lambda b: clip_grad_norm(_params(), -1.0, backend=b), VE,
     r"max_norm"),
    ("clip-max-norm-nan", lambda b: clip_grad_norm(_params(), np.nan, backend=b), VE,
     r"max_norm"),
    # -- params
    ("param-not-array", lambda b: SGD([np.ones(3), "weights"], backend=b), TE, r"param"),
    ("param-list-of-floats", lambda b: Adam([[1.0, 2.0]], backend=b), TE, r"param"),
    ("param-int-dtype", lambda b: Adam([np.ones(3, dtype=np.int64)], backend=b), EITHER,
     r"param"),
    ("param-complex-dtype", lambda b: SGD([np.ones(2, dtype=np.complex128)], backend=b), EITHER,
     r"param"),
]


@pytest.mark.parametrize("call,exc,match", [c[1:] for c in BAD_CALLS],
                         ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_naming_the_argument(backend, call, exc, match):
    with pytest.raises(exc, match=match):
        call(backend)


def test_unknown_backend_message_names_every_known_backend():
    with pytest.raises(ValueError) as excinfo:
        kb.get_backend("fortran")
    for name in ("python", "numpy", "numba-plain", "numba"):
        assert repr(name) in str(excinfo.value)


# ---------------------------------------------------------------------------------------------
# a failed step() changes nothing
# ---------------------------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd-momentum": lambda ps, b: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, backend=b),
    "sgd-plain": lambda ps, b: SGD(ps, lr=0.1, backend=b),
    "adam-amsgrad": lambda ps, b: Adam(ps, lr=0.1, amsgrad=True, weight_decay=0.01, backend=b),
    "adamw": lambda ps, b: AdamW(ps, lr=0.1, backend=b),
}


def _good_grads(params):
    return [np.full_like(p, 0.5) for p in params]


def _bad_grads(kind, params):
    good = _good_grads(params)
    last = params[-1]
    if kind == "too-few":
        return good[:-1]
    if kind == "too-many":
        return good + [np.ones_like(last)]
    if kind == "wrong-shape":
        return good[:-1] + [np.ones(last.size + 1, dtype=last.dtype)]
    if kind == "transposed-shape":
        return good[:-1] + [np.ones(last.shape[::-1], dtype=last.dtype)]
    if kind == "wrong-dtype":
        other = np.float32 if last.dtype == np.float64 else np.float64
        return good[:-1] + [np.ones_like(last, dtype=other)]
    if kind == "int-dtype":
        return good[:-1] + [np.ones(last.shape, dtype=np.int64)]
    if kind == "not-array":
        return good[:-1] + [object()]
    raise AssertionError(kind)


BAD_STEPS = {
    "too-few": (VE, r"grad"),
    "too-many": (VE, r"grad"),
    "wrong-shape": (VE, r"grad|shape"),
    "transposed-shape": (VE, r"grad|shape"),
    "wrong-dtype": (EITHER, r"grad|dtype"),
    "int-dtype": (EITHER, r"grad|dtype"),
    "not-array": (TE, r"grad"),
}


def _snapshot(obj):
    return copy.deepcopy(obj)


def _assert_identical(before, after, where="state"):
    """Deep, bit-for-bit comparison of nested dicts/lists of arrays and scalars."""
    if isinstance(before, dict):
        assert isinstance(after, dict) and before.keys() == after.keys(), where
        for key in before:
            _assert_identical(before[key], after[key], f"{where}[{key!r}]")
    elif isinstance(before, (list, tuple)):
        assert isinstance(after, (list, tuple)) and len(before) == len(after), where
        for i, (x, y) in enumerate(zip(before, after)):
            _assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(before, np.ndarray):
        after = np.asarray(after)
        assert before.dtype == after.dtype and before.shape == after.shape, where
        assert before.tobytes() == after.tobytes(), f"{where} changed"
    else:
        assert type(before) is type(after), where
        if isinstance(before, float) and np.isnan(before):
            assert np.isnan(after), where
        else:
            assert before == after, where


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("bad", list(BAD_STEPS))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_failed_step_changes_nothing(backend, opt_name, bad, dtype):
    rng = np.random.default_rng(3)
    params = [rng.normal(size=(3,)).astype(dtype), rng.normal(size=(2, 3)).astype(dtype)]
    opt = OPTIMIZERS[opt_name](params, backend)
    for _ in range(2):
        opt.step(_good_grads(params))
    params_before = [p.copy() for p in params]
    state_before = _snapshot(opt.state_dict())
    exc, match = BAD_STEPS[bad]
    with pytest.raises(exc, match=match):
        opt.step(_bad_grads(bad, params))
    for p, p0 in zip(params, params_before):
        assert p.tobytes() == p0.tobytes(), "a param changed on a failed step"
    _assert_identical(state_before, opt.state_dict())
    # and the optimizer still works afterwards, exactly as if the bad call never happened
    twin_params = [p.copy() for p in params_before]
    twin = OPTIMIZERS[opt_name](twin_params, backend)
    twin.load_state_dict(_snapshot(state_before))
    opt.step(_good_grads(params))
    twin.step(_good_grads(twin_params))
    for p, q in zip(params, twin_params):
        assert p.tobytes() == q.tobytes()


def test_failed_step_with_none_grads_elsewhere_changes_nothing(backend):
    params = [np.ones(4), np.ones(3)]
    opt = Adam(params, lr=0.1, backend=backend)
    opt.step([np.ones(4), np.ones(3)])
    before = [p.copy() for p in params]
    state = _snapshot(opt.state_dict())
    with pytest.raises(VE, match=r"grad|shape"):
        opt.step([np.ones(4), np.ones(2)])
    with pytest.raises(VE, match=r"grad|shape"):
        opt.step([None, np.ones((3, 1))])
    for p, p0 in zip(params, before):
        assert p.tobytes() == p0.tobytes()
    _assert_identical(state, opt.state_dict())


# ---------------------------------------------------------------------------------------------
# a failed clip_grad_norm changes nothing
# ---------------------------------------------------------------------------------------------

CLIP_BAD = {
    "int-grad": (lambda: [np.full(3, 10.0), np.full(2, 10, dtype=np.int64)], 1.0, EITHER,
                 r"grad|dtype"),
    "not-array-grad": (lambda: [np.full(3, 10.0), object()], 1.0, TE, r"grad"),
    "max-norm-zero": (lambda: [np.full(3, 10.0), np.full(2, 10.0)], 0.0, VE, r"max_norm"),
    "max-norm-negative": (lambda: [np.full(3, 10.0), np.full(2, 10.0)], -5.0, VE, r"max_norm"),
    "max-norm-inf": (lambda: [np.full(3, 10.0), np.full(2, 10.0)], np.inf, VE, r"max_norm"),
}


@pytest.mark.parametrize("case", list(CLIP_BAD))
def test_failed_clip_leaves_grads_untouched(backend, case):
    make, max_norm, exc, match = CLIP_BAD[case]
    grads = make()
    before = [g.copy() if isinstance(g, np.ndarray) else g for g in grads]
    with pytest.raises(exc, match=match):
        clip_grad_norm(grads, max_norm, backend=backend)
    for g, g0 in zip(grads, before):
        if isinstance(g, np.ndarray):
            assert g.dtype == g0.dtype and g.tobytes() == g0.tobytes()


# ---------------------------------------------------------------------------------------------
# bad probabilities: no partial output, and the error does not depend on the backend
# ---------------------------------------------------------------------------------------------

def test_invalid_row_anywhere_is_caught(backend):
    p = np.full((5, 4), 0.25)
    for row in range(5):
        for bad in (-0.5, np.nan, np.inf):
            q = p.copy()
            q[row, 3] = bad
            with pytest.raises(VE, match=r"\bp\b"):
                info.entropy(q, backend=backend)
            with pytest.raises(VE, match=r"\bq\b"):
                info.kl_divergence(p, q, backend=backend)
