"""Peers: which are available here, and the CUDA ones beside the cuda backend only."""

from __future__ import annotations

import pytest

from kernbench.bench import runner as rn
from kernbench.bench.results import validate_results
from kernbench.bench.workloads import WORKLOADS
from tests.bench.helpers import case_of, tiny_settings


def test_cuda_peers_stand_beside_the_cuda_backend_only(monkeypatch):
    from kernbench.bench import peers

    assert peers.peer_device("torch.cuda.fused") == "cuda"
    assert peers.peer_device("torch.fused") is None
    assert "torch.cuda.fused" in WORKLOADS["adam_step"].peers
    assert "torch.cuda.cross_entropy" in WORKLOADS["cross_entropy_logits"].peers
    monkeypatch.setattr(peers, "_torch_cuda_problem", lambda: "no CUDA device here")
    cpu_only = rn.run_benchmarks(tiny_settings(kernels=["adam_step"], backends=["numpy"],
                                               peers=True))
    assert not [c for c in cpu_only["cases"] if c["target"].startswith("torch.cuda.")]
    # with the cuda backend asked for, its peers are recorded, unavailable, never an error
    with_cuda = rn.run_benchmarks(tiny_settings(kernels=["adam_step"],
                                                backends=["numpy", "cuda"], peers=True))
    fused = case_of(with_cuda, "adam_step", "torch.cuda.fused")
    if peers.library_available("torch"):
        assert (fused["status"], fused["reason"]) == ("unavailable", "no CUDA device here")
    else:
        assert (fused["status"], fused["reason"]) == ("unavailable", "torch is not installed")
    validate_results(with_cuda)


def test_torch_without_cuda_says_so():
    from kernbench.bench import peers

    if not peers.library_available("torch"):
        pytest.skip("torch is not installed")
    if peers.torch().cuda.is_available():
        pytest.skip("torch has a CUDA device here")
    assert peers.peer_problem("torch.cuda.fused") == (
        "torch has no CUDA device here (torch.cuda.is_available() is False)")
    assert peers.peer_problem("torch.fused") is None
