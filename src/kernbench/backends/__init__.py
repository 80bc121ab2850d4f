"""Backend registry: names, availability and the backend objects.

Each backend lives in one module, imported only when it is asked for, so that a backend whose
dependencies are missing costs nothing to the others. What a backend implements, and the
:class:`Backend` base class it derives from, are in :mod:`kernbench.backends.interface`.
"""

from __future__ import annotations

import importlib
import threading

from kernbench.backends.interface import KERNELS, Backend

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


__all__ = ["KERNELS", "Backend", "BackendUnavailableError", "available_backends",
           "get_backend", "known_backends"]
