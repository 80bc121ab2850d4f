"""Backend registry: names, availability and the backend objects.

Each backend lives in one module, imported only when it is asked for, so that a backend whose
dependencies are missing costs nothing to the others.
"""

from __future__ import annotations

import importlib
import threading

import numpy as np

from kernbench.backends.interface import KERNELS

#: Known backends in the order of the contract: module path and class name.
_BACKENDS = {
    "python": ("kernbench.backends.python_backend", "PythonBackend"),
    "numpy": ("kernbench.backends.numpy_backend", "NumpyBackend"),
    "numba-plain": ("kernbench.backends.numba_plain_backend", "NumbaPlainBackend"),
    "numba": ("kernbench.backends.numba_backend", "NumbaBackend"),
    "cuda": ("kernbench.backends.cuda_backend", "CudaBackend"),
    "dask": ("kernbench.backends.dask_backend", "DaskBackend"),
}

_instances: dict = {}
_lock = threading.Lock()


class BackendUnavailableError(RuntimeError):
    """A known backend that cannot run on this machine; the message says why."""


def known_backends() -> tuple[str, ...]:
    return tuple(_BACKENDS)


def _load(name: str):
    module_name, class_name = _BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend {name!r} cannot run here: {exc.name or exc} is not installed") from None
    cls = getattr(module, class_name)
    reason = cls.unavailable_reason()
    if reason:
        raise BackendUnavailableError(f"backend {name!r} cannot run here: {reason}")
    return cls()


def get_backend(name):
    """The backend object called ``name``; see :data:`KERNELS` for what it offers."""
    if not isinstance(name, str) or name not in _BACKENDS:
        known = ", ".join(repr(n) for n in _BACKENDS)
        raise ValueError(f"backend must be one of {known}; got {name!r}")
    with _lock:
        backend = _instances.get(name)
        if backend is None:
            backend = _instances[name] = _load(name)
    return backend


def available_backends() -> list[str]:
    """Names of the backends usable on this machine, in contract order."""
    names = []
    for name in _BACKENDS:
        try:
            get_backend(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return names


class Backend:
    """Base of every backend: a name, whether it can run here, and its array plumbing.

    The plumbing methods let the optimizers hold arrays that are not NumPy arrays (device
    arrays for ``cuda``, dask arrays for ``dask``) without knowing what they are. The defaults
    here are for backends that compute on NumPy arrays in place.
    """

    name = ""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend runs here, else one sentence saying why not."""
        return None

    def as_array(self, x, name: str):
        """An input of an information function as an array this backend computes on.

        The default: a float32/float64 NumPy array (integer input becomes float64).
        """
        from kernbench._validate import float_array

        return float_array(x, name)

    def new_output(self, shape: tuple, dtype):
        """The ``out`` array for kernels that fill one; None tells the kernel to return its
        result instead (a backend whose arrays are immutable)."""
        return np.empty(shape, dtype=dtype)

    # The hooks below shape the arrays that ``as_array`` made for the kernels. The defaults
    # use NumPy functions, which dask arrays honour too; a backend whose arrays NumPy cannot
    # handle (device arrays for ``cuda``) overrides them.

    def output_for(self, shape: tuple, dtype, *inputs):
        """The ``out`` array of a kernel reading ``inputs`` (see new_output)."""
        return self.new_output(shape, dtype)

    def common_float(self, arrays: dict) -> tuple[dict, np.dtype]:
        """Arguments converted by as_array (keyed by argument name), cast to their common
        float dtype; that dtype."""
        converted = {name: self.as_array(a, name) for name, a in arrays.items()}
        dtype = np.result_type(*(a.dtype for a in converted.values()))
        return {k: a.astype(dtype, copy=False) for k, a in converted.items()}, dtype

    def as_rows(self, a, axis: int, name: str) -> tuple:
        """(rows, lead): a 2-D (R, n) array of ``a`` with ``axis`` (non-negative) last, a view
        where strides allow, and the shape of the other axes."""
        moved = np.moveaxis(a, axis, -1)
        return moved.reshape(-1, moved.shape[-1]), moved.shape[:-1]

    def from_rows(self, out, shape: tuple, axis: int):
        """The (R, n) output of a row-wise kernel over ``as_rows(a, axis)``, in a's ``shape``."""
        moved = list(shape)
        moved.append(moved.pop(axis))
        return np.moveaxis(out.reshape(moved), -1, axis)

    def deliver(self, out, *inputs):
        """An output as large as the input, as the caller gets it (``inputs``: the caller's
        own arguments, before as_array)."""
        return out

    def broadcast_to(self, a, shape: tuple, name: str):
        """a (from common_float) broadcast to ``shape``, for an elementwise kernel."""
        return np.broadcast_to(a, shape)

    def first_not_positive(self, a):
        """The first entry of a that is <= 0, as a float, or None when every entry is > 0
        (NaN is not <= 0)."""
        if not np.any(a <= 0):
            return None
        a = np.asarray(a)  # only on the error path: gathers a dask array to name the value
        return float(a[a <= 0].flat[0])

    def as_targets(self, targets, n_rows: int, n_classes: int, ignore_index) -> tuple:
        """(targets, ignore_index, rows not ignored) of cross_entropy_logits, checked: integer
        class indices of shape (n_rows,), each in [0, n_classes) or equal to ignore_index."""
        from kernbench._validate import class_targets

        return class_targets(targets, n_rows, n_classes, ignore_index)

    def as_param(self, p, name: str):
        """p checked (and, if the backend needs it, converted) as an optimizer param."""
        from kernbench._validate import param_array

        return param_array(p, name)

    def check_grad(self, g, p, name: str, param_name: str) -> None:
        """Raise unless g can be the gradient of param p (same shape and dtype)."""
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array or None; got {type(g).__name__}")
        if g.shape != p.shape:
            raise ValueError(f"{name} has shape {g.shape}; {param_name} has {p.shape}")
        if g.dtype != p.dtype:
            raise ValueError(f"{name} has dtype {g.dtype}; {param_name} has {p.dtype}")

    def updates_in_place(self, a) -> bool:
        """Whether the kernels update array ``a`` (as ``as_param`` gave it) in place and hand
        it back; False for an immutable array (dask), for which they hand back a new one."""
        return True

    def zeros_like(self, p):
        """A new zero-filled state array for param p (C-contiguous)."""
        return np.zeros(p.shape, dtype=p.dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A NumPy copy of a state array, for state_dict()."""
        return np.array(a, copy=True)

    def from_numpy(self, a: np.ndarray, like):
        """A state array of the backend's kind holding a copy of a, shaped and typed as like."""
        return np.array(a, dtype=like.dtype, copy=True)

    def adam_steps(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1,
                   beta2, eps, weight_decay, decoupled, amsgrad, maximize, steps, cache=None):
        """One Adam step over many tensors (a model): ``adam_step`` on each, ``steps[k]`` being
        tensor k's step count. ``max_exp_avg_sqs[k]`` is ignored without AMSGrad. ``cache`` is
        a dict the caller keeps between steps, for a backend to remember what it derived from
        the same tensors. A backend can override this to update all tensors in one call.

        Returns one ``adam_step`` result per tensor, ``(param, exp_avg, exp_avg_sq,
        max_exp_avg_sq)``: the arrays that now hold the result (the same objects for a backend
        that updates in place, new ones for immutable arrays).
        """
        return [self.adam_step(p, g, m, v, vm if amsgrad else None, lr=lr, beta1=beta1,
                               beta2=beta2, eps=eps, weight_decay=weight_decay,
                               decoupled=decoupled, amsgrad=amsgrad, maximize=maximize, step=t)
                for p, g, m, v, vm, t in zip(params, grads, exp_avgs, exp_avg_sqs,
                                             max_exp_avg_sqs, steps)]

    def __repr__(self) -> str:
        return f"<kernbench backend {self.name!r}>"


__all__ = ["KERNELS", "Backend", "BackendUnavailableError", "available_backends",
           "get_backend", "known_backends"]
