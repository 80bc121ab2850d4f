"""The ``cuda`` backend: ``@cuda.jit`` kernels (package ``numba-cuda``), on an NVIDIA GPU or,
for tests, on Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is first
imported).

This module is the host side: availability, launch configuration, transfers and
synchronisation. The views of device arrays that its array hooks make are in
:mod:`kernbench.backends._cuda_views`; the kernels live in
:mod:`kernbench.backends._cuda_kernels`, imported only once the backend is known to run here.
Importing this module never fails, with or without numba-cuda.

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
* Information functions compute on device arrays where they are given (float32 or float64;
  targets int64), reading them in place: ``as_array`` and the other array hooks of
  :class:`~kernbench.backends.interface.Backend` make views of the caller's memory, never copies.

  - Reductions (entropy, divergences, per-row losses of ``cross_entropy_logits``, mutual
    information) bring back only their small results, as NumPy values, as for NumPy input.
  - Outputs as large as the input (``softmax``, ``log_softmax``, the Gaussians) stay on the
    device, in the caller's kind of array: a torch tensor for a torch tensor, a CuPy array for
    a CuPy array, else a Numba device array; each shares the memory the kernel wrote.
  - The reduced axis may be any axis that, together with the others, the kernels can walk as
    2-D rows without a copy: always the last axis of a C-contiguous array, and also 1-D
    views, row slices, transposed 2-D arrays. Other layouts raise ValueError naming the
    argument, as do negative strides, other dtypes, device arrays of different dtypes and
    host arrays beside device ones. Only Python scalars (and 0-d arrays) may stay on the host
    beside device arrays (``gaussian_kl(mu, sigma, 0.0, 1.0)``); they take the device
    arrays' dtype. Targets may be host or device arrays.
  - Argument checks that need the data run on the device before the computing kernel: the
    targets' range (``targets_partials``), sigma > 0 (``count_not_positive_kernel``). Only
    their counts come back; the data is copied to the host only to name the first bad entry
    of a call that then raises.

  NumPy inputs are copied in on every call and results back (the slow path).

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

from kernbench._hyper import adam_kernel_args
from kernbench.backends import _cuda_views as V
from kernbench.backends import _finals
from kernbench.backends._cuda_views import IMPORT_ERROR, cuda
from kernbench.backends.interface import STATUS_OK, Backend

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


class CudaBackend(Backend):
    name = "cuda"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("numba_cuda") is None:
            return f"numba-cuda is not installed; {_INSTALL_HINT} to add it"
        if cuda is None:
            return f"numba-cuda cannot be imported ({IMPORT_ERROR}); {_INSTALL_HINT}"
        if _simulator():
            return None
        try:
            ok = bool(cuda.is_available())
        except Exception:
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
        if not V.is_device_array(p):
            raise TypeError(f"{name} must be a NumPy array or a CUDA device array (an object "
                            f"with __cuda_array_interface__); got {type(p).__name__}")
        _, dtype = V.shape_dtype(p)
        if dtype not in _FLOATS:
            raise ValueError(f"{name} must have dtype float32 or float64; got {dtype}")
        return p

    def check_grad(self, g, p, name: str, param_name: str) -> None:
        if not isinstance(g, np.ndarray) and not V.is_device_array(g):
            raise TypeError(f"{name} must be a NumPy array, a CUDA device array or None; "
                            f"got {type(g).__name__}")
        gs, gd = V.shape_dtype(g)
        ps, pd = V.shape_dtype(p)
        if gs != ps:
            raise ValueError(f"{name} has shape {gs}; {param_name} has {ps}")
        if gd != pd:
            raise ValueError(f"{name} has dtype {gd}; {param_name} has {pd}")

    @_launches
    def zeros_like(self, p):
        shape, dtype = V.shape_dtype(p)
        a = cuda.device_array(shape, dtype=dtype)
        if a.size:
            self._launch(self._k.fill_kernel, a.size)(a.reshape(a.size), dtype.type(0))
        return a

    def to_numpy(self, a) -> np.ndarray:
        if isinstance(a, np.ndarray):
            return np.array(a, copy=True)
        return V.device_view(a).copy_to_host()

    def from_numpy(self, a: np.ndarray, like):
        _, dtype = V.shape_dtype(like)
        return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))

    # ------------------------------------------------------------------ information inputs
    def as_array(self, x, name: str):
        if not V.is_device_array(x):
            return super().as_array(x, name)
        d = V.device_view(x)
        dtype = np.dtype(d.dtype)
        if dtype not in _FLOATS:
            raise ValueError(f"{name} is a device array of dtype {dtype}; device arrays must "
                             "be float32 or float64 (cast it on the device)")
        if any(n > 1 and s < 0 for n, s in zip(d.shape, d.strides)):
            raise ValueError(f"{name} is a device array with negative strides "
                             f"{tuple(d.strides)}; pass one with non-negative strides")
        return d

    def output_for(self, shape, dtype, *inputs):
        if any(V.is_device_array(a) for a in inputs):
            return cuda.device_array(shape, dtype=dtype)
        return super().output_for(shape, dtype, *inputs)

    def common_float(self, arrays):
        on_device = [k for k, a in arrays.items() if V.is_device_array(a)]
        if not on_device:
            return super().common_float(arrays)
        views = {k: self.as_array(arrays[k], k) for k in on_device}
        dtypes = {np.dtype(d.dtype) for d in views.values()}
        if len(dtypes) > 1:
            listing = ", ".join(f"{k} {np.dtype(d.dtype)}" for k, d in views.items())
            raise ValueError(f"device arrays must share one dtype; got {listing}")
        dtype = dtypes.pop()
        converted = {}
        for k, a in arrays.items():
            if k in views:
                converted[k] = views[k]
                continue
            host = super().as_array(a, k)
            if host.ndim != 0:
                raise ValueError(
                    f"{k} is a host array of shape {host.shape} beside the device array "
                    f"{on_device[0]}; put it on the device too (only scalars may stay on the "
                    "host)")
            converted[k] = cuda.to_device(host.astype(dtype))
        return converted, dtype

    def as_rows(self, a, axis, name):
        if isinstance(a, np.ndarray):
            return super().as_rows(a, axis, name)
        shape, strides = tuple(a.shape), tuple(a.strides)
        n, col = shape[axis], strides[axis]
        lead = shape[:axis] + shape[axis + 1:]
        row = V.one_stride(lead, strides[:axis] + strides[axis + 1:], n * col)
        if row is None:
            raise ValueError(
                f"{name} is a device array (shape {shape}, strides {strides}) whose slices "
                f"along axis {axis} cannot be read as rows without a copy; pass it "
                "C-contiguous with that axis last")
        return V.view(a, (math.prod(lead), n), (row, col)), lead

    def from_rows(self, out, shape, axis):
        if isinstance(out, np.ndarray):
            return super().from_rows(out, shape, axis)
        moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
        c = V.c_strides(moved, np.dtype(out.dtype).itemsize)
        return V.view(out, shape, c[:axis] + (c[-1],) + c[axis:-1])

    def deliver(self, out, *inputs):
        if isinstance(out, np.ndarray):
            return out
        for x in inputs:
            if V.is_device_array(x):
                return V.like_input(out, x)
        return out

    def broadcast_to(self, a, shape, name):
        if isinstance(a, np.ndarray):
            return super().broadcast_to(a, shape, name)
        if tuple(a.shape) == shape:
            if V.one_stride(shape, tuple(a.strides), 0) is None:
                raise ValueError(f"{name} is a device array (shape {shape}, strides "
                                 f"{tuple(a.strides)}) that an elementwise kernel cannot "
                                 "read without a copy; pass it C-contiguous")
            return a
        if a.size == 1:
            return V.view(a, shape, (0,) * len(shape))
        raise ValueError(f"{name} is a device array of shape {tuple(a.shape)}; on the device "
                         f"every argument must have the broadcast shape {shape} or be a "
                         "single value")

    @_launches
    def first_not_positive(self, a):
        if isinstance(a, np.ndarray):
            return super().first_not_positive(a)
        flat = V.flat(a)
        if flat.size == 0:
            return None
        k = self._k
        grid = self.grid_for(flat.size)
        part = cuda.device_array(grid, dtype=np.float64)
        k.count_not_positive_kernel[grid, self.block, 0, k.SHARED_SUM](flat, part)
        count = cuda.device_array(1, dtype=np.float64)
        k.sum_kernel[1, self.block, 0, k.SHARED_SUM](part, count)
        if count.copy_to_host()[0] == 0:
            return None
        host = flat.copy_to_host()  # only on the error path, to name the value
        return float(host[host <= 0][0])

    @_launches
    def as_targets(self, targets, n_rows, n_classes, ignore_index):
        if not V.is_device_array(targets):
            return super().as_targets(targets, n_rows, n_classes, ignore_index)
        from kernbench._validate import class_targets, integer_scalar

        t = V.device_view(targets)
        if np.dtype(t.dtype) != np.int64:
            raise ValueError(f"targets is a device array of dtype {np.dtype(t.dtype)}; on the "
                             "device targets must be int64 (as torch's class indices are)")
        if tuple(t.shape) != (n_rows,):
            raise ValueError(f"targets must have shape ({n_rows},) to match logits; got "
                             f"{tuple(t.shape)}")
        if n_rows > 1 and t.strides[0] < 0:
            raise ValueError(f"targets is a device array with a negative stride "
                             f"{t.strides[0]}; pass one with a non-negative stride")
        ignore = integer_scalar(ignore_index, "ignore_index")
        if n_rows == 0:
            return t, ignore, 0
        k = self._k
        grid = self.grid_for(n_rows)
        part = cuda.device_array((2, grid), dtype=np.float64)
        k.targets_partials[grid, self.block, 0, k.SHARED_PAIR](t, ignore, n_classes, part)
        counts = cuda.device_array(2, dtype=np.float64)
        for i in range(2):
            k.sum_kernel[1, self.block, 0, k.SHARED_SUM](part[i], counts[i:i + 1])
        bad, kept = counts.copy_to_host()
        if bad > 0:  # the host check names the first bad target, and raises
            class_targets(t.copy_to_host(), n_rows, n_classes, ignore)
            raise AssertionError("the device found an invalid target that the host did not")
        return t, ignore, int(kept)

    # ------------------------------------------------------------------ optimizers
    @_launches
    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step) -> tuple:
        _, dtype = V.shape_dtype(param)
        dt = dtype.type
        has_mom = momentum != 0
        args = (dt(lr), dt(weight_decay), dt(momentum), dt(1.0 - dampening),
                weight_decay != 0, has_mom, bool(nesterov), bool(maximize), bool(first_step))
        p = V.Staged(param)
        g = V.grad_on_device(grad)
        if has_mom:
            b = V.device_view(momentum_buffer)
            for pp, gg, bb in V.flat_pieces(p.device, g, b):
                if pp.size:
                    self._launch(self._k.sgd_kernel, pp.size)(pp, gg, bb, *args)
        else:
            empty = self._empty_like_dtype(dtype)
            for pp, gg in V.flat_pieces(p.device, g):
                if pp.size:
                    self._launch(self._k.sgd_kernel, pp.size)(pp, gg, empty, *args)
        p.finish()
        return param, momentum_buffer

    @_launches
    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step) -> tuple:
        _, dtype = V.shape_dtype(param)
        dt = dtype.type
        scalars, flags = adam_kernel_args(lr, beta1, beta2, eps, weight_decay, decoupled,
                                          amsgrad, maximize, step)
        args = tuple(dt(x) for x in scalars) + flags
        p = V.Staged(param)
        g = V.grad_on_device(grad)
        m = V.device_view(exp_avg)
        v = V.device_view(exp_avg_sq)
        kernel = self._k.adam_kernel
        if amsgrad:
            vmax = V.device_view(max_exp_avg_sq)
            for pp, gg, mm, vv, vx in V.flat_pieces(p.device, g, m, v, vmax):
                if pp.size:
                    self._launch(kernel, pp.size)(pp, gg, mm, vv, vx, *args)
        else:
            empty = self._empty_like_dtype(dtype)
            for pp, gg, mm, vv in V.flat_pieces(p.device, g, m, v):
                if pp.size:
                    self._launch(kernel, pp.size)(pp, gg, mm, vv, empty, *args)
        p.finish()
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    @_launches
    def sum_squares(self, x) -> float:
        if isinstance(x, np.ndarray):
            pieces = [cuda.to_device(np.ascontiguousarray(x).reshape(-1))]
        else:
            pieces = [piece for (piece,) in V.flat_pieces(V.device_view(x))]
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
    def scale_(self, x, factor):
        staged = V.Staged(x)
        f = np.dtype(staged.device.dtype).type(factor)
        for (piece,) in V.flat_pieces(staged.device):
            if piece.size:
                self._launch(self._k.scale_kernel, piece.size)(piece, f)
        staged.finish()
        return x

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
    def _device(a):
        """An information input on the device: a device array (the caller's memory, shaped
        by the hooks above) as it is, a NumPy array copied in (the slow path)."""
        if isinstance(a, np.ndarray):
            return cuda.to_device(np.ascontiguousarray(a))
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
        k = self._k
        d = self._device(p)
        values, status, tot = self._rows(k.MODE_ENTROPY, d, d)
        return self._second_pass(k.MODE_ENTROPY_SCALED, d, d, values, status, tot)

    def _second_pass(self, mode, dp, dq, values, status, tot):
        """Host (values, status), the rows whose first value is not finite while valid (an
        overflow, or a true +inf of CE and KL) computed again by the contract's second pass in
        ``mode``. The first pass's totals (S or Sp, Sq first) serve as its sums on the device,
        so nothing is copied in; every row is computed again, and the others are not used."""
        d_status = status
        values, status = self._host_rows(values, status)
        redo = (status == STATUS_OK) & ~np.isfinite(values)
        if redo.any():
            again, _, _ = self._rows(mode, dp, dq, sums=tot, status=d_status)
            values[redo] = again.copy_to_host()[redo]
        return values, status

    def _pq(self, mode, scaled, p, q):
        if p.shape[0] == 0:
            return self._no_rows()
        dp, dq = self._device(p), self._device(q)
        values, status, tot = self._rows(mode, dp, dq)
        return self._second_pass(scaled, dp, dq, values, status, tot)

    @_launches
    def cross_entropy_rows(self, p, q):
        return self._pq(self._k.MODE_CE, self._k.MODE_CE_SCALED, p, q)

    @_launches
    def kl_divergence_rows(self, p, q):
        return self._pq(self._k.MODE_KL, self._k.MODE_KL_SCALED, p, q)

    @_launches
    def js_divergence_rows(self, p, q):
        if p.shape[0] == 0:
            return self._no_rows()
        k = self._k
        dp, dq = self._device(p), self._device(q)
        _, status, sums = self._rows(k.MODE_JS_SUMS, dp, dq)
        values, status, _ = self._rows(k.MODE_JS_TERMS, dp, dq, sums=sums, status=status)
        return self._host_rows(values, status)

    def _joint_terms(self, joint, scale=None):
        """(S, A, R, C, status): sum, sum j log j, the same over row sums and column sums.

        With ``scale`` (S, from a first pass that overflowed): (S, A', R', C', status) of the
        contract's second pass, over j / S, r / S and c / S.
        """
        k = self._k
        d = self._device(joint)
        rows, cols = d.shape
        if scale is None:
            _, _, tot = self._rows(k.MODE_ENTROPY, d, d)
        else:
            sums = cuda.to_device(np.full((rows, 2), (scale, 1.0)))
            status = cuda.to_device(np.zeros(rows, dtype=np.int8))
            _, _, tot = self._rows(k.MODE_ENTROPY_SCALED, d, d, sums=sums, status=status)
        col = cuda.device_array(cols, dtype=np.float64)
        self._launch(k.column_sums, cols)(d, col)
        out = cuda.device_array(k.NQ, dtype=np.float64)
        k.joint_finish[1, self.block, 0, k.SHARED_ROWS](tot, col, 1.0 if scale is None
                                                         else float(scale), out)
        s, a, rr, cc, neg = (float(v) for v in out.copy_to_host())
        return s, a, rr, cc, _finals.joint_status(neg, s)

    def _joint_scaled_terms(self, joint, s):
        """(A', R', C') of the contract's second pass over a table of sum s."""
        return self._joint_terms(joint, scale=s)[1:4]

    @_launches
    def mutual_information(self, joint):
        s, a, rr, cc, status = self._joint_terms(joint)
        return _finals.mutual_information(s, a, rr, cc, status,
                                          lambda: self._joint_scaled_terms(joint, s))

    @_launches
    def conditional_entropy(self, joint):
        s, a, rr, _, status = self._joint_terms(joint)
        return _finals.conditional_entropy(s, a, rr, status,
                                           lambda: self._joint_scaled_terms(joint, s))

    def _softmax(self, x, temperature, out, log: bool) -> None:
        rows = x.shape[0]
        if out.size == 0:
            return
        d = self._device(x)
        on_host = isinstance(out, np.ndarray)
        d_out = cuda.device_array(out.shape, dtype=out.dtype) if on_host else out
        grid = max(1, min(rows, self.max_blocks))  # one block per row, grid-stride over rows
        k = self._k
        launch = k.softmax_kernel[grid, self.block, 0, k.SHARED_ONLINE]
        launch(d, float(temperature), bool(log), d_out)
        if on_host:
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
        d = self._device(logits)
        d_t = self._device(np.asarray(targets, dtype=np.int64)
                           if isinstance(targets, np.ndarray) else targets)
        losses = cuda.device_array(rows, dtype=np.float64)
        grid = max(1, min(rows, self.max_blocks))
        k = self._k
        launch = k.ce_logits_kernel[grid, self.block, 0, k.SHARED_ONLINE]
        launch(d, d_t, int(ignore_index), float(label_smoothing), losses)
        return losses.copy_to_host()

    def _elementwise_out(self, kernel, out, *inputs) -> None:
        if out.size == 0:
            return
        flat = [cuda.to_device(np.ascontiguousarray(a).reshape(-1))
                if isinstance(a, np.ndarray) else V.flat(a) for a in inputs]
        on_host = isinstance(out, np.ndarray)
        d_out = cuda.device_array(out.size, dtype=out.dtype) if on_host else V.flat(out)
        self._launch(kernel, out.size)(*flat, d_out)
        if on_host:
            d_out.copy_to_host(out.reshape(-1))

    @_launches
    def gaussian_kl(self, mu1, sigma1, mu2, sigma2, out) -> None:
        self._elementwise_out(self._k.gaussian_kl_kernel, out, mu1, sigma1, mu2, sigma2)

    @_launches
    def gaussian_entropy(self, sigma, out) -> None:
        self._elementwise_out(self._k.gaussian_entropy_kernel, out, sigma)
