"""Argument checks shared by the public functions. Every error names the argument it is about."""

from __future__ import annotations

import math
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INT64 = np.dtype(np.int64)
#: Up to this many class targets are checked as Python ints rather than as arrays.
_FEW_TARGETS = 32


def real_scalar(value, name: str) -> float:
    """A finite real number as a Python float (bools are not numbers here)."""
    if type(value) is float and math.isfinite(value):  # the common case, in one test
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    return value


def integer_scalar(value, name: str) -> int:
    if type(value) is int:  # the common case; bool is a subclass, so not this type
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    return int(value)


def float_array(x, name: str) -> np.ndarray:
    """x as a float32 or float64 array; integer and bool input becomes float64.

    Raises TypeError for anything that is not a real numeric array-like.
    """
    if isinstance(x, np.ndarray):
        a = x
    else:
        if x is None or isinstance(x, (str, bytes, dict, set)):
            raise TypeError(f"{name} must be a real numeric array; got {type(x).__name__}")
        try:
            a = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must be a real numeric array: {exc}") from None
    return a.astype(float_dtype(a.dtype, name), copy=False)


def float_dtype(dtype, name: str) -> np.dtype:
    """The float dtype computed in for input of ``dtype``: float32/float64 stay, smaller
    floats become float32, integers and bools float64; anything else is a TypeError."""
    dtype = np.dtype(dtype)
    if dtype in FLOAT_DTYPES:
        return dtype
    if dtype.kind == "f":
        return np.dtype(np.float32 if dtype.itemsize < 4 else np.float64)
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    raise TypeError(f"{name} must be a real numeric array; got dtype {dtype}")


def log_base(base) -> float:
    """ln(base), the divisor that turns nats into the requested unit; 1.0 for None."""
    if base is None:
        return 1.0
    b = real_scalar(base, "base")
    if b <= 0 or b == 1:
        raise ValueError(f"base must be > 0 and != 1; got {b}")
    return math.log(b)


def positive_scalar(value, name: str) -> float:
    v = real_scalar(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0; got {v}")
    return v


def non_negative_scalar(value, name: str) -> float:
    v = real_scalar(value, name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0; got {v}")
    return v


def unit_interval_open(value, name: str) -> float:
    """A value in [0, 1), as betas must be."""
    v = real_scalar(value, name)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1); got {v}")
    return v


def param_array(p, name: str) -> np.ndarray:
    """A writable float32/float64 NumPy array that an optimizer may update in place."""
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array; got {type(p).__name__}")
    if p.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must have dtype float32 or float64; got {p.dtype}")
    if not p.flags.writeable:
        raise ValueError(f"{name} must be writable; it is a read-only array")
    return p


def array_list(arrays, name: str) -> list:
    """A list of arrays (or Nones) from a sequence; a lone array is a list of one."""
    if isinstance(arrays, np.ndarray):
        return [arrays]
    if isinstance(arrays, (str, bytes)) or not hasattr(arrays, "__iter__"):
        raise TypeError(f"{name} must be a sequence of NumPy arrays; got {type(arrays).__name__}")
    return list(arrays)


def class_targets(targets, n_rows: int, n_classes: int, ignore_index) -> tuple:
    """(targets as a contiguous int64 array, ignore_index as an int, how many targets are not
    ignore_index), after checking them as class indices of ``n_rows`` rows of ``n_classes``
    logits."""
    if targets is None or isinstance(targets, (str, bytes)):
        raise TypeError(f"targets must be an integer array; got {type(targets).__name__}")
    t = targets if type(targets) is np.ndarray else np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise ValueError(f"targets must hold integers; got dtype {t.dtype}")
    if t.shape != (n_rows,):
        raise ValueError(f"targets must have shape ({n_rows},) to match logits; got {t.shape}")
    ignore = integer_scalar(ignore_index, "ignore_index")
    if t.dtype != _INT64:
        t = t.astype(np.int64)
    if n_rows <= _FEW_TARGETS:
        # A few targets: checked as Python ints, a fraction of the cost of the array
        # expressions below (each a few NumPy calls) for the same verdict.
        values = t.tolist()
        for i, ti in enumerate(values):
            if ti != ignore and not 0 <= ti < n_classes:
                raise ValueError(f"targets[{i}] = {ti} is outside [0, {n_classes}) and is not "
                                 f"ignore_index ({ignore})")
        if not t.flags.c_contiguous:
            t = np.ascontiguousarray(t)
        return t, ignore, len(values) - values.count(ignore)
    bad = (t != ignore) & ((t < 0) | (t >= n_classes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"targets[{i}] = {int(t[i])} is outside [0, {n_classes}) and is not "
                         f"ignore_index ({ignore})")
    return np.ascontiguousarray(t), ignore, int(np.count_nonzero(t != ignore))
