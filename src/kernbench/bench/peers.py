"""Peers: what a user would pick instead of kernbench (torch, scipy), benchmarked beside it.

Peers are optional. Their libraries are imported lazily, on first use, so that the runner, the
asv suite and the pytest-benchmark suite work without them; a peer whose library is missing is
reported ``unavailable``, never an error.

A peer is named ``<library>.<variant>`` (``torch.fused``, ``scipy.stats``). Each workload in
:mod:`kernbench.bench.workloads` lists the peers that compute the same thing it does.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache


@lru_cache(maxsize=None)
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


def peer_available(peer_name: str) -> bool:
    return library_available(peer_library(peer_name))


def torch():
    """The torch module, imported on first use."""
    return importlib.import_module("torch")


def set_torch_threads(threads: int) -> None:
    """Give torch the same thread count as the compiled backends, when torch is installed."""
    if library_available("torch"):
        torch().set_num_threads(threads)


def to_torch(array):
    """A torch tensor sharing memory with a NumPy array (no copy, so no copy is timed)."""
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
