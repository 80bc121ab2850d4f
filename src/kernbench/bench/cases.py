"""Cases: one workload at one shape and dtype, its inputs made, callable on any target.

A :class:`Case` is what the runner and the benchmark suites time: ``call(target)`` hands back a
prepared zero-argument callable doing one call on a backend or a peer, ``check_value(target)``
what one call from pristine inputs computed (for validation), ``reset()`` restores inputs a
call mutates. Three kinds cover every workload of :mod:`kernbench.bench.workloads`:
:class:`FunctionCase` (a pure function of read-only inputs), :class:`OptimizerCase` (one
optimizer step) and :class:`ClipCase` (gradient clipping, which scales its grads in place).

A target that computes on a GPU gets its inputs on the device, copied there once before the
timing, wherever its API takes device arrays: optimizer params and grads and the arrays of the
information functions for the backend, every tensor for torch. See :mod:`kernbench.bench.device`.

Optimizer cases build the optimizer once per target; each call is one ``step``. Params and
moments therefore drift from repeat to repeat (a few hundred Adam steps at lr 1e-3 move no value
out of its normal range): this is accepted, since the work per step does not depend on the
values. Validation uses separate, fresh copies: one step from identical starting params.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kernbench import optim
from kernbench.backends import Backend, get_backend
from kernbench.bench import peers as pr
from kernbench.bench.device import Device, device_for

if TYPE_CHECKING:
    from kernbench.bench.workloads import Workload

Shape = tuple[int, ...]


class Case:
    """One workload at one shape and dtype, inputs made, callable on any backend or peer.

    ``call(target)`` returns a prepared zero-argument callable doing one call (the thing timed),
    warmed up by one call unless ``warm=False`` (the runner times that first call itself);
    ``check_value(target)`` runs one call from pristine inputs and returns what it computed, for
    validation against the numpy backend. ``reset()`` restores mutated inputs between repeats.
    A target is a backend name or one of the workload's peer names.
    """

    needs_reset = False
    #: calls a sample may make between two resets (each on inputs of its own); 1 unless the
    #: case holds several copies of what it mutates
    calls_per_reset = 1

    def __init__(self, workload: Workload, shape: Shape, dtype: np.dtype):
        self.workload = workload
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._devices: dict = {}

    def call(self, target: str, warm: bool = True,
             synchronize: bool = True) -> Callable[[], object]:
        """The prepared call; it waits for the target's device unless ``synchronize=False``
        (for a device clock, whose events bracket calls queued without waiting)."""
        fn = self._prepare_call(target)
        if synchronize:
            fn = synchronized(fn, self.synchronizer(target))
        if warm:
            fn()  # JIT compile or cache load, optimizer state allocation, torch lazy set-up
            self.reset()
        return fn

    def device(self, target: str) -> Device | None:
        """The device the target computes on; None for the host."""
        if target not in self._devices:
            self._devices[target] = device_for(target, self.is_peer(target))
        return self._devices[target]

    def synchronizer(self, target: str) -> Callable[[], None] | None:
        """What waits for the target's queued work (a GPU call returns before it is done)."""
        if self.is_peer(target):
            dev = self.device(target)
            return dev.synchronize if dev else None
        backend = get_backend(target)
        if type(backend).synchronize is Backend.synchronize:
            return None  # the contract's no-op: a host backend is done when its call returns
        return backend.synchronize

    def takes_device_inputs(self, target: str) -> bool:
        """Whether this case gives the target its inputs as device arrays (made before any
        call); by default a device target's are."""
        return self.device(target) is not None

    def placement(self, target: str) -> Device | None:
        """The device to put the target's inputs on, or None to pass NumPy arrays."""
        return self.device(target) if self.takes_device_inputs(target) else None

    def input_arrays(self) -> list[np.ndarray]:
        """The NumPy arrays a call reads: what a device target's inputs are copied from."""
        raise NotImplementedError

    def _prepare_call(self, target: str) -> Callable[[], object]:
        raise NotImplementedError

    def check_value(self, target: str) -> np.ndarray:
        raise NotImplementedError

    def reset(self) -> None:
        """Nothing to restore unless a call mutates its inputs (see ``needs_reset``)."""

    def is_peer(self, target: str) -> bool:
        return target in self.workload.peers


def synchronized(fn: Callable[[], object],
                 sync: Callable[[], None] | None) -> Callable[[], object]:
    """fn, then wait for the target's queued work (a GPU call returns before it is done); fn
    itself when there is nothing to wait for."""
    if sync is None:
        return fn

    def call_and_wait():
        result = fn()
        sync()
        return result
    return call_and_wait


def _is_device_value(value) -> bool:
    """A device array (a Numba device array or any __cuda_array_interface__ exporter)."""
    if isinstance(value, np.ndarray):
        return False
    return bool(getattr(value, "__cuda_ndarray__", False)) or hasattr(
        value, "__cuda_array_interface__")


class FunctionCase(Case):
    """A pure function of read-only inputs: ``api(**inputs, backend=name)``.

    ``device_inputs`` says whether the api takes device arrays from a backend that computes on
    a device (the information functions do; the host-side cosine schedule does not). A peer
    on a device always gets its tensors there.
    """

    def __init__(self, workload, shape, dtype, inputs: dict, api: Callable,
                 peer_calls: dict[str, Callable[[dict], Callable[[], object]]],
                 device_inputs: bool = True):
        super().__init__(workload, shape, dtype)
        self.inputs = inputs
        self._api = api
        self._peer_calls = peer_calls
        self._device_inputs = device_inputs
        self._placed: dict = {}

    def takes_device_inputs(self, target):
        if not (self._device_inputs or self.is_peer(target)):
            return False
        return self.device(target) is not None

    def input_arrays(self):
        return [v for v in self.inputs.values() if isinstance(v, np.ndarray)]

    def _inputs_for(self, target) -> dict:
        """The inputs as the target takes them: placed on its device once, then reused."""
        place = self.placement(target)
        if place is None:
            return self.inputs
        if target not in self._placed:
            self._placed[target] = {k: place.to_device(v) if isinstance(v, np.ndarray) else v
                                    for k, v in self.inputs.items()}
        return self._placed[target]

    def _prepare_call(self, target):
        if self.is_peer(target):
            return self._peer_calls[target](self._inputs_for(target))
        api, inputs = self._api, self._inputs_for(target)

        def one_call():
            return api(**inputs, backend=target)

        return one_call

    def check_value(self, target):
        value = self._prepare_call(target)()
        place = self.placement(target)
        if place is not None and not self.is_peer(target) and _is_device_value(value):
            value = place.to_host(value)  # an output the size of the input stays on the device
        return np.asarray(pr.to_numpy(value))


class OptimizerCase(Case):
    """One optimizer step over a list of params; each target gets its own copies of the params."""

    def __init__(self, workload, shape, dtype, params: list[np.ndarray], grads: list[np.ndarray],
                 make_optimizer: Callable, make_torch_optimizer: Callable | None):
        super().__init__(workload, shape, dtype)
        self.params = params
        self.grads = grads
        self._make_optimizer = make_optimizer
        self._make_torch_optimizer = make_torch_optimizer

    def input_arrays(self):
        return [*self.params, *self.grads]

    def _prepare(self, target):
        """(a callable doing one step, a callable giving the params as NumPy arrays), from
        fresh param copies (on the target's device when it takes device arrays)."""
        place = self.placement(target)
        if place is None:
            copies = [p.copy() for p in self.params]
            grads = self.grads
        else:
            copies = [place.to_device(p) for p in self.params]
            grads = [place.to_device(g) for g in self.grads]
        if self.is_peer(target):
            torch = pr.torch()
            tensors = [pr.to_torch(c) for c in copies]  # host ones share memory with ``copies``
            for t, g in zip(tensors, grads):
                t.grad = pr.to_torch(g)
            opt = self._make_torch_optimizer(tensors, **pr.optimizer_form(target))

            def torch_step():
                with torch.no_grad():
                    opt.step()

            if place is None:
                return torch_step, lambda: copies
            return torch_step, lambda: [place.to_host(t) for t in tensors]
        opt = self._make_optimizer(copies, target)

        def step():
            opt.step(grads)

        def current_params():
            # opt.params, not ``copies``: a backend may keep its newest params elsewhere (dask)
            return [opt.backend.to_numpy(p) for p in opt.params]

        return step, current_params

    def _prepare_call(self, target):
        return self._prepare(target)[0]

    def check_value(self, target):
        step, current_params = self._prepare(target)
        step()
        return np.concatenate([np.asarray(a).reshape(-1) for a in current_params()])


#: A clip_grad_norm case keeps this many bytes of copies of its grads at most (and at most
#: :data:`CLIP_MAX_COPIES` copies): a run of calls scales a copy each, and the copies scaled are
#: restored before the next run, outside the timed region; a sample is as many runs as fill it
#: (:func:`kernbench.bench.timing.time_sample`). One call per sample, as a reset between calls
#: would force, left 26 of 42 clip cases at 1e3-1e5 elements flagged noisy (a 6-80 us call
#: alone is at the mercy of one interrupt). 4 MiB of copies stay within the last-level cache
#: (32 MiB here) and were just written by the reset, as grads are just written by a backward
#: pass: the warm regime still describes them.
CLIP_COPY_BYTES = 4 * 2**20
CLIP_MAX_COPIES = 512


class ClipCase(Case):
    """clip_grad_norm scales the grads in place: they are restored before every run of calls,
    and a run of fast calls gives each call its own copy (``calls_per_reset`` of them)."""

    needs_reset = True

    def __init__(self, workload, shape, dtype, grads: list[np.ndarray], max_norm: float):
        super().__init__(workload, shape, dtype)
        self.pristine = grads
        nbytes = max(1, sum(g.nbytes for g in grads))
        self.calls_per_reset = int(max(1, min(CLIP_MAX_COPIES, CLIP_COPY_BYTES // nbytes)))
        self.copies = [[g.copy() for g in grads] for _ in range(self.calls_per_reset)]
        self.max_norm = max_norm
        # (device, copies of the grads a target scales, pristine, its call's cursor)
        self._device_work: list = []
        # per prepared host call: [index of the copy its next call scales]
        self._host_cursors: list = []

    def input_arrays(self):
        return list(self.pristine)

    def reset(self):
        """Restore the copies scaled since the last reset (copy 0 always: a call made once
        scales it untracked), no others: a sample of one call then finds its copy just
        written, as the grads of a backward pass are, not pushed out of L1 and L2 by the
        restores of copies it never touches."""
        used = max([c[0] for c in self._host_cursors], default=0)
        for work in self.copies[:max(1, used)]:
            for w, g in zip(work, self.pristine):
                np.copyto(w, g)
        for device, copies, pristine, cursor in self._device_work:
            for work in copies[:max(1, cursor[0])]:
                for w, g in zip(work, pristine):
                    device.copy_into(w, g)
        for cursor in self._host_cursors:
            cursor[0] = 0
        for *_, cursor in self._device_work:
            cursor[0] = 0

    def _prepare(self, target, kept: bool = True):
        """(a callable doing one clip, a callable giving the grads it scales as NumPy arrays).

        The callable scales copy 0 of the grads, then copy 1, ... in the order of its calls
        since the last ``reset()`` (a call made only once, ``kept=False``, has copy 0 alone).
        A target taking device arrays gets its own device copies, restored by ``reset()``
        from a device copy of the pristine grads.
        """
        copies, max_norm = (self.copies if kept else self.copies[:1]), self.max_norm
        place = self.placement(target)
        cursor = [0]
        if place is not None:
            copies = [[place.to_device(g) for g in self.pristine] for _ in copies]
            if kept:
                self._device_work.append((place, copies,
                                          [place.to_device(g) for g in self.pristine], cursor))
            current = lambda: [place.to_host(w) for w in copies[0]]  # noqa: E731
        else:
            if kept:
                self._host_cursors.append(cursor)
            current = lambda: copies[0]  # noqa: E731
        count = len(copies)

        def next_copy():
            i = cursor[0]
            cursor[0] = i + 1
            return i % count  # past the last copy (a calibration without resets): wrap

        if self.is_peer(target):
            torch = pr.torch()
            holders = []
            for work in copies:
                tensors = []
                for w in work:
                    grad = pr.to_torch(w)  # shares memory with the copy: reset() restores it
                    holder = torch.empty_like(grad)  # never written: clipping reads only .grad
                    holder.grad = grad
                    tensors.append(holder)
                holders.append(tensors)
            foreach = pr.TORCH_OPTIMIZER_FORMS[target].get("foreach", False)

            def torch_clip():
                return torch.nn.utils.clip_grad_norm_(holders[next_copy()], max_norm,
                                                      foreach=foreach)

            return torch_clip, current

        def clip():
            return optim.clip_grad_norm(copies[next_copy()], max_norm, backend=target)

        return clip, current

    def _prepare_call(self, target):
        return self._prepare(target)[0]

    def check_value(self, target):
        self.reset()
        clip, current = self._prepare(target, kept=False)
        norm = float(pr.to_numpy(clip()))
        value = np.concatenate([[norm]] + [np.asarray(w).reshape(-1).astype(np.float64)
                                           for w in current()])
        self.reset()
        return value
