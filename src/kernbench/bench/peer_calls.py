"""Peer calls: the same computation as a workload, written with torch or scipy.

Each function takes a case's inputs (a dict of NumPy arrays, or of device arrays for a peer on
a GPU) and returns a prepared zero-argument callable doing one call. Conversions to torch
tensors happen here, once, outside the timed call (``from_numpy`` shares memory anyway).
Which peers a workload has, and whether they are installed, is :mod:`kernbench.bench.peers`'s
business; :mod:`kernbench.bench.workloads` pairs each workload with its peer calls.
"""

from __future__ import annotations

from kernbench.bench import peers as pr


def torch_entr_sum(inputs):
    torch, p = pr.torch(), pr.to_torch(inputs["p"])
    return lambda: torch.special.entr(p).sum()


def scipy_entropy(inputs):
    from scipy import stats
    p = inputs["p"]
    return lambda: stats.entropy(p)


def scipy_kl(inputs):
    from scipy import stats
    p, q = inputs["p"], inputs["q"]
    return lambda: stats.entropy(p, q)


def scipy_rel_entr_sum(inputs):
    from scipy import special
    p, q = inputs["p"], inputs["q"]
    return lambda: special.rel_entr(p, q).sum()


def scipy_js(inputs):
    from scipy.spatial import distance
    p, q = inputs["p"], inputs["q"]
    return lambda: distance.jensenshannon(p, q) ** 2


def torch_rowwise(fn_name):
    def make(inputs):
        torch, x = pr.torch(), pr.to_torch(inputs["logits"])
        fn = getattr(torch, fn_name)
        return lambda: fn(x, dim=-1)
    return make


def scipy_rowwise(fn_name):
    def make(inputs):
        from scipy import special
        x, fn = inputs["logits"], getattr(special, fn_name)
        return lambda: fn(x, axis=-1)
    return make


def torch_cross_entropy(exponentiate: bool):
    def make(inputs):
        torch = pr.torch()
        x, t = pr.to_torch(inputs["logits"]), pr.to_torch(inputs["targets"])
        loss = torch.nn.functional.cross_entropy
        if exponentiate:
            return lambda: torch.exp(loss(x, t))
        return lambda: loss(x, t)
    return make


def torch_gaussian_kl(inputs):
    torch = pr.torch()
    normal, kl = torch.distributions.Normal, torch.distributions.kl_divergence
    m1, s1, m2, s2 = (pr.to_torch(inputs[k]) for k in ("mu1", "sigma1", "mu2", "sigma2"))
    return lambda: kl(normal(m1, s1, validate_args=False), normal(m2, s2, validate_args=False))


def torch_gaussian_entropy(inputs):
    torch = pr.torch()
    s = pr.to_torch(inputs["sigma"])
    zero = torch.zeros((), dtype=s.dtype)
    return lambda: torch.distributions.Normal(zero, s, validate_args=False).entropy()
