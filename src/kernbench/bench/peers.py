"""Peers: what a user would pick instead of kernbench (torch, scipy), benchmarked beside it.

Peers are optional. Their libraries are imported lazily, on first use, so that the runner, the
asv suite and the pytest-benchmark suite work without them; a peer whose library is missing is
reported ``unavailable``, never an error.

A peer is named ``<library>.<variant>`` (``torch.fused``, ``scipy.stats``). Each workload in
:mod:`kernbench.bench.workloads` lists the peers that compute the same thing it does.

Peers named ``torch.cuda.<variant>`` compute on a CUDA GPU (torch's fused CUDA Adam, CUDA
cross-entropy): they stand beside the ``cuda`` backend, take CUDA tensors made before the timing,
and are ``unavailable`` where torch has no CUDA device.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache


@cache
def library_available(library: str) -> bool:
    """True when ``library`` can be imported here (checked without importing it)."""
    return importlib.util.find_spec(library) is not None


def library_version(library: str) -> str | None:
    """The installed version of ``library``, importing it; None when it is not installed."""
    if not library_available(library):
        return None
    try:
        module = importlib.import_module(library)
    except Exception:  # a broken install counts as missing
        return None
    return str(getattr(module, "__version__", "unknown"))


def peer_library(peer_name: str) -> str:
    """The library a peer needs: the part of its name before the first dot."""
    return peer_name.split(".", 1)[0]


#: Name prefix of the peers that compute on a CUDA device, and that device.
CUDA_PEER_PREFIX = "torch.cuda."


def peer_device(peer_name: str) -> str | None:
    """The device a peer computes on ("cuda"), or None for a host peer."""
    return "cuda" if peer_name.startswith(CUDA_PEER_PREFIX) else None


@cache
def _torch_cuda_problem() -> str | None:
    try:
        usable = bool(torch().cuda.is_available())
    except Exception as exc:
        return f"torch cannot reach CUDA ({type(exc).__name__}: {exc})"
    return None if usable else "torch has no CUDA device here (torch.cuda.is_available() is False)"


def peer_problem(peer_name: str) -> str | None:
    """Why a peer cannot run here (None when it can)."""
    library = peer_library(peer_name)
    if not library_available(library):
        return f"{library} is not installed"
    if peer_device(peer_name) == "cuda":
        return _torch_cuda_problem()
    return None


def peer_available(peer_name: str) -> bool:
    return peer_problem(peer_name) is None


def torch():
    """The torch module, imported on first use."""
    return importlib.import_module("torch")


def set_torch_threads(threads: int) -> None:
    """Give torch the same thread count as the compiled backends, when torch is installed."""
    if library_available("torch"):
        torch().set_num_threads(threads)


def to_torch(array):
    """A torch tensor sharing memory with a NumPy array (no copy, so no copy is timed); a
    tensor (a CUDA tensor made for a CUDA peer) is returned as it is."""
    if hasattr(array, "detach"):
        return array
    return torch().from_numpy(array)


def to_numpy(value):
    """A NumPy array (or scalar) from whatever a peer returned: tensor, NumPy or Python number."""
    import numpy as np

    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


#: The three forms of every torch.optim optimizer: a Python loop over tensors, the multi-tensor
#: ``_foreach`` kernels, and one fused C++ kernel per dtype group.
TORCH_OPTIMIZER_FORMS = {
    "torch.for-loop": {"foreach": False},
    "torch.foreach": {"foreach": True},
    "torch.fused": {"fused": True},
}
#: torch's fused optimizer kernel on CUDA tensors: the opponent of the cuda backend's steps.
TORCH_CUDA_OPTIMIZER_FORMS = {"torch.cuda.fused": {"fused": True}}


def optimizer_form(peer_name: str) -> dict:
    """The torch.optim keyword arguments of an optimizer peer."""
    return {**TORCH_OPTIMIZER_FORMS, **TORCH_CUDA_OPTIMIZER_FORMS}[peer_name]


def release_cuda_memory() -> None:
    """Give the CUDA memory torch keeps cached back to the device, once torch has used it (the
    cuda backend allocates from the same device, after the peers of the case before)."""
    import sys

    module = sys.modules.get("torch")
    if module is not None and module.cuda.is_initialized():
        module.cuda.empty_cache()
