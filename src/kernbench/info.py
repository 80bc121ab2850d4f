"""Information-theory functions with scipy.stats conventions and a ``backend=`` argument.

Each function validates its arguments, shapes them for the kernel (reduction axis last, rows of
a 2-D array), calls ``get_backend(backend).<kernel>`` and turns the result back into the
caller's shape and dtype. Checks that need a pass over the data (negative or non-finite
probabilities, slices summing to zero) are fused into the kernel's own pass and come back as a
status; the function raises on them before returning anything.
"""

from __future__ import annotations

import math

import numpy as np

from kernbench import _validate as v
from kernbench.backends import get_backend
from kernbench.backends.interface import (
    STATUS_P_INVALID,
    STATUS_P_ZERO_SUM,
    STATUS_Q_INVALID,
    STATUS_Q_ZERO_SUM,
)

__all__ = [
    "conditional_entropy", "cross_entropy", "cross_entropy_logits", "entropy", "gaussian_entropy",
    "gaussian_kl", "js_divergence", "kl_divergence", "log_softmax", "mutual_information",
    "perplexity", "softmax",
]

DEFAULT_BACKEND = "numba"
_LN2 = math.log(2.0)
_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------- shaping helpers

def _axis(a: np.ndarray, axis, name: str) -> int:
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension; got a scalar")
    ax = v.integer_scalar(axis, "axis")
    if not -a.ndim <= ax < a.ndim:
        raise ValueError(f"axis {ax} is out of range for {name} with {a.ndim} dimension(s)")
    return ax % a.ndim


def _as_rows(a: np.ndarray, axis: int) -> tuple[np.ndarray, tuple]:
    """(R, n) rows with the reduction axis last (a view when strides allow), and the lead shape."""
    moved = np.moveaxis(a, axis, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape[:-1]


def _probability_rows(kernels, x, name: str, axis) -> tuple[np.ndarray, tuple, int]:
    a = kernels.as_array(x, name)
    ax = _axis(a, axis, name)
    if a.shape[ax] == 0:
        raise ValueError(f"{name} is empty along axis {ax}: there is no distribution to measure")
    rows, lead = _as_rows(a, ax)
    return rows, lead, ax


def _raise_for_status(status: np.ndarray, axis: int, names=("p", "q")) -> None:
    bad = np.flatnonzero(status)
    if bad.size == 0:
        return
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


def _finish(values: np.ndarray, lead: tuple, dtype: np.dtype, scale: float):
    if scale != 1.0:
        values = values / scale
    if lead == ():
        return dtype.type(values[0])
    return values.reshape(lead).astype(dtype, copy=False)


def _pair_rows(kernels, p, q, axis):
    pa = kernels.as_array(p, "p")
    qa = kernels.as_array(q, "q")
    if pa.shape != qa.shape:
        raise ValueError(f"p and q must have the same shape; got {pa.shape} and {qa.shape}")
    dtype = np.result_type(pa.dtype, qa.dtype)
    pa = pa.astype(dtype, copy=False)
    qa = qa.astype(dtype, copy=False)
    ax = _axis(pa, axis, "p")
    if pa.shape[ax] == 0:
        raise ValueError(f"p is empty along axis {ax}: there is no distribution to measure")
    prow, lead = _as_rows(pa, ax)
    qrow, _ = _as_rows(qa, ax)
    return prow, qrow, lead, ax, dtype


def _fill(kernels, kernel_name: str, shape: tuple, dtype, *args):
    """Run a kernel that fills an ``out`` array (or returns its result, see new_output)."""
    out = kernels.new_output(shape, dtype)
    if math.prod(shape) == 0:
        return np.empty(shape, dtype=dtype) if out is None else out
    result = getattr(kernels, kernel_name)(*args, out)
    return out if result is None else result


# ---------------------------------------------------------------------------- reductions

def entropy(p, base=None, axis=-1, backend=DEFAULT_BACKEND):
    """Shannon entropy of p normalized along ``axis``; equals ``scipy.stats.entropy(p)``."""
    kernels = get_backend(backend)
    scale = v.log_base(base)
    rows, lead, ax = _probability_rows(kernels, p, "p", axis)
    values, status = kernels.entropy_rows(rows)
    _raise_for_status(status, ax)
    return _finish(values, lead, rows.dtype, scale)


def _pair_reduction(kernel_name, p, q, base, axis, backend):
    kernels = get_backend(backend)
    scale = v.log_base(base)
    prow, qrow, lead, ax, dtype = _pair_rows(kernels, p, q, axis)
    values, status = getattr(kernels, kernel_name)(prow, qrow)
    _raise_for_status(status, ax)
    return _finish(values, lead, dtype, scale)


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
    kernels = get_backend(backend)
    scale = v.log_base(base)
    j = kernels.as_array(joint, "joint")
    if j.ndim != 2:
        raise ValueError(f"joint must be a 2-D table; got {j.ndim} dimension(s)")
    if 0 in j.shape:
        raise ValueError(f"joint must not be empty; got shape {j.shape}")
    value, status = getattr(kernels, kernel_name)(j)
    if status:
        _raise_for_status(np.array([status], dtype=np.int8), 0, names=("joint",))
    return j.dtype.type(value / scale)


def mutual_information(joint, base=None, backend=DEFAULT_BACKEND):
    """I(X;Y) of a joint table of probabilities or counts (rows X, columns Y)."""
    return _joint_reduction("mutual_information", joint, base, backend)


def conditional_entropy(joint, base=None, backend=DEFAULT_BACKEND):
    """H(Y|X) = H(X,Y) - H(X) of a joint table (rows X, columns Y)."""
    return _joint_reduction("conditional_entropy", joint, base, backend)


# ---------------------------------------------------------------------------- softmax family

def _softmax_like(kernel_name, logits, temperature, axis, backend):
    kernels = get_backend(backend)
    x = kernels.as_array(logits, "logits")
    t = v.positive_scalar(temperature, "temperature")
    ax = _axis(x, axis, "logits")
    rows, _ = _as_rows(x, ax)
    out = _fill(kernels, kernel_name, rows.shape, x.dtype, rows, t)
    moved_shape = np.moveaxis(x, ax, -1).shape
    return np.moveaxis(out.reshape(moved_shape), -1, ax)


def softmax(logits, temperature=1.0, axis=-1, backend=DEFAULT_BACKEND):
    """exp((x - max) / T) / sum along ``axis``; a -inf logit gets probability 0."""
    return _softmax_like("softmax_rows", logits, temperature, axis, backend)


def log_softmax(logits, temperature=1.0, axis=-1, backend=DEFAULT_BACKEND):
    """log of :func:`softmax`, computed without forming it."""
    return _softmax_like("log_softmax_rows", logits, temperature, axis, backend)


def _logits_and_targets(kernels, logits, targets, ignore_index):
    x = kernels.as_array(logits, "logits")
    if x.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, V); got {x.ndim} dimension(s)")
    n, n_classes = x.shape
    if n_classes == 0:
        raise ValueError("logits must have at least one class (V >= 1); got V = 0")
    if targets is None or isinstance(targets, (str, bytes)):
        raise TypeError(f"targets must be an integer array; got {type(targets).__name__}")
    t = np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise ValueError(f"targets must hold integers; got dtype {t.dtype}")
    if t.shape != (n,):
        raise ValueError(f"targets must have shape ({n},) to match logits; got {t.shape}")
    ignore = v.integer_scalar(ignore_index, "ignore_index")
    t = t.astype(np.int64, copy=False)
    bad = (t != ignore) & ((t < 0) | (t >= n_classes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"targets[{i}] = {int(t[i])} is outside [0, {n_classes}) and is not "
                         f"ignore_index ({ignore})")
    return x, np.ascontiguousarray(t), ignore


def _mean_loss(losses: np.ndarray, targets: np.ndarray, ignore: int) -> float:
    count = int(np.count_nonzero(targets != ignore))
    return float(losses.sum()) / count if count else math.nan


def cross_entropy_logits(logits, targets, reduction="mean", ignore_index=-100,
                         label_smoothing=0.0, backend=DEFAULT_BACKEND):
    """Cross-entropy of logits (N, V) against class targets (N,), as torch's F.cross_entropy."""
    kernels = get_backend(backend)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    eps = v.real_scalar(label_smoothing, "label_smoothing")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; got {eps}")
    x, t, ignore = _logits_and_targets(kernels, logits, targets, ignore_index)
    losses = kernels.cross_entropy_logits_rows(x, t, ignore, eps)
    if reduction == "none":
        return losses.astype(x.dtype, copy=False)
    if reduction == "sum":
        return x.dtype.type(losses.sum())
    return x.dtype.type(_mean_loss(losses, t, ignore))


def perplexity(logits, targets, ignore_index=-100, backend=DEFAULT_BACKEND):
    """exp of the mean cross-entropy over the rows not ignored (NaN when all are ignored)."""
    kernels = get_backend(backend)
    x, t, ignore = _logits_and_targets(kernels, logits, targets, ignore_index)
    losses = kernels.cross_entropy_logits_rows(x, t, ignore, 0.0)
    with np.errstate(over="ignore"):  # a huge mean loss is an infinite perplexity, as in torch
        return x.dtype.type(np.exp(_mean_loss(losses, t, ignore)))


# ---------------------------------------------------------------------------- Gaussians

def _broadcast_floats(kernels, arrays: dict):
    converted = {name: kernels.as_array(a, name) for name, a in arrays.items()}
    try:
        shape = np.broadcast_shapes(*(a.shape for a in converted.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {a.shape}" for k, a in converted.items())
        raise ValueError(f"arguments do not broadcast together: {shapes}") from None
    dtype = np.result_type(*converted.values())
    return {k: np.broadcast_to(a.astype(dtype, copy=False), shape)
            for k, a in converted.items()}, shape, dtype


def _check_sigma(a: np.ndarray, name: str) -> None:
    if np.any(a <= 0):
        a = np.asarray(a)  # only on the error path: gathers a dask array to name the value
        raise ValueError(f"{name} must be > 0 everywhere; found {float(a[a <= 0].flat[0])}")


def _elementwise_result(out: np.ndarray, shape: tuple):
    return out.dtype.type(out[()]) if shape == () else out


def gaussian_kl(mu1, sigma1, mu2, sigma2, backend=DEFAULT_BACKEND):
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)), elementwise with broadcasting."""
    kernels = get_backend(backend)
    args, shape, dtype = _broadcast_floats(
        kernels, {"mu1": mu1, "sigma1": sigma1, "mu2": mu2, "sigma2": sigma2})
    _check_sigma(args["sigma1"], "sigma1")
    _check_sigma(args["sigma2"], "sigma2")
    out = _fill(kernels, "gaussian_kl", shape, dtype,
                args["mu1"], args["sigma1"], args["mu2"], args["sigma2"])
    return _elementwise_result(out, shape)


def gaussian_entropy(sigma, backend=DEFAULT_BACKEND):
    """Differential entropy of N(mu, sigma^2): log(2 pi e sigma^2) / 2, elementwise."""
    kernels = get_backend(backend)
    args, shape, dtype = _broadcast_floats(kernels, {"sigma": sigma})
    _check_sigma(args["sigma"], "sigma")
    out = _fill(kernels, "gaussian_entropy", shape, dtype, args["sigma"])
    return _elementwise_result(out, shape)
