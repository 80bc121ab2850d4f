"""The ``cuda`` backend: ``@cuda.jit`` kernels (package ``numba-cuda``), on an NVIDIA GPU or,
for tests, on Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is first
imported).

This module is the host side: availability, launch configuration, transfers and
synchronisation. The kernels live in :mod:`kernbench.backends._cuda_kernels`, imported only
once the backend is known to run here; importing this module never fails, with or without
numba-cuda.

Where data lives
----------------
* Optimizer params may be device arrays: anything with ``__cuda_array_interface__`` (Numba
  device arrays, CuPy arrays, torch CUDA tensors, wrapped with ``cuda.as_cuda_array``). They
  are updated in place on the device; ``opt.params`` returns the caller's own objects.
* Optimizer state (``zeros_like``, ``from_numpy``) always lives on the device, C-contiguous,
  so it stays there across steps; ``to_numpy``/``from_numpy`` move it for
  ``state_dict()``/``load_state_dict()``.
* NumPy params are accepted too. That is the slow path: every step copies the param (and its
  grad) to the device and the param back (``np.ascontiguousarray`` in, then a copy into the
  caller's array, so strided views such as ``theta[::2]`` are updated where they look).
* Information functions receive NumPy arrays from the public layer; they are copied in, and
  results (values, status, ``out`` arrays) are copied back into NumPy arrays.

Synchronisation: kernels are launched on the default stream and never synchronise beyond
``cuda.syncthreads()`` inside a block reduction. Every result that reaches the host goes
through ``copy_to_host`` on that stream, which waits for the kernels before it; in-place
updates of device params need no wait (work later queued on the default stream is ordered
after them). :meth:`CudaBackend.synchronize` waits for the device, for timing.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
import warnings

import numpy as np

from kernbench._hyper import adam_scalars
from kernbench.backends import Backend


def _import_cuda():
    """(numba.cuda, None), or (None, why) when numba-cuda is missing or cannot be imported.

    numba itself still ships a deprecated built-in ``numba.cuda``; without numba-cuda the
    backend does not fall back to it.
    """
    if importlib.util.find_spec("numba_cuda") is None:
        return None, None
    try:
        from numba import cuda as module
    except Exception as exc:  # noqa: BLE001 - e.g. the CUDA Python bindings are missing
        return None, exc
    return module, None


cuda, _IMPORT_ERROR = _import_cuda()

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INSTALL_HINT = 'pip install "kernbench[cuda]"'

#: A row chunk of a reduction gives each thread at least this many elements, so a long row is
#: split across blocks only when every block has real work.
_MIN_ITEMS_PER_THREAD = 4
#: Resident threads of the simulated device's one "multiprocessor": a simulated launch is at
#: most 128 threads (16 blocks of 8), well under the simulator's budget of ~512.
_SIM_THREADS_PER_SM = 128


#: GIL switch interval while a simulated kernel runs. The simulator runs every CUDA thread as a
#: Python thread and hands barriers over by polling, so with Python's default 5 ms interval a
#: ``cuda.syncthreads()`` costs milliseconds; 0.1 ms makes a simulated launch about 5x faster.
_SIM_SWITCH_INTERVAL = 1e-4


def _launches(method):
    """Wrap a host method that launches kernels. On a GPU it does nothing. Under the simulator
    it shortens the GIL switch interval for the call (restored after) and silences the
    RuntimeWarnings that NumPy scalars raise for the inf/NaN arithmetic a GPU does silently
    (simulated threads do not inherit ``np.errstate``)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self.simulator:
            return method(self, *args, **kwargs)
        previous = sys.getswitchinterval()
        sys.setswitchinterval(min(previous, _SIM_SWITCH_INTERVAL))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return method(self, *args, **kwargs)
        finally:
            sys.setswitchinterval(previous)

    return wrapper


def _simulator() -> bool:
    try:
        from numba.cuda.core import config
    except ImportError:  # pragma: no cover
        return False
    return bool(config.ENABLE_CUDASIM)


def _is_device_array(x) -> bool:
    """A Numba device array (real or simulated) or any __cuda_array_interface__ exporter."""
    if isinstance(x, np.ndarray):
        return False
    return bool(getattr(x, "__cuda_ndarray__", False)) or hasattr(x, "__cuda_array_interface__")


def _device_view(x):
    """A Numba device array viewing the memory of device array x (no copy)."""
    if getattr(x, "__cuda_ndarray__", False):
        return x
    as_cuda_array = getattr(cuda, "as_cuda_array", None)
    if as_cuda_array is None:  # the simulator cannot see real device memory
        raise TypeError(f"{type(x).__name__} arrays cannot be used under the CUDA simulator; "
                        "pass a NumPy array or a numba.cuda device array")
    return as_cuda_array(x)


def _shape_dtype(x) -> tuple[tuple, np.dtype]:
    if isinstance(x, np.ndarray):
        return x.shape, x.dtype
    v = _device_view(x)
    return tuple(v.shape), np.dtype(v.dtype)


def _flat_pieces(*arrays):
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


class _Staged:
    """A param-like argument on the device: the caller's device array itself, or a device
    copy of a NumPy array that ``finish()`` copies back into it (the slow path)."""

    __slots__ = ("host", "contiguous", "device")

    def __init__(self, x):
        if isinstance(x, np.ndarray):
            self.host = x
            self.contiguous = np.ascontiguousarray(x)
            self.device = cuda.to_device(self.contiguous)
        else:
            self.host = None
            self.device = _device_view(x)

    def finish(self) -> None:
        if self.host is None:
            return
        self.device.copy_to_host(self.contiguous)  # waits for the kernels before it
        if self.contiguous is not self.host:
            self.host[...] = self.contiguous


def _grad_on_device(g):
    if isinstance(g, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(g))
    return _device_view(g)


class CudaBackend(Backend):
    name = "cuda"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("numba_cuda") is None:
            return f"numba-cuda is not installed; {_INSTALL_HINT} to add it"
        if cuda is None:
            return f"numba-cuda cannot be imported ({_IMPORT_ERROR}); {_INSTALL_HINT}"
        if _simulator():
            return None
        try:
            ok = bool(cuda.is_available())
        except Exception:  # noqa: BLE001 - a broken driver is "no GPU" too
            ok = False
        if not ok:
            return ("no CUDA GPU is visible (numba.cuda.is_available() is False); set "
                    "NUMBA_ENABLE_CUDASIM=1 (before numba is first imported) to use the "
                    "simulator")
        return None

    def __init__(self):
        from kernbench.backends import _cuda_kernels as kernels

        self._k = kernels
        self.block = kernels.BLOCK
        self.simulator = kernels.SIMULATOR
        dev = cuda.get_current_device()
        # Device attributes (CU_DEVICE_ATTRIBUTE_*). The simulated device has none: it is
        # taken as one multiprocessor holding _SIM_THREADS_PER_SM threads.
        sms = getattr(dev, "MULTIPROCESSOR_COUNT", None)
        if sms:
            per_sm = getattr(dev, "MAX_THREADS_PER_MULTIPROCESSOR", None) or 2048
        else:
            sms, per_sm = 1, _SIM_THREADS_PER_SM
        #: Blocks in one full wave of the device: the cap of every grid-stride launch.
        self.max_blocks = int(sms) * max(1, int(per_sm) // self.block)
        self._empty: dict = {}

    # ------------------------------------------------------------------ launch configuration
    def grid_for(self, n: int) -> int:
        """Blocks for a grid-stride loop over n elements: enough for one element per thread,
        at most one full wave of the device."""
        return max(1, min(-(-n // self.block), self.max_blocks))

    def row_chunks(self, rows: int, n: int) -> tuple[int, int]:
        """(chunks per row, chunk length) for the row reductions: whole rows when there are
        enough of them to fill the device, else each row cut into chunks of whole blocks."""
        most = -(-n // (self.block * _MIN_ITEMS_PER_THREAD))
        nch = max(1, min(most, self.max_blocks // max(rows, 1)))
        ch = -(-n // nch)
        ch = -(-ch // self.block) * self.block
        return -(-n // ch), ch

    def synchronize(self) -> None:
        """Wait for every kernel launched so far (for timing)."""
        cuda.synchronize()

    def _launch(self, kernel, n: int):
        return kernel[self.grid_for(n), self.block]

    def _empty_like_dtype(self, dtype):
        key = np.dtype(dtype)
        a = self._empty.get(key)
        if a is None:
            a = self._empty[key] = cuda.device_array(0, dtype=key)
        return a

    # ------------------------------------------------------------------ plumbing
    def as_param(self, p, name: str):
        if isinstance(p, np.ndarray):
            return super().as_param(p, name)
        if not _is_device_array(p):
            raise TypeError(f"{name} must be a NumPy array or a CUDA device array (an object "
                            f"with __cuda_array_interface__); got {type(p).__name__}")
        _, dtype = _shape_dtype(p)
        if dtype not in _FLOATS:
            raise ValueError(f"{name} must have dtype float32 or float64; got {dtype}")
        return p

    def check_grad(self, g, p, name: str, param_name: str) -> None:
        if not isinstance(g, np.ndarray) and not _is_device_array(g):
            raise TypeError(f"{name} must be a NumPy array, a CUDA device array or None; "
                            f"got {type(g).__name__}")
        gs, gd = _shape_dtype(g)
        ps, pd = _shape_dtype(p)
        if gs != ps:
            raise ValueError(f"{name} has shape {gs}; {param_name} has {ps}")
        if gd != pd:
            raise ValueError(f"{name} has dtype {gd}; {param_name} has {pd}")

    @_launches
    def zeros_like(self, p):
        shape, dtype = _shape_dtype(p)
        a = cuda.device_array(shape, dtype=dtype)
        if a.size:
            self._launch(self._k.fill_kernel, a.size)(a.reshape(a.size), dtype.type(0))
        return a

    def to_numpy(self, a) -> np.ndarray:
        if isinstance(a, np.ndarray):
            return np.array(a, copy=True)
        return _device_view(a).copy_to_host()

    def from_numpy(self, a: np.ndarray, like):
        _, dtype = _shape_dtype(like)
        return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))

    # ------------------------------------------------------------------ optimizers
    @_launches
    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step) -> None:
        _, dtype = _shape_dtype(param)
        dt = dtype.type
        has_mom = momentum != 0
        args = (dt(lr), dt(weight_decay), dt(momentum), dt(1.0 - dampening),
                weight_decay != 0, has_mom, bool(nesterov), bool(maximize), bool(first_step))
        p = _Staged(param)
        g = _grad_on_device(grad)
        if has_mom:
            b = _device_view(momentum_buffer)
            for pp, gg, bb in _flat_pieces(p.device, g, b):
                if pp.size:
                    self._launch(self._k.sgd_kernel, pp.size)(pp, gg, bb, *args)
        else:
            empty = self._empty_like_dtype(dtype)
            for pp, gg in _flat_pieces(p.device, g):
                if pp.size:
                    self._launch(self._k.sgd_kernel, pp.size)(pp, gg, empty, *args)
        p.finish()

    @_launches
    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step) -> None:
        _, dtype = _shape_dtype(param)
        dt = dtype.type
        s = adam_scalars(lr, beta1, beta2, step, weight_decay, decoupled)
        coupled = (not decoupled) and weight_decay != 0
        decay_on = bool(decoupled) and s.decay_factor != 1.0
        args = (dt(s.step_size), dt(s.bias_correction2_sqrt), dt(beta1), dt(s.one_minus_beta1),
                dt(beta2), dt(s.one_minus_beta2), dt(eps), dt(weight_decay), dt(s.decay_factor),
                coupled, decay_on, bool(amsgrad), bool(maximize))
        p = _Staged(param)
        g = _grad_on_device(grad)
        m = _device_view(exp_avg)
        v = _device_view(exp_avg_sq)
        kernel = self._k.adam_kernel
        if amsgrad:
            vmax = _device_view(max_exp_avg_sq)
            for pp, gg, mm, vv, vx in _flat_pieces(p.device, g, m, v, vmax):
                if pp.size:
                    self._launch(kernel, pp.size)(pp, gg, mm, vv, vx, *args)
        else:
            empty = self._empty_like_dtype(dtype)
            for pp, gg, mm, vv in _flat_pieces(p.device, g, m, v):
                if pp.size:
                    self._launch(kernel, pp.size)(pp, gg, mm, vv, empty, *args)
        p.finish()

    @_launches
    def sum_squares(self, x) -> float:
        if isinstance(x, np.ndarray):
            pieces = [cuda.to_device(np.ascontiguousarray(x).reshape(-1))]
        else:
            pieces = [piece for (piece,) in _flat_pieces(_device_view(x))]
        k = self._k
        total = 0.0
        for piece in pieces:
            if piece.size:
                grid = self.grid_for(piece.size)
                part = cuda.device_array(grid, dtype=np.float64)
                k.sum_squares_kernel[grid, self.block, 0, k.SHARED_SUM](piece, part)
                out = cuda.device_array(1, dtype=np.float64)
                k.sum_kernel[1, self.block, 0, k.SHARED_SUM](part, out)
                total += float(out.copy_to_host()[0])
        return total

    @_launches
    def scale_(self, x, factor) -> None:
        staged = _Staged(x)
        f = np.dtype(staged.device.dtype).type(factor)
        for (piece,) in _flat_pieces(staged.device):
            if piece.size:
                self._launch(self._k.scale_kernel, piece.size)(piece, f)
        staged.finish()

    @_launches
    def cosine_schedule(self, steps, total_steps, lr_max, lr_min) -> np.ndarray:
        host = np.ascontiguousarray(steps, dtype=np.float64).reshape(-1)
        if host.size == 0:
            return np.empty(0)
        d_steps = cuda.to_device(host)
        out = cuda.device_array(host.size, dtype=np.float64)
        self._launch(self._k.cosine_kernel, host.size)(
            d_steps, float(total_steps), float(lr_max), float(lr_min), out)
        return out.copy_to_host()

    # ------------------------------------------------------------------ information
    def _rows(self, mode, dp, dq, sums=None, status=None):
        """Launch the two passes of a row reduction; (values, status, totals) on the device."""
        k = self._k
        rows, n = dp.shape
        nch, ch = self.row_chunks(rows, n)
        part = cuda.device_array((rows, nch, k.NQ), dtype=np.float64)
        if sums is None:
            sums = self._empty_sums()
        grid = max(1, min(rows * nch, self.max_blocks))
        k.rows_partials[grid, self.block, 0, k.SHARED_ROWS](dp, dq, sums, mode, nch, ch, part)
        tot = cuda.device_array((rows, k.NQ), dtype=np.float64)
        values = cuda.device_array(rows, dtype=np.float64)
        if status is None:
            status = cuda.device_array(rows, dtype=np.int8)
        self._launch(k.rows_finish, rows)(part, mode, tot, values, status)
        return values, status, tot

    def _empty_sums(self):
        a = self._empty.get("sums")
        if a is None:
            a = self._empty["sums"] = cuda.device_array((1, 2), dtype=np.float64)
        return a

    @staticmethod
    def _host_rows(values, status):
        return values.copy_to_host(), status.copy_to_host()

    @staticmethod
    def _no_rows():
        return np.empty(0), np.empty(0, dtype=np.int8)

    @_launches
    def entropy_rows(self, p):
        if p.shape[0] == 0:
            return self._no_rows()
        d = cuda.to_device(np.ascontiguousarray(p))
        values, status, _ = self._rows(self._k.MODE_ENTROPY, d, d)
        return self._host_rows(values, status)

    def _pq(self, mode, p, q):
        if p.shape[0] == 0:
            return self._no_rows()
        dp = cuda.to_device(np.ascontiguousarray(p))
        dq = cuda.to_device(np.ascontiguousarray(q))
        values, status, _ = self._rows(mode, dp, dq)
        return self._host_rows(values, status)

    @_launches
    def cross_entropy_rows(self, p, q):
        return self._pq(self._k.MODE_CE, p, q)

    @_launches
    def kl_divergence_rows(self, p, q):
        return self._pq(self._k.MODE_KL, p, q)

    @_launches
    def js_divergence_rows(self, p, q):
        if p.shape[0] == 0:
            return self._no_rows()
        k = self._k
        dp = cuda.to_device(np.ascontiguousarray(p))
        dq = cuda.to_device(np.ascontiguousarray(q))
        _, status, sums = self._rows(k.MODE_JS_SUMS, dp, dq)
        values, status, _ = self._rows(k.MODE_JS_TERMS, dp, dq, sums=sums, status=status)
        return self._host_rows(values, status)

    def _joint_terms(self, joint):
        """(S, A, R, C, status): sum, sum j log j, the same over row sums and column sums."""
        k = self._k
        d = cuda.to_device(np.ascontiguousarray(joint))
        rows, cols = d.shape
        _, _, tot = self._rows(k.MODE_ENTROPY, d, d)
        col = cuda.device_array(cols, dtype=np.float64)
        self._launch(k.column_sums, cols)(d, col)
        out = cuda.device_array(k.NQ, dtype=np.float64)
        k.joint_finish[1, self.block, 0, k.SHARED_ROWS](tot, col, out)
        s, a, rr, cc, neg = (float(v) for v in out.copy_to_host())
        if neg > 0 or not math.isfinite(s):
            return s, a, rr, cc, k.STATUS_P_INVALID
        if s == 0.0:
            return s, a, rr, cc, k.STATUS_P_ZERO_SUM
        return s, a, rr, cc, k.STATUS_OK

    @_launches
    def mutual_information(self, joint):
        s, a, rr, cc, status = self._joint_terms(joint)
        if status:
            return 0.0, int(status)
        return max((a + s * math.log(s) - rr - cc) / s, 0.0), 0

    @_launches
    def conditional_entropy(self, joint):
        s, a, rr, _, status = self._joint_terms(joint)
        if status:
            return 0.0, int(status)
        return max((rr - a) / s, 0.0), 0

    def _softmax(self, x, temperature, out, log: bool) -> None:
        rows = x.shape[0]
        if out.size == 0:
            return
        d = cuda.to_device(np.ascontiguousarray(x))
        d_out = cuda.device_array(x.shape, dtype=x.dtype)
        grid = max(1, min(rows, self.max_blocks))  # one block per row, grid-stride over rows
        k = self._k
        launch = k.softmax_kernel[grid, self.block, 0, k.SHARED_ONLINE]
        launch(d, float(temperature), bool(log), d_out)
        d_out.copy_to_host(out)

    @_launches
    def softmax_rows(self, x, temperature, out) -> None:
        self._softmax(x, temperature, out, False)

    @_launches
    def log_softmax_rows(self, x, temperature, out) -> None:
        self._softmax(x, temperature, out, True)

    @_launches
    def cross_entropy_logits_rows(self, logits, targets, ignore_index,
                                  label_smoothing) -> np.ndarray:
        rows = logits.shape[0]
        if rows == 0:
            return np.empty(0)
        d = cuda.to_device(np.ascontiguousarray(logits))
        d_t = cuda.to_device(np.ascontiguousarray(targets, dtype=np.int64))
        losses = cuda.device_array(rows, dtype=np.float64)
        grid = max(1, min(rows, self.max_blocks))
        k = self._k
        launch = k.ce_logits_kernel[grid, self.block, 0, k.SHARED_ONLINE]
        launch(d, d_t, int(ignore_index), float(label_smoothing), losses)
        return losses.copy_to_host()

    def _elementwise_out(self, kernel, out, *inputs) -> None:
        if out.size == 0:
            return
        flat = [cuda.to_device(np.ascontiguousarray(a).reshape(-1)) for a in inputs]
        d_out = cuda.device_array(out.size, dtype=out.dtype)
        self._launch(kernel, out.size)(*flat, d_out)
        d_out.copy_to_host(out.reshape(-1))

    @_launches
    def gaussian_kl(self, mu1, sigma1, mu2, sigma2, out) -> None:
        self._elementwise_out(self._k.gaussian_kl_kernel, out, mu1, sigma1, mu2, sigma2)

    @_launches
    def gaussian_entropy(self, sigma, out) -> None:
        self._elementwise_out(self._k.gaussian_entropy_kernel, out, sigma)
