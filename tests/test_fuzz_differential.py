"""Differential fuzzing: every backend against the numpy backend, on adversarial inputs.

Every information function and every optimizer option is called with the same random input on
the numpy backend (the reference) and on each other backend. The other backend must give the
same values (the contract's tolerances, with inf, NaN and exact zeros in the same places, see
:func:`tests.helpers.assert_same`), the same result type, dtype and shape, or raise the same
exception type; it must not write into its inputs. Optimizers must hold the same params and
state after every step, or raise the same exception and change nothing.

Inputs: shapes with empty and length-1 axes; negative strides, transposed and strided views;
float16, float32, float64, integer and bool arrays; 0, -0.0, subnormals, 1e308, 3.4e38,
+-inf and NaN mixed with ordinary values.

Budget (hypothesis settings profiles, chosen by ``KERNBENCH_FUZZ_PROFILE``):

* ``ci`` (the default): derandomized and without an example database, so a run is
  reproducible; 120 examples per test on the in-process backends, 20 on cuda (simulator) and
  dask, whose calls cost milliseconds each.
* ``campaign``: random seeds, 10,000 examples per in-process test and 1,000 per cuda or dask
  test; ``KERNBENCH_FUZZ_EXAMPLES=N`` sets the in-process count (the cuda and dask tests get
  a sixth of it under ``ci``, a tenth under ``campaign``)::

      KERNBENCH_FUZZ_PROFILE=campaign python -m pytest -q tests/test_fuzz_differential.py \\
          --hypothesis-show-statistics

Neither profile has a deadline: numba compiles on a kernel's first call.

Zeros are compared as the contract says (``CANCELLED_ZERO_ATOL`` in
``kernbench/backends/interface.py``): the zeros its forms make from the same numbers must agree
exactly; a KL, JS or mutual information that is 0 only in exact arithmetic, where logs of
different numbers cancel, may be 0 on one backend and a residue of at most 1e-12 on another
(:func:`_cancelled_zero`). Each example where that rule decided is counted as a hypothesis
``event`` (``--hypothesis-show-statistics`` lists them).
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import kernbench as kb
from kernbench import info, optim
from kernbench.backends.interface import CANCELLED_ZERO_ATOL
from tests.helpers import TOLERANCES, assert_same

# ---------------------------------------------------------------------------- budget

settings.register_profile(
    "ci", max_examples=120, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
settings.register_profile(
    "campaign", max_examples=10_000, derandomize=False, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
PROFILE = os.environ.get("KERNBENCH_FUZZ_PROFILE", "ci")
_BASE = settings.get_profile(PROFILE)
_N = int(os.environ.get("KERNBENCH_FUZZ_EXAMPLES", _BASE.max_examples))
#: Settings of the tests over the in-process backends and over the remote ones.
IN_PROCESS_SETTINGS = settings(_BASE, max_examples=_N)
REMOTE_SETTINGS = settings(_BASE, max_examples=max(10, _N // (6 if PROFILE == "ci" else 10)))

AVAILABLE = kb.available_backends()
IN_PROCESS = [b for b in ("python", "numba") if b in AVAILABLE]
REMOTE = [b for b in ("cuda", "dask") if b in AVAILABLE]

# ---------------------------------------------------------------------------- values

F16_SUBNORMAL = float(np.float16(6e-8))
F32_SUBNORMAL = float(np.float32(1e-40))
#: Values that are awkward somewhere: signed zeros, subnormals of each float width, the tops of
#: float16, float32 and float64, and the non-finite values.
SPECIAL = [0.0, -0.0, 5e-324, 1e-310, F32_SUBNORMAL, F16_SUBNORMAL, 1e308, 1.7e308, 3.4e38,
           65504.0, math.inf, -math.inf, math.nan]
#: Non-negative values that are still valid probabilities or counts.
SPECIAL_NONNEG = [0.0, -0.0, 5e-324, 1e-310, F32_SUBNORMAL, F16_SUBNORMAL, 1e308, 1.7e308,
                  3.4e38, 65504.0, 1.0, 1.0, 2.0, 0.5]
INVALID_PROB = [-1.0, -5e-324, math.inf, math.nan]

ordinary = st.one_of(st.floats(-10.0, 10.0), st.integers(-5, 5).map(float),
                     st.floats(-1e6, 1e6))
ordinary_nonneg = st.one_of(st.floats(0.0, 10.0), st.integers(0, 5).map(float),
                            st.floats(0.0, 1e6))
#: Entries of probability arrays: mostly valid, sometimes one that makes the input invalid.
prob_values = st.one_of(ordinary_nonneg, ordinary_nonneg, st.sampled_from(SPECIAL_NONNEG),
                        st.sampled_from(SPECIAL_NONNEG + INVALID_PROB))
clean_prob_values = st.one_of(ordinary_nonneg, st.sampled_from(SPECIAL_NONNEG))
any_values = st.one_of(ordinary, ordinary, st.sampled_from(SPECIAL))
sigma_values = st.one_of(st.floats(1e-3, 1e3), st.floats(1e-3, 1e3),
                         st.sampled_from([5e-324, 1e-310, F32_SUBNORMAL, F16_SUBNORMAL, 1e-20,
                                          1e20, 1e308, 3.4e38, 65504.0, math.inf, math.nan,
                                          0.0, -1.0]))
INT_DTYPES = [np.int64, np.int32, np.uint8]
FLOAT_DTYPES = [np.float64, np.float64, np.float32, np.float32, np.float16]
dims = st.sampled_from([0, 1, 1, 2, 3, 4, 5])


def shapes(min_dims=1, max_dims=3):
    return st.lists(dims, min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def as_view(draw, values: np.ndarray):
    """``values`` itself, or a view with the same elements: a negative-stride flip, a
    transpose of a transposed copy, or every other element of a wider array."""
    kind = draw(st.sampled_from(["plain", "plain", "flip", "transpose", "strided"]))
    if values.ndim == 0 or kind == "plain":
        return values
    if kind == "flip":
        axis = draw(st.integers(0, values.ndim - 1))
        return np.flip(np.flip(values, axis).copy(), axis)
    if kind == "transpose":
        return values.T.copy().T
    wide = np.zeros(values.shape[:-1] + (2 * values.shape[-1],), dtype=values.dtype)
    wide[..., ::2] = values
    return wide[..., ::2]


@st.composite
def typed_arrays(draw, shape, values, dtype=None, int_values=None):
    """An array of ``shape`` in a drawn dtype (floats from ``values``, rounded to the dtype;
    integers and bools from their own range), possibly as a view."""
    if dtype is None:
        dtype = draw(st.sampled_from(FLOAT_DTYPES * 3 + INT_DTYPES + [np.bool_]))
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        a = draw(arrays(np.bool_, shape))
    elif dtype.kind in "iu":
        elements = st.integers(0, 6) if int_values is None else int_values
        a = draw(arrays(np.int64, shape, elements=elements)).astype(dtype)
    else:
        with np.errstate(over="ignore"):
            a = draw(arrays(np.float64, shape, elements=values)).astype(dtype)
    return draw(as_view(a))


# ---------------------------------------------------------------------------- the comparison

def _call(fn, *args, **kwargs):
    """fn's result, or the exception it raised (warnings silenced: NumPy warns on overflow)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            return exc


def _host(x):
    """A NumPy view of a result: dask arrays computed, device arrays copied."""
    if hasattr(x, "compute") and not isinstance(x, np.ndarray):
        return np.asarray(x.compute())
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    return x


def _compare(got, want, what: str) -> None:
    if got is None and want is None:  # neither call raised, and neither returns a value
        return
    if isinstance(want, Exception) or isinstance(got, Exception):
        assert type(got) is type(want), (
            f"{what}: the reference gave {want!r}, the backend {got!r}")
        return
    got = _host(got)
    assert isinstance(got, np.generic) == isinstance(want, np.generic), (
        f"{what}: result {type(got).__name__}, reference {type(want).__name__}")
    assert np.asarray(got).dtype == np.asarray(want).dtype, (
        f"{what}: dtype {np.asarray(got).dtype}, reference {np.asarray(want).dtype}")
    assert_same(got, want, err_msg=what)


def _snapshot(args) -> list:
    return [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]


def _assert_unchanged(args, before, what: str) -> None:
    for a, b in zip(args, before):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f"{what} wrote into its input")
            assert np.array_equal(np.signbit(a), np.signbit(b)), f"{what} changed a sign"


# ---------------------------------------------------------------------------- cancelled zeros

#: The reductions whose zeros may come from logs of different numbers cancelling.
_CANCELLING = ("entropy", "cross_entropy", "kl_divergence", "js_divergence",
               "mutual_information", "conditional_entropy")


def _cancelled_zero(name: str, got, want) -> bool:
    """True when ``got`` and ``want`` of a cancelling reduction agree as the contract's
    ``CANCELLED_ZERO_ATOL`` says: within the tolerances everywhere, and where one of them is
    exactly 0 the other is within that bound of 0.

    A distribution proportional to another (KL), a table of independent rows and columns
    (mutual information) gives 0 in exact arithmetic, but the forms cancel logs of different
    numbers there (``log Sq - log Sp`` against ``log(p/q)``), so the result is 0 or a residue
    of a few ulps depending on the last bit of each backend's log. The contract's exact zeros
    (one-hot input, KL(p, p), a slice of one element) cancel logs of the same numbers, so
    they are 0 on every backend: ``tests/test_cross_backend.py`` holds them to exactly 0.
    """
    if name not in _CANCELLING or not _only_zeros_differ(got, want):
        return False
    a = np.asarray(_host(got), dtype=np.float64)
    b = np.asarray(want, dtype=np.float64)
    return float(np.abs(np.where((a == 0) != (b == 0), a + b, 0.0)).max()) <= CANCELLED_ZERO_ATOL


def _only_zeros_differ(got, want) -> bool:
    """True when two results agree within the tolerances (inf and NaN in the same places)
    and differ only where one of them is exactly 0."""
    if isinstance(got, Exception) or isinstance(want, Exception):
        return False
    a = np.asarray(_host(got), dtype=np.float64)
    b = np.asarray(want, dtype=np.float64)
    if a.shape != b.shape or not np.any((a == 0) != (b == 0)):
        return False
    try:
        assert_same(a, b, tol=_tolerance(got, want), exact_zeros=False)
    except AssertionError:
        return False
    return True


def _tolerance(got, want):
    dtype = np.result_type(np.asarray(_host(got)).dtype, np.asarray(want).dtype)
    return TOLERANCES.get(dtype, TOLERANCES[np.dtype(np.float64)])


def _check(name, got, want, what):
    try:
        _compare(got, want, what)
    except AssertionError:
        if not _cancelled_zero(name, got, want):
            raise
        event(f"{name}: a cancelled zero, 0 on one backend and a residue on the other")


# ---------------------------------------------------------------------------- information

bases = st.sampled_from([None, None, 2, 10, math.e, 0.5, 1.5, 1, 0, -2.0, math.inf])
temperatures = st.one_of(st.sampled_from([1.0, 1.0, 0.5, 2.0, 1e-3, 1e3, 0.0, -1.0, math.inf]),
                         st.floats(0.05, 20.0))


@st.composite
def axis_for(draw, ndim: int):
    if ndim == 0 or draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([-1, ndim, -ndim - 1]))
    return draw(st.integers(-ndim, ndim - 1))


@st.composite
def single_reduction(draw):
    shape = draw(shapes())
    values = draw(st.sampled_from([prob_values, clean_prob_values]))
    p = draw(typed_arrays(shape, values))
    return (p,), {"base": draw(bases), "axis": draw(axis_for(len(shape)))}


@st.composite
def pair_reduction(draw):
    shape = draw(shapes())
    dtype_p = draw(st.sampled_from(FLOAT_DTYPES + INT_DTYPES))
    dtype_q = draw(st.sampled_from([dtype_p, dtype_p, np.float32, np.float64, np.int64]))
    values = draw(st.sampled_from([prob_values, clean_prob_values]))
    p = draw(typed_arrays(shape, values, dtype_p))
    q_shape = shape if draw(st.integers(0, 19)) else draw(shapes())
    q = draw(typed_arrays(q_shape, values, dtype_q))
    return (p, q), {"base": draw(bases), "axis": draw(axis_for(len(shape)))}


@st.composite
def joint_table(draw):
    shape = draw(st.sampled_from([None] * 9 + [1, 3])) or draw(shapes(2, 2))
    if isinstance(shape, int):
        shape = draw(shapes(shape, shape))
    values = draw(st.sampled_from([prob_values, clean_prob_values]))
    return (draw(typed_arrays(shape, values)),), {"base": draw(bases)}


@st.composite
def softmax_args(draw):
    shape = draw(shapes())
    x = draw(typed_arrays(shape, any_values, int_values=st.integers(-5, 5)))
    return (x,), {"temperature": draw(temperatures), "axis": draw(axis_for(len(shape)))}


@st.composite
def logits_args(draw, smoothing=True):
    n, v = draw(dims), draw(dims)
    shape = (n, v) if draw(st.integers(0, 19)) else draw(shapes())
    dtype = draw(st.sampled_from(FLOAT_DTYPES + [np.int64]))
    x = draw(typed_arrays(shape, any_values, dtype, int_values=st.integers(-5, 5)))
    ignore = draw(st.sampled_from([-100, -100, 0, 1, -1]))
    hi = max(v, 1)
    targets = np.array(draw(st.lists(st.one_of(st.integers(0, hi - 1), st.just(ignore)),
                                     min_size=n, max_size=n)), dtype=np.int64)
    if draw(st.integers(0, 19)) == 0 and n:
        targets[0] = draw(st.sampled_from([v, -2, 10**6]))  # out of range unless ignored
    targets = targets.astype(draw(st.sampled_from([np.int64, np.int64, np.int32, np.uint8]))
                             if targets.size == 0 or targets.min() >= 0
                             else draw(st.sampled_from([np.int64, np.int32])))
    kwargs = {"ignore_index": ignore}
    if smoothing:
        kwargs["reduction"] = draw(st.sampled_from(["mean", "mean", "sum", "none", "max"]))
        kwargs["label_smoothing"] = draw(st.one_of(
            st.sampled_from([0.0, 0.0, 0.1, 1.0, -0.1, 1.5]), st.floats(0.0, 1.0)))
    return (x, draw(as_view(targets))), kwargs


@st.composite
def gaussian_kl_args(draw):
    shape = draw(shapes(0, 3))

    def part(values):
        kind = draw(st.sampled_from(["full", "full", "ones", "scalar"]))
        if kind == "scalar":
            s = ()
        elif kind == "ones":
            s = tuple(draw(st.sampled_from([n, 1])) for n in shape)
        else:
            s = shape
        a = draw(typed_arrays(s, values, int_values=st.integers(0, 4)))
        return a.item() if kind == "scalar" and draw(st.booleans()) else a

    return (part(any_values), part(sigma_values), part(any_values), part(sigma_values)), {}


@st.composite
def gaussian_entropy_args(draw):
    return (draw(typed_arrays(draw(shapes(0, 3)), sigma_values,
                              int_values=st.integers(0, 4))),), {}


INFO = {
    "entropy": single_reduction(),
    "cross_entropy": pair_reduction(),
    "kl_divergence": pair_reduction(),
    "js_divergence": pair_reduction(),
    "mutual_information": joint_table(),
    "conditional_entropy": joint_table(),
    "softmax": softmax_args(),
    "log_softmax": softmax_args(),
    "cross_entropy_logits": logits_args(),
    "perplexity": logits_args(smoothing=False),
    "gaussian_kl": gaussian_kl_args(),
    "gaussian_entropy": gaussian_entropy_args(),
}


def _device_args(name, args, kwargs):
    """args as cuda device arrays (contiguous copies; integer targets stay on the host), or
    None where the device path refuses them by design, with a ValueError that says so:
    several dtypes, integer or bool arrays, a host array beside a device one, a reduction
    axis other than the last (rows that cannot be read without a copy). Nor with a Python
    scalar beside them: on the device it takes the device arrays' dtype (float32 stays
    float32), where the host path promotes it as a float64 array."""
    data = args[:1 if name in ("cross_entropy_logits", "perplexity") else None]
    if not all(isinstance(a, np.ndarray) for a in data):
        return None
    arrays = list(data)
    axis = kwargs.get("axis", -1)
    if arrays and arrays[0].ndim > 1 and isinstance(axis, int) \
            and axis % arrays[0].ndim != arrays[0].ndim - 1:
        return None
    if not arrays or {a.dtype for a in arrays} - {np.dtype(np.float32), np.dtype(np.float64)} \
            or len({a.dtype for a in arrays}) > 1 \
            or (name.startswith("gaussian") and len({a.shape for a in arrays}) > 1):
        return None
    from numba import cuda

    return tuple(cuda.to_device(a.copy(order="C")) if any(a is b for b in arrays) else a
                 for a in args)


def _info_against_numpy(name, backends, call, on_device=False):
    args, kwargs = call
    fn = getattr(info, name)
    before = _snapshot(args)
    want = _call(fn, *args, **kwargs, backend="numpy")
    _assert_unchanged(args, before, f"{name} on numpy")
    for backend in backends:
        device = _device_args(name, args, kwargs) if on_device and backend == "cuda" else None
        got = _call(fn, *(args if device is None else device), **kwargs, backend=backend)
        if device is not None:
            event("cuda: device arrays in")
            got = _host(got)
            if isinstance(got, np.ndarray) and got.ndim == 0 and isinstance(want, np.generic):
                got = got[()]  # a 0-d device array in gives a 0-d device array out
        what = f"{name} on {backend} vs numpy"
        _assert_unchanged(args, before, what)
        _check(name, got, want, what)


@pytest.mark.parametrize("name", sorted(INFO))
@IN_PROCESS_SETTINGS
@given(data=st.data())
def test_info_in_process_backends_match_numpy(name, data):
    _info_against_numpy(name, IN_PROCESS, data.draw(INFO[name], label="args, kwargs"))


@pytest.mark.skipif(not REMOTE, reason="neither the cuda nor the dask backend runs here")
@pytest.mark.parametrize("name", sorted(INFO))
@pytest.mark.parametrize("remote", REMOTE or ["none"])
@REMOTE_SETTINGS
@given(data=st.data())
def test_info_remote_backends_match_numpy(remote, name, data):
    call = data.draw(INFO[name], label="args, kwargs")
    on_device = remote == "cuda" and data.draw(st.booleans(), label="device arrays")
    _info_against_numpy(name, [remote], call, on_device)


# ---------------------------------------------------------------------------- optimizers

param_values = st.one_of(ordinary, ordinary, ordinary, st.sampled_from(SPECIAL))
lrs = st.sampled_from([1e-3, 1e-3, 0.1, 1.0, 0.0, 1e30, -1.0, math.nan])


@st.composite
def param_specs(draw):
    """(dtype, [(values, view kind), ...]) for 1-3 params; each backend builds its own copy."""
    dtype = draw(st.sampled_from([np.float64, np.float32, np.float32]))
    if draw(st.integers(0, 29)) == 0:
        dtype = draw(st.sampled_from([np.float16, np.int64]))
    specs = []
    for _ in range(draw(st.integers(1, 3))):
        shape = draw(shapes(0, 3))
        with np.errstate(over="ignore"):
            values = draw(arrays(np.float64, shape, elements=param_values)).astype(dtype)
        specs.append((values, draw(st.sampled_from(["plain", "flip", "transpose", "strided"]))))
    return np.dtype(dtype), specs


def _make_param(values: np.ndarray, kind: str) -> np.ndarray:
    """A fresh writable param holding ``values``, as a view of the drawn kind."""
    if values.ndim == 0 or kind == "plain":
        return values.copy()
    if kind == "flip":
        return np.flip(np.flip(values, -1).copy(), -1)
    if kind == "transpose":
        return values.T.copy().T
    wide = np.zeros(values.shape[:-1] + (2 * values.shape[-1],), dtype=values.dtype)
    wide[..., ::2] = values
    return wide[..., ::2]


@st.composite
def grad_steps(draw, dtype, specs, steps):
    """Per step, a list of grads (a None skips a param; now and then a bad grad)."""
    out = []
    for _ in range(steps):
        grads = []
        for values, _ in specs:
            choice = draw(st.integers(0, 39))
            if choice == 0:
                grads.append(None)
                continue
            g_dtype, shape = dtype, values.shape
            if choice == 1:
                g_dtype = np.float64 if dtype == np.float32 else np.float32
            elif choice == 2:
                shape = values.shape + (1,)
            with np.errstate(over="ignore"):
                g = draw(arrays(np.float64, shape, elements=param_values)).astype(g_dtype)
            grads.append(draw(as_view(g)))
        if draw(st.integers(0, 39)) == 0:
            grads = grads[:-1]
        out.append(grads)
    return out


@st.composite
def optimizer_runs(draw):
    kind = draw(st.sampled_from(["SGD", "Adam", "AdamW"]))
    if kind == "SGD":
        momentum = draw(st.sampled_from([0.0, 0.0, 0.9, 0.5, 1.0, -0.1]))
        dampening = draw(st.sampled_from([0.0, 0.0, 0.1, 1.0]))
        hyper = {"lr": draw(lrs), "momentum": momentum, "dampening": dampening,
                     "weight_decay": draw(st.sampled_from([0.0, 0.0, 1e-2, 1.0, -1.0])),
                     "nesterov": draw(st.booleans()), "maximize": draw(st.booleans())}
    else:
        hyper = {"lr": draw(lrs),
                     "betas": draw(st.sampled_from([(0.9, 0.999), (0.9, 0.999), (0.0, 0.0),
                                                 (0.5, 0.9), (0.99, 0.5), (1.0, 0.9)])),
                     "eps": draw(st.sampled_from([1e-8, 1e-8, 0.0, 1e-3, -1.0])),
                     "weight_decay": draw(st.sampled_from([0.0, 0.0, 1e-2, 0.5])),
                     "amsgrad": draw(st.booleans()), "maximize": draw(st.booleans())}
    dtype, specs = draw(param_specs())
    steps = draw(grad_steps(dtype, specs, draw(st.integers(1, 4))))
    return kind, hyper, dtype, specs, steps


def _state(opt) -> dict:
    return {"params": [_host(p) if not isinstance(p, np.ndarray) else np.array(p, copy=True)
                       for p in opt.params],
            "state": opt.state_dict()["state"]}


def _assert_step_close(a, b, old, exact_zeros, what, terms=None):
    """assert_same for an array after a step, with the tolerance taken on the step's terms.

    A param or moment after a step is a sum of terms (``p * (1 - lr*wd) - update``;
    ``b1*m + (1-b1)*g``); where they nearly cancel (lr = 1e30), each backend's rounding of
    the terms, within the contract's rtol of the terms, is a larger fraction of the small
    result. So the rtol applies to ``|new| + |old| + terms`` (``terms``: the magnitude of
    what weight decay adds); inf, NaN and exact zeros still agree exactly.
    """
    if old is None:
        assert_same(a, b, exact_zeros=exact_zeros, err_msg=what)
        return
    rtol, atol = _tolerance(a, b)
    a64, b64, o64 = (np.asarray(x, dtype=np.float64) for x in (a, b, old))
    assert a64.shape == b64.shape, f"{what}: shape {a64.shape} != {b64.shape}"
    for kind, where in [("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)] + (
            [("exact zero", lambda x: x == 0)] if exact_zeros else []):
        np.testing.assert_array_equal(where(a64), where(b64), err_msg=f"{what}: {kind} places")
    finite = np.isfinite(b64) & np.isfinite(o64)
    with np.errstate(all="ignore"):
        scale = np.abs(b64) + np.abs(o64)
        if terms is not None:
            scale = scale + np.where(np.isfinite(terms), terms, 0.0)
        bad = finite & ~(np.abs(a64 - b64) <= atol + rtol * scale)
    assert not bad.any(), (f"{what}: {a64[bad][:3]} against {b64[bad][:3]} (before the step "
                           f"{o64[bad][:3]}), beyond rtol {rtol} of the terms, atol {atol}")
    plain = ~np.isfinite(o64) & np.isfinite(b64)
    assert_same(a64[plain], b64[plain], tol=(rtol, atol), err_msg=what)


def _compare_state(got, want, what, exact_zeros=True, old=None, hyper=None):
    """Two _state() snapshots agree; ``old``: the reference's snapshot before the step (the
    tolerance is then taken on the step's terms, see _assert_step_close), ``hyper`` the
    optimizer's hyperparameters."""
    assert len(got["params"]) == len(want["params"])
    lr = abs(float(hyper["lr"])) if hyper else 0.0
    wd = abs(float(hyper.get("weight_decay", 0.0))) if hyper else 0.0
    decay = {}  # param index -> |p| * wd before the step, the weight decay's term in g
    for i, (a, b) in enumerate(zip(got["params"], want["params"])):
        assert a.dtype == b.dtype, f"{what}: params[{i}] dtype {a.dtype} != {b.dtype}"
        before = None if old is None else old["params"][i]
        terms = None
        if before is not None:
            with np.errstate(all="ignore"):
                decay[i] = np.abs(before.astype(np.float64)) * wd
                terms = decay[i] * lr
        _assert_step_close(a, b, before, exact_zeros, f"{what}: params[{i}]", terms)
    assert got["state"].keys() == want["state"].keys(), f"{what}: state entries differ"
    for i, st_want in want["state"].items():
        st_got = got["state"][i]
        assert st_got.keys() == st_want.keys(), f"{what}: state[{i}] keys differ"
        for key, value in st_want.items():
            if key == "step":
                assert st_got[key] == value, f"{what}: state[{i}]['step']"
                continue
            assert st_got[key].dtype == value.dtype
            before = None
            if old is not None:
                before = old["state"].get(i, {}).get(key, np.zeros_like(value))
            terms = decay.get(i)
            if terms is not None and key in ("exp_avg_sq", "max_exp_avg_sq"):
                with np.errstate(all="ignore"):  # g*g with g = grad + wd*p
                    terms = terms * (terms + 2.0 * np.sqrt(np.abs(value.astype(np.float64))))
            _assert_step_close(st_got[key], value, before, exact_zeros,
                               f"{what}: state[{i}][{key!r}]", terms)


class _Run:
    """One optimizer on one backend, stepping through the drawn grads."""

    def __init__(self, kind, hyper, specs, backend):
        self.params = [_make_param(values, view) for values, view in specs]
        self.opt = _call(getattr(optim, kind), self.params, **hyper, backend=backend)

    def step(self, grads):
        before = _state(self.opt)
        result = _call(self.opt.step, [None if g is None else g.copy() for g in grads])
        after = _state(self.opt)
        if isinstance(result, Exception):
            _compare_state(after, before, f"a failed step ({result!r}) changed something")
        return result, before, after


def _state_arrays(state: dict) -> list:
    """Every array of a _state() snapshot: params and state entries."""
    return state["params"] + [a for st in state["state"].values() for k, a in st.items()
                              if k != "step"]


def _state_zeros_only(got, want, old, hyper) -> bool:
    """True when two _state() snapshots differ only in exact zeros, within the tolerances."""
    try:
        _compare_state(got, want, "", exact_zeros=False, old=old, hyper=hyper)
    except AssertionError:
        return False
    return True


def _optimizer_against_numpy(backends, run):
    kind, hyper, _dtype, specs, steps = run
    ref = _Run(kind, hyper, specs, "numpy")
    others = {b: _Run(kind, hyper, specs, b) for b in backends}
    for backend, other in others.items():
        _compare(other.opt if isinstance(other.opt, Exception) else None,
                 ref.opt if isinstance(ref.opt, Exception) else None, f"{kind}() on {backend}")
    if isinstance(ref.opt, Exception):
        return
    for t, grads in enumerate(steps):
        want, want_before, want_state = ref.step(grads)
        for backend, other in list(others.items()):
            got, _, got_state = other.step(grads)
            what = f"{kind} step {t + 1} on {backend} vs numpy"
            try:
                _compare(got if isinstance(got, Exception) else None,
                         want if isinstance(want, Exception) else None, what)
                _compare_state(got_state, want_state, what, old=want_before, hyper=hyper)
            except AssertionError:
                zeros_only = _state_zeros_only(got_state, want_state, want_before, hyper)
                if zeros_only:
                    # Open: a step whose terms cancel (p = -1, update = -1 in float32) gives
                    # exactly 0 on one backend and an ulp of its terms on another, each
                    # within the contract's rtol of the terms.
                    event(f"open: {kind} step cancels to 0 on one backend, not the other")
                else:
                    raise
                del others[backend]  # the runs have parted: later steps compare nothing


@st.composite
def clip_calls(draw):
    dtype, specs = draw(param_specs())
    grads = [None if draw(st.integers(0, 9)) == 0 else (values, view) for values, view in specs]
    max_norm = draw(st.one_of(st.sampled_from([1.0, 1.0, 1e-3, 1e30, 0.0, -1.0, math.inf,
                                               math.nan]), st.floats(1e-3, 1e3)))
    return dtype, grads, max_norm


def _clip_against_numpy(backends, call):
    _, grads, max_norm = call

    def fresh():
        return [None if g is None else _make_param(*g) for g in grads]

    ref_grads = fresh()
    want = _call(optim.clip_grad_norm, ref_grads, max_norm, backend="numpy")
    for backend in backends:
        got_grads = fresh()
        got = _call(optim.clip_grad_norm, got_grads, max_norm, backend=backend)
        what = f"clip_grad_norm on {backend} vs numpy"
        if isinstance(want, Exception) or isinstance(got, Exception):
            _compare(got, want, what)
            np.testing.assert_equal(got_grads, fresh(), err_msg=f"{what}: a failed clip wrote")
            continue
        assert_same(np.float64(got), np.float64(want), err_msg=f"{what}: the norm")
        for i, (a, b) in enumerate(zip(got_grads, ref_grads)):
            if b is not None:
                assert a.dtype == b.dtype
                assert_same(a, b, err_msg=f"{what}: grads[{i}]")


@st.composite
def cosine_calls(draw):
    steps = draw(typed_arrays(draw(shapes(0, 2)), any_values))
    total = draw(st.one_of(st.sampled_from([10, 1, 0, -5, math.inf]), st.floats(0.5, 1e4)))
    lr_max = draw(st.one_of(st.sampled_from([1e-3, 0.0, math.nan]), st.floats(-1.0, 1.0)))
    lr_min = draw(st.one_of(st.sampled_from([0.0, 1e-5]), st.floats(-1.0, 1.0)))
    return steps, total, lr_max, lr_min


def _cosine_against_numpy(backends, call):
    want = _call(optim.cosine_schedule, *call, backend="numpy")
    for backend in backends:
        got = _call(optim.cosine_schedule, *call, backend=backend)
        _compare(got, want, f"cosine_schedule on {backend} vs numpy")


OPTIM = {
    "optimizers": (optimizer_runs(), _optimizer_against_numpy),
    "clip_grad_norm": (clip_calls(), _clip_against_numpy),
    "cosine_schedule": (cosine_calls(), _cosine_against_numpy),
}


@pytest.mark.parametrize("name", sorted(OPTIM))
@IN_PROCESS_SETTINGS
@given(data=st.data())
def test_optim_in_process_backends_match_numpy(name, data):
    strategy, check = OPTIM[name]
    check(IN_PROCESS, data.draw(strategy, label="call"))


@pytest.mark.skipif(not REMOTE, reason="neither the cuda nor the dask backend runs here")
@pytest.mark.parametrize("name", sorted(OPTIM))
@pytest.mark.parametrize("remote", REMOTE or ["none"])
@REMOTE_SETTINGS
@given(data=st.data())
def test_optim_remote_backends_match_numpy(remote, name, data):
    strategy, check = OPTIM[name]
    check([remote], data.draw(strategy, label="call"))
