"""Targets that compute on a GPU, as the benchmarks see them: how their inputs are put on the
device, how they are timed, and what moving the inputs costs.

Two libraries put data on a CUDA device here: numba-cuda for the ``cuda`` backend and torch for
the ``torch.cuda.*`` peers. :class:`Device` is the little of each that the runner and the
workload cases need, so neither has to know which one it holds.

The ``cuda`` backend takes optimizer params and grads as device arrays and updates them in
place, and its information functions read device arrays where they are given, so optimizer
and information cases alike give it device-resident inputs, made once before the timing: the
kernels are timed, not the transfers. A timed information call still brings its small
results (reduced values, per-row losses) back to the host, as a user's call does; outputs as
large as the input (softmax) stay on the device. Only the host-side cosine schedule takes
NumPy input. For every device target the runner also measures the host-to-device and
device-to-host copies of the case's inputs on their own (:func:`measure_transfers`), so a
reader can see what those transfers cost beside the kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kernbench.bench import peers as pr
from kernbench.bench.timing import EventClock

#: Repeats of each transfer measurement; the best is kept.
TRANSFER_REPEATS = 3


@dataclass(frozen=True)
class Device:
    """One library's view of a CUDA device."""

    name: str  # the device kind: "cuda"
    library: str  # "numba" or "torch"
    to_device: Callable[[np.ndarray], object]  # a device copy of a NumPy array
    to_host: Callable[[object], np.ndarray]  # a NumPy copy of a device array
    copy_into: Callable[[object, object], None]  # (device dst, host or device src)
    copy_out: Callable[[object, np.ndarray], None]  # (device src, NumPy dst)
    synchronize: Callable[[], None]
    clock: EventClock


def numba_device() -> Device:
    """The device of the ``cuda`` backend (a real GPU, or numba's simulator)."""
    import kernbench as kb

    backend = kb.get_backend("cuda")  # raises when it cannot run here
    from numba import cuda

    return Device(
        name="cuda", library="numba",
        to_device=lambda a: cuda.to_device(np.ascontiguousarray(a)),
        to_host=lambda d: d.copy_to_host(),
        copy_into=lambda dst, src: dst.copy_to_device(src),
        copy_out=lambda src, dst: src.copy_to_host(dst),
        synchronize=cuda.synchronize,
        clock=EventClock(cuda.event, simulated=bool(backend.simulator)))


def torch_device() -> Device:
    """torch's current CUDA device (for the ``torch.cuda.*`` peers)."""
    torch = pr.torch()

    def to_device(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to("cuda")

    def copy_out(src, dst):
        torch.from_numpy(dst).copy_(src)

    return Device(
        name="cuda", library="torch", to_device=to_device,
        to_host=lambda d: d.detach().cpu().numpy(),
        copy_into=lambda dst, src: dst.copy_(pr.to_torch(src)),
        copy_out=copy_out,
        synchronize=torch.cuda.synchronize,
        clock=EventClock(lambda: torch.cuda.Event(enable_timing=True)))


#: Backends that compute on a device, by name.
DEVICE_BACKENDS = {"cuda": numba_device}


def device_for(target: str, is_peer: bool) -> Device | None:
    """The device a target computes on, or None for a host target (NumPy, numba, CPU torch).

    Call only for a target that can run here: the runner asks after checking availability.
    """
    if is_peer:
        return torch_device() if pr.peer_device(target) == "cuda" else None
    make = DEVICE_BACKENDS.get(target)
    return make() if make else None


def measure_transfers(device: Device, arrays: Sequence[np.ndarray],
                      repeats: int = TRANSFER_REPEATS) -> dict:
    """Seconds to copy ``arrays`` host-to-device and back, by the device's clock, best of
    ``repeats``; device and host buffers are allocated before the timing."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    host = [np.ascontiguousarray(a) for a in arrays]
    nbytes = int(sum(a.nbytes for a in host))
    placed = [device.to_device(a) for a in host]
    back = [np.empty_like(a) for a in host]

    def host_to_device():
        for d, a in zip(placed, host):
            device.copy_into(d, a)

    def device_to_host():
        for d, b in zip(placed, back):
            device.copy_out(d, b)

    device.synchronize()
    h2d = min(device.clock.time_calls(host_to_device, 1) for _ in range(repeats))
    d2h = min(device.clock.time_calls(device_to_host, 1) for _ in range(repeats))
    return {"bytes": nbytes, "arrays": len(host), "host_to_device_s": h2d,
            "device_to_host_s": d2h, "library": device.library, "timer": device.clock.timer,
            "statistic": f"best of {repeats}"}
