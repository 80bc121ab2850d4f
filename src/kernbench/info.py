"""Information-theory functions with scipy.stats conventions and a ``backend=`` argument.

Each function validates its arguments, shapes them for the kernel (reduction axis last, rows of
a 2-D array), calls ``get_backend(backend).<kernel>`` and turns the result back into the
caller's shape and dtype. Checks that need a pass over the data (negative or non-finite
probabilities, slices summing to zero) are fused into the kernel's own pass and come back as a
status; the function raises on them before returning anything.

The shaping goes through the backend's array hooks (``as_array``, ``as_rows``,
``common_float``, ... in :class:`kernbench.backends.Backend`), so a backend can take arrays
that NumPy cannot handle: the ``cuda`` backend computes on device arrays where they are given
(see :mod:`kernbench.backends.cuda_backend` for what comes back where).

A call on a few elements is mostly that plumbing, so each function has a fast path for the
common case: a backend that keeps the base class's NumPy hooks, a float32/float64 NumPy array
of one or two dimensions reduced along its last axis. The fast path makes the same checks and
hands the kernel the same arrays as the general path; it only skips the steps that are
no-ops there (a dtype cast to the same dtype, a ``moveaxis`` to where the axis already is).
"""

from __future__ import annotations

import math

import numpy as np

from kernbench import _validate as v
from kernbench.backends import Backend, get_backend
from kernbench.backends.interface import (
    STATUS_P_INVALID,
    STATUS_P_ZERO_SUM,
    STATUS_Q_INVALID,
)

__all__ = [
    "conditional_entropy", "cross_entropy", "cross_entropy_logits", "entropy", "gaussian_entropy",
    "gaussian_kl", "js_divergence", "kl_divergence", "log_softmax", "mutual_information",
    "perplexity", "softmax",
]

DEFAULT_BACKEND = "numba"
_LN2 = math.log(2.0)
_REDUCTIONS = ("mean", "sum", "none")
_FLOATS = v.FLOAT_DTYPES
#: The array hooks that the fast paths do in fewer steps: a backend overriding any of them
#: always takes the general path.
_NUMPY_HOOKS = ("as_array", "new_output", "output_for", "common_float", "as_rows", "from_rows",
                "deliver", "broadcast_to")
#: backend name -> (backend, whether it keeps every hook of _NUMPY_HOOKS from the base class).
_BACKENDS: dict = {}


def _backend(name) -> tuple:
    """(get_backend(name), numpy_hooks), remembered per name: ``get_backend`` takes a lock,
    and whether the fast paths apply depends on the backend's class alone."""
    entry = _BACKENDS.get(name) if type(name) is str else None
    if entry is None:
        kernels = get_backend(name)  # raises for an unknown or unavailable backend
        cls = type(kernels)
        entry = (kernels, all(getattr(cls, h) is getattr(Backend, h) for h in _NUMPY_HOOKS))
        _BACKENDS[name] = entry
    return entry


def _rows_of(a, axis) -> bool:
    """Whether ``a`` takes the fast path of a row-wise function over ``axis``: a non-empty
    float32/float64 NumPy array (not a subclass) of 1 or 2 dimensions, ``axis`` (a plain int)
    its last. Then ``a`` itself (2-D) or ``a[None]`` (1-D) is what ``as_rows`` would give."""
    return (type(a) is np.ndarray and 0 < a.ndim < 3 and a.dtype in _FLOATS and a.size > 0
            and type(axis) is int and (axis == -1 or axis == a.ndim - 1))


def _as_rows2(a):
    return a if a.ndim == 2 else a.reshape(1, a.shape[0])


# ---------------------------------------------------------------------------- shaping helpers

def _axis(a: np.ndarray, axis, name: str) -> int:
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension; got a scalar")
    ax = v.integer_scalar(axis, "axis")
    if not -a.ndim <= ax < a.ndim:
        raise ValueError(f"axis {ax} is out of range for {name} with {a.ndim} dimension(s)")
    return ax % a.ndim


def _lead(a, ax: int) -> tuple:
    """The shape of ``a`` without axis ``ax``: the shape of a reduction over it."""
    shape = tuple(a.shape)
    return shape[:ax] + shape[ax + 1:]


def _probability_rows(kernels, x, name: str, axis) -> tuple:
    """(rows, lead, axis, dtype); rows is None when there is no slice to reduce (``lead`` has
    a zero), so that no backend has to shape an empty array into rows."""
    a = kernels.as_array(x, name)
    ax = _axis(a, axis, name)
    if a.shape[ax] == 0:
        raise ValueError(f"{name} is empty along axis {ax}: there is no distribution to measure")
    lead = _lead(a, ax)
    if math.prod(lead) == 0:
        return None, lead, ax, a.dtype
    rows, lead = kernels.as_rows(a, ax, name)
    return rows, lead, ax, a.dtype


def _raise_for_status(status: np.ndarray, axis: int, names=("p", "q")) -> None:
    if not np.count_nonzero(status):
        return
    bad = np.flatnonzero(status)
    row = int(bad[0])
    code = int(status[row])
    where = f" (slice {row} along axis {axis})" if status.size > 1 else ""
    p_name, q_name = (names + (None,))[:2]
    if code == STATUS_P_INVALID:
        name = p_name
    elif code == STATUS_Q_INVALID:
        name = q_name
    else:
        name = p_name if code == STATUS_P_ZERO_SUM else q_name
        raise ValueError(f"{name} sums to zero{where}; it cannot be normalized")
    raise ValueError(f"{name} must hold finite, non-negative entries{where}: found a negative, "
                     "NaN or infinite value (or a sum that overflows)")


def _finish(values: np.ndarray, lead: tuple, dtype: np.dtype, scale: float, n: int = 0):
    """The kernel's row values in the caller's shape, dtype and unit.

    A slice of one element (``n == 1``) normalizes to the distribution [1]: its entropy, and
    the cross-entropy, KL and JS divergence of two such slices, are exactly 0 (as scipy gives).
    The kernels' forms (``S log S - A`` and the like) leave a rounding residue of a few ulps
    there that differs between backends, so it is replaced by that 0.
    """
    if n == 1:
        values = np.zeros_like(values)
    if scale != 1.0:
        values = values / scale
    if lead == ():
        return dtype.type(values[0])
    return values.reshape(lead).astype(dtype, copy=False)


def _pair_rows(kernels, p, q, axis):
    arrays, dtype = kernels.common_float({"p": p, "q": q})
    pa, qa = arrays["p"], arrays["q"]
    if tuple(pa.shape) != tuple(qa.shape):
        raise ValueError(f"p and q must have the same shape; got {tuple(pa.shape)} and "
                         f"{tuple(qa.shape)}")
    ax = _axis(pa, axis, "p")
    if pa.shape[ax] == 0:
        raise ValueError(f"p is empty along axis {ax}: there is no distribution to measure")
    lead = _lead(pa, ax)
    if math.prod(lead) == 0:
        return None, None, lead, ax, dtype
    prow, lead = kernels.as_rows(pa, ax, "p")
    qrow, _ = kernels.as_rows(qa, ax, "q")
    return prow, qrow, lead, ax, dtype


def _fill(kernels, kernel_name: str, shape: tuple, dtype, *args):
    """Run a kernel that fills an ``out`` array (or returns its result, see new_output)."""
    out = kernels.output_for(shape, dtype, *args)
    if math.prod(shape) == 0:
        return np.empty(shape, dtype=dtype) if out is None else out
    result = getattr(kernels, kernel_name)(*args, out)
    return out if result is None else result


# ---------------------------------------------------------------------------- reductions

def entropy(p, base=None, axis=-1, backend=DEFAULT_BACKEND):
    """Shannon entropy of p normalized along ``axis``; equals ``scipy.stats.entropy(p)``."""
    kernels, numpy_hooks = _backend(backend)
    scale = 1.0 if base is None else v.log_base(base)
    if numpy_hooks and _rows_of(p, axis):
        rows = _as_rows2(p)
        values, status = kernels.entropy_rows(rows)
        _raise_for_status(status, p.ndim - 1)
        return _finish(values, p.shape[:-1], p.dtype, scale, rows.shape[1])
    rows, lead, ax, dtype = _probability_rows(kernels, p, "p", axis)
    if rows is None:
        return np.empty(lead, dtype=dtype)
    values, status = kernels.entropy_rows(rows)
    _raise_for_status(status, ax)
    return _finish(values, lead, dtype, scale, rows.shape[1])


def _pair_reduction(kernel_name, p, q, base, axis, backend):
    kernels, numpy_hooks = _backend(backend)
    scale = 1.0 if base is None else v.log_base(base)
    if (numpy_hooks and _rows_of(p, axis) and type(q) is np.ndarray and q.dtype == p.dtype
            and q.shape == p.shape):
        prow, qrow = _as_rows2(p), _as_rows2(q)
        values, status = getattr(kernels, kernel_name)(prow, qrow)
        _raise_for_status(status, p.ndim - 1)
        return _finish(values, p.shape[:-1], p.dtype, scale, prow.shape[1])
    prow, qrow, lead, ax, dtype = _pair_rows(kernels, p, q, axis)
    if prow is None:
        return np.empty(lead, dtype=dtype)
    values, status = getattr(kernels, kernel_name)(prow, qrow)
    _raise_for_status(status, ax)
    return _finish(values, lead, dtype, scale, prow.shape[1])


def cross_entropy(p, q, base=None, axis=-1, backend=DEFAULT_BACKEND):
    """H(p, q) = -sum p log q = H(p) + KL(p||q), p and q normalized along ``axis``."""
    return _pair_reduction("cross_entropy_rows", p, q, base, axis, backend)


def kl_divergence(p, q, base=None, axis=-1, backend=DEFAULT_BACKEND):
    """KL(p||q); equals ``scipy.stats.entropy(p, q)``. p > 0 where q = 0 gives inf."""
    return _pair_reduction("kl_divergence_rows", p, q, base, axis, backend)


def js_divergence(p, q, base=None, axis=-1, backend=DEFAULT_BACKEND):
    """Jensen-Shannon divergence (not its square root), in [0, log 2]."""
    return _pair_reduction("js_divergence_rows", p, q, base, axis, backend)


def _joint_reduction(kernel_name, joint, base, backend):
    kernels, numpy_hooks = _backend(backend)
    scale = 1.0 if base is None else v.log_base(base)
    if numpy_hooks and type(joint) is np.ndarray and joint.dtype in _FLOATS:
        j = joint  # what as_array gives
    else:
        j = kernels.as_array(joint, "joint")
    if j.ndim != 2:
        raise ValueError(f"joint must be a 2-D table; got {j.ndim} dimension(s)")
    if 0 in j.shape:
        raise ValueError(f"joint must not be empty; got shape {tuple(j.shape)}")
    value, status = getattr(kernels, kernel_name)(j)
    if status:
        _raise_for_status(np.array([status], dtype=np.int8), 0, names=("joint",))
    if j.shape[1] == 1 or (j.shape[0] == 1 and kernel_name == "mutual_information"):
        # One column: Y is constant, so I(X;Y) = H(Y|X) = 0; one row: X is, so I(X;Y) = 0.
        # Exactly 0, where the kernels' forms leave a rounding residue that differs between
        # backends.
        value = 0.0
    return j.dtype.type(value / scale)


def mutual_information(joint, base=None, backend=DEFAULT_BACKEND):
    """I(X;Y) of a joint table of probabilities or counts (rows X, columns Y)."""
    return _joint_reduction("mutual_information", joint, base, backend)


def conditional_entropy(joint, base=None, backend=DEFAULT_BACKEND):
    """H(Y|X) = H(X,Y) - H(X) of a joint table (rows X, columns Y)."""
    return _joint_reduction("conditional_entropy", joint, base, backend)


# ---------------------------------------------------------------------------- softmax family

def _temperature(t) -> float:
    if type(t) is float and 0.0 < t < math.inf:
        return t
    return v.positive_scalar(t, "temperature")


def _softmax_like(kernel_name, logits, temperature, axis, backend):
    kernels, numpy_hooks = _backend(backend)
    if numpy_hooks and _rows_of(logits, axis):
        t = _temperature(temperature)
        rows = _as_rows2(logits)
        out = np.empty(rows.shape, dtype=logits.dtype)
        result = getattr(kernels, kernel_name)(rows, t, out)
        out = out if result is None else result
        return out if logits.ndim == 2 else out.reshape(logits.shape)
    x = kernels.as_array(logits, "logits")
    t = _temperature(temperature)
    ax = _axis(x, axis, "logits")
    if math.prod(x.shape) == 0:  # nothing to compute: an empty result of x's shape
        return kernels.deliver(_fill(kernels, kernel_name, tuple(x.shape), x.dtype, x, t),
                               logits)
    rows, _ = kernels.as_rows(x, ax, "logits")
    out = _fill(kernels, kernel_name, tuple(rows.shape), x.dtype, rows, t)
    return kernels.deliver(kernels.from_rows(out, tuple(x.shape), ax), logits)


def softmax(logits, temperature=1.0, axis=-1, backend=DEFAULT_BACKEND):
    """exp((x - max) / T) / sum along ``axis``; a -inf logit gets probability 0."""
    return _softmax_like("softmax_rows", logits, temperature, axis, backend)


def log_softmax(logits, temperature=1.0, axis=-1, backend=DEFAULT_BACKEND):
    """log of :func:`softmax`, computed without forming it."""
    return _softmax_like("log_softmax_rows", logits, temperature, axis, backend)


def _logits_and_targets(kernels, logits, targets, ignore_index, numpy_hooks=False):
    if (numpy_hooks and type(logits) is np.ndarray and logits.ndim == 2
            and logits.dtype in _FLOATS):
        x = logits  # what as_array gives
    else:
        x = kernels.as_array(logits, "logits")
    if x.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, V); got {x.ndim} dimension(s)")
    n, n_classes = x.shape
    if n_classes == 0:
        raise ValueError("logits must have at least one class (V >= 1); got V = 0")
    t, ignore, kept = kernels.as_targets(targets, n, n_classes, ignore_index)
    return x, t, ignore, kept


def _mean_loss(losses: np.ndarray, kept: int) -> float:
    if not kept:
        return math.nan
    if losses.shape[0] < 8:
        # np.add.reduce's own order below 8 elements (0.0, then each in turn), as Python
        # floats: the same sum for a fifth of the cost of the ufunc call on a few rows
        total = 0.0
        for loss in losses.tolist():
            total += loss
        return total / kept
    # np.add.reduce is what ndarray.sum calls, without the Python wrapper in between
    return float(np.add.reduce(losses)) / kept


def cross_entropy_logits(logits, targets, reduction="mean", ignore_index=-100,
                         label_smoothing=0.0, backend=DEFAULT_BACKEND):
    """Cross-entropy of logits (N, V) against class targets (N,), as torch's F.cross_entropy."""
    kernels, numpy_hooks = _backend(backend)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    eps = label_smoothing
    if type(eps) is not float or not 0.0 <= eps <= 1.0:
        eps = v.real_scalar(label_smoothing, "label_smoothing")
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1]; got {eps}")
    x, t, ignore, kept = _logits_and_targets(kernels, logits, targets, ignore_index,
                                             numpy_hooks)
    # The kernels compute with label_smoothing in the logits' dtype and leave the smoothing
    # term out when it is 0; rounded here, a value that float32 cannot hold (below 1e-45) is
    # that 0 on every backend, rather than a 0 that multiplies an infinite term on some.
    if eps:
        eps = float(x.dtype.type(eps))
    losses = kernels.cross_entropy_logits_rows(x, t, ignore, eps)
    if reduction == "none":
        return losses.astype(x.dtype, copy=False)
    if reduction == "sum":
        return x.dtype.type(np.add.reduce(losses))
    return x.dtype.type(_mean_loss(losses, kept))


def perplexity(logits, targets, ignore_index=-100, backend=DEFAULT_BACKEND):
    """exp of the mean cross-entropy over the rows not ignored (NaN when all are ignored)."""
    kernels, numpy_hooks = _backend(backend)
    x, t, ignore, kept = _logits_and_targets(kernels, logits, targets, ignore_index,
                                             numpy_hooks)
    losses = kernels.cross_entropy_logits_rows(x, t, ignore, 0.0)
    mean = _mean_loss(losses, kept)
    if mean < 700.0:  # exp cannot overflow: no need for np.errstate, which costs a few us
        return x.dtype.type(math.exp(mean))
    with np.errstate(over="ignore"):  # a huge mean loss is an infinite perplexity, as in torch
        return x.dtype.type(np.exp(mean))


# ---------------------------------------------------------------------------- Gaussians

def _broadcast_floats(kernels, arrays: dict):
    converted, dtype = kernels.common_float(arrays)
    try:
        shape = np.broadcast_shapes(*(tuple(a.shape) for a in converted.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {tuple(a.shape)}" for k, a in converted.items())
        raise ValueError(f"arguments do not broadcast together: {shapes}") from None
    return {k: kernels.broadcast_to(a, shape, k) for k, a in converted.items()}, shape, dtype


def _check_sigma(kernels, a, name: str) -> None:
    bad = kernels.first_not_positive(a)
    if bad is not None:
        raise ValueError(f"{name} must be > 0 everywhere; found {bad}")


def _elementwise_result(out, shape: tuple):
    """A NumPy scalar for scalar input; arrays (host or device) as they are."""
    if shape == () and isinstance(out, np.ndarray):
        return out.dtype.type(out[()])
    return out


def _same_arrays(arrays) -> bool:
    """Whether elementwise arguments take the fast path: non-empty float32/float64 NumPy
    arrays (not subclasses, at least 1-D) of one shape and one dtype, which common_float and
    broadcast_to leave as they are."""
    first = arrays[0]
    if (type(first) is not np.ndarray or first.dtype not in _FLOATS or first.ndim == 0
            or first.size == 0):
        return False
    for a in arrays[1:]:
        if type(a) is not np.ndarray or a.dtype != first.dtype or a.shape != first.shape:
            return False
    return True


def gaussian_kl(mu1, sigma1, mu2, sigma2, backend=DEFAULT_BACKEND):
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)), elementwise with broadcasting."""
    kernels, numpy_hooks = _backend(backend)
    if numpy_hooks and _same_arrays((mu1, sigma1, mu2, sigma2)):
        _check_sigma(kernels, sigma1, "sigma1")
        _check_sigma(kernels, sigma2, "sigma2")
        out = np.empty(mu1.shape, dtype=mu1.dtype)
        result = kernels.gaussian_kl(mu1, sigma1, mu2, sigma2, out)
        return out if result is None else result
    args, shape, dtype = _broadcast_floats(
        kernels, {"mu1": mu1, "sigma1": sigma1, "mu2": mu2, "sigma2": sigma2})
    _check_sigma(kernels, args["sigma1"], "sigma1")
    _check_sigma(kernels, args["sigma2"], "sigma2")
    out = _fill(kernels, "gaussian_kl", shape, dtype,
                args["mu1"], args["sigma1"], args["mu2"], args["sigma2"])
    return _elementwise_result(kernels.deliver(out, mu1, sigma1, mu2, sigma2), shape)


def gaussian_entropy(sigma, backend=DEFAULT_BACKEND):
    """Differential entropy of N(mu, sigma^2): log(2 pi e sigma^2) / 2, elementwise."""
    kernels, numpy_hooks = _backend(backend)
    if numpy_hooks and _same_arrays((sigma,)):
        _check_sigma(kernels, sigma, "sigma")
        out = np.empty(sigma.shape, dtype=sigma.dtype)
        result = kernels.gaussian_entropy(sigma, out)
        return out if result is None else result
    args, shape, dtype = _broadcast_floats(kernels, {"sigma": sigma})
    _check_sigma(kernels, args["sigma"], "sigma")
    out = _fill(kernels, "gaussian_entropy", shape, dtype, args["sigma"])
    return _elementwise_result(kernels.deliver(out, sigma), shape)
