"""Device arrays for the ``cuda`` backend: which ``numba.cuda`` it uses, and views of the
caller's device memory (reshaped, strided, flattened) made without a copy.

This is the view algebra the backend's array hooks (:mod:`cuda_backend`) build on: NumPy's
``reshape``, ``moveaxis`` and ``broadcast_to`` do not apply to Numba device arrays, so a view is
made from a shape and byte strides over the same memory (:func:`view`), after checking that
one stride walks the elements (:func:`one_stride`). Importing this module never fails: without
numba-cuda, :data:`cuda` is None and :data:`IMPORT_ERROR` says why, if anything did.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np


def _import_cuda():
    """(numba.cuda, None), or (None, why) when numba-cuda is missing or cannot be imported.

    numba itself still ships a deprecated built-in ``numba.cuda``; without numba-cuda the
    backend does not fall back to it.
    """
    if importlib.util.find_spec("numba_cuda") is None:
        return None, None
    try:
        from numba import cuda as module
    except Exception as exc:
        return None, exc
    return module, None


cuda, IMPORT_ERROR = _import_cuda()


def is_device_array(x) -> bool:
    """A Numba device array (real or simulated) or any __cuda_array_interface__ exporter."""
    if isinstance(x, np.ndarray):
        return False
    return bool(getattr(x, "__cuda_ndarray__", False)) or hasattr(x, "__cuda_array_interface__")


def device_view(x):
    """A Numba device array viewing the memory of device array x (no copy)."""
    if getattr(x, "__cuda_ndarray__", False):
        return x
    as_cuda_array = getattr(cuda, "as_cuda_array", None)
    if as_cuda_array is None:  # the simulator cannot see real device memory
        raise TypeError(f"{type(x).__name__} arrays cannot be used under the CUDA simulator; "
                        "pass a NumPy array or a numba.cuda device array")
    return as_cuda_array(x)


def one_stride(shape, strides, default):
    """The byte stride that walks every element of an array of this shape and these strides
    in C order as one run, or None when no single stride does; ``default`` for at most one
    element (any stride will do then)."""
    dims = [(n, s) for n, s in zip(shape, strides) if n != 1]
    if not dims or any(n == 0 for n, _ in dims):
        return default
    n, stride = dims[-1]
    expect = stride * n
    for n, s in reversed(dims[:-1]):
        if s != expect:
            return None
        expect = s * n
    return stride


def c_strides(shape, itemsize: int) -> tuple:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def view(d, shape, strides):
    """A device array over the memory of device array d, starting at its first element, with
    these shape and (non-negative, byte) strides; no copy."""
    shape, strides = tuple(int(n) for n in shape), tuple(int(s) for s in strides)
    gpu_data = getattr(d, "gpu_data", None)
    if gpu_data is None:  # the simulator's device arrays wrap a NumPy array
        return type(d)(np.lib.stride_tricks.as_strided(d._ary, shape, strides))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    return DeviceNDArray(shape, strides, d.dtype, stream=d.stream, gpu_data=gpu_data)


def flat(d):
    """A 1-D device view of every element of d in C order (the caller checked that one
    stride walks them, see one_stride)."""
    stride = one_stride(tuple(d.shape), tuple(d.strides), np.dtype(d.dtype).itemsize)
    return view(d, (d.size,), (stride,))


def like_input(out, x):
    """Device array ``out`` as the kind of array the caller's device input x is: a torch
    tensor or a CuPy array sharing out's memory (through __cuda_array_interface__), else out.
    Neither library is imported here: an input of its kind means the caller did."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return torch.as_tensor(out, device=x.device)
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy.asarray(out)
    return out


def shape_dtype(x) -> tuple[tuple, np.dtype]:
    if isinstance(x, np.ndarray):
        return x.shape, x.dtype
    v = device_view(x)
    return tuple(v.shape), np.dtype(v.dtype)


def flat_pieces(*arrays):
    """Aligned 1-D device views covering same-shape device arrays, in C order.

    One tuple when every array is C-contiguous (or 1-D, any stride); otherwise one tuple per
    index of the leading dimensions (a slow path for non-contiguous n-D device params).
    """
    first = arrays[0]
    if all(a.is_c_contiguous() for a in arrays):
        return [tuple(a.reshape(a.size) for a in arrays)]
    if first.ndim == 1:
        return [arrays]
    return [tuple(a[idx] for a in arrays) for idx in np.ndindex(*first.shape[:-1])]


class Staged:
    """A param-like argument on the device: the caller's device array itself, or a device
    copy of a NumPy array that ``finish()`` copies back into it (the slow path)."""

    __slots__ = ("contiguous", "device", "host")

    def __init__(self, x):
        if isinstance(x, np.ndarray):
            self.host = x
            self.contiguous = np.ascontiguousarray(x)
            self.device = cuda.to_device(self.contiguous)
        else:
            self.host = None
            self.device = device_view(x)

    def finish(self) -> None:
        if self.host is None:
            return
        self.device.copy_to_host(self.contiguous)  # waits for the kernels before it
        if self.contiguous is not self.host:
            self.host[...] = self.contiguous


def grad_on_device(g):
    if isinstance(g, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(g))
    return device_view(g)
