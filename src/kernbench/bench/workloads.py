"""Workload records: one per kernel, the single source of truth for every benchmark suite.

The command-line runner (:mod:`kernbench.bench.runner`), the asv suite and the pytest-benchmark
suite all build their inputs and callables from :data:`WORKLOADS`, so the three measure exactly
the same thing.

A :class:`Workload` knows

* its size sweep (:meth:`Workload.sizes`): a geometric sweep over element counts, mapped to the
  shape its kernel takes (1-D vectors, (N, V) logits, n x n joint tables, one fixed model);
* how to make seeded inputs (:meth:`Workload.make`, returning a :class:`Case`);
* its argument roles: which arrays a call mutates (``mutates``) and whether they must be reset
  between repeats (``reset_between_repeats``);
* the bytes a call must move and the flops it does (:meth:`Workload.bytes_moved`,
  :meth:`Workload.flops`): compulsory traffic (each input read once, each output written once),
  with ``log``/``exp``/``sqrt``/division counted as one flop each;
* which peers (torch, scipy) compute the same thing.

Every call goes through the public API (:mod:`kernbench.optim`, :mod:`kernbench.info`) with
``backend=<name>``: that is what users call, so validation and shaping costs are included.

This module is the registry: the shapes, the records, their input makers. The prepared calls
are :mod:`kernbench.bench.cases`; the torch and scipy calls each peer makes are
:mod:`kernbench.bench.peer_calls`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kernbench import info, optim
from kernbench.bench import peer_calls as pc
from kernbench.bench import peers as pr
from kernbench.bench.cases import Case, ClipCase, FunctionCase, OptimizerCase, Shape

#: Element counts of the sweeps: one point per decade; ``gpu`` reaches the sizes where a GPU
#: is limited by its memory bandwidth rather than by launch and call overheads.
PRESET_ELEMENTS = {
    "quick": (10_000, 1_000_000),
    "full": (1_000, 10_000, 100_000, 1_000_000, 10_000_000),
    "gpu": (10_000, 1_000_000, 100_000_000),
}
#: The logits of a GPT-2 sized vocabulary for a batch of 64 tokens: a shape users meet.
GPT2_LOGITS: Shape = (64, 50257)
#: The same vocabulary for a batch of 4096 tokens (about 2e8 logits): a training step's loss.
GPT2_BATCH_LOGITS: Shape = (4096, 50257)
#: Shapes a preset adds for the workloads of one layout (key of SHAPE_MAPS).
PRESET_SHAPES: dict[str, dict[str, tuple[Shape, ...]]] = {
    "gpu": {"logits": (GPT2_BATCH_LOGITS,)},
}
#: Element count of the reference size: the loop -> vector -> compiled table reads this size.
REFERENCE_ELEMENTS = 1_000_000


# ---------------------------------------------------------------------------- shapes

def vector_shape(elements: int) -> Shape:
    return (max(1, int(elements)),)


def logits_shape(elements: int) -> Shape:
    """(N, V) with about ``elements`` entries: V grows up to GPT-2's 50257, then N grows."""
    n_classes = min(GPT2_LOGITS[1], max(16, int(elements) // GPT2_LOGITS[0]))
    return (max(1, int(elements) // n_classes), n_classes)


def joint_shape(elements: int) -> Shape:
    side = max(2, round(math.sqrt(int(elements))))
    return (side, side)


def transformer_shapes(vocab: int = 4096, width: int = 256, layers: int = 12,
                       context: int = 256) -> list[Shape]:
    """Parameter shapes of a small GPT-like transformer: 148 tensors, about 10.6M parameters.

    Token and position embeddings; per layer two layer norms (weight, bias), the fused qkv
    projection, the attention output projection and the two MLP matrices, each with its bias;
    a final layer norm. Many small tensors beside a few large ones: per-tensor overhead shows.
    """
    shapes: list[Shape] = [(vocab, width), (context, width)]
    for _ in range(layers):
        shapes += [(width,), (width,),                       # ln_1
                   (width, 3 * width), (3 * width,),         # attention qkv
                   (width, width), (width,),                 # attention output projection
                   (width,), (width,),                       # ln_2
                   (width, 4 * width), (4 * width,),         # mlp up
                   (4 * width, width), (width,)]             # mlp down
    shapes += [(width,), (width,)]                           # final layer norm
    return shapes


MODEL_SHAPES = transformer_shapes()
MODEL_ELEMENTS = sum(math.prod(s) for s in MODEL_SHAPES)

SHAPE_MAPS: dict[str, Callable[[int], Shape]] = {
    "vector": vector_shape,
    "logits": logits_shape,
    "joint": joint_shape,
    "model": lambda elements: (MODEL_ELEMENTS,),
}


def size_label(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


# ---------------------------------------------------------------------------- the record

@dataclass(frozen=True)
class Workload:
    """Everything a benchmark needs to know about one kernel."""

    name: str
    summary: str
    layout: str  # key of SHAPE_MAPS: how an element count becomes the kernel's input shape
    build: Callable[[Workload, Shape, np.dtype, np.random.Generator], Case]
    bytes_per_element: float  # compulsory traffic per element, in units of the dtype's size
    flops_per_element: float
    peers: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ("float32", "float64")
    mutates: tuple[str, ...] = ()  # argument roles: the inputs a call writes
    reset_between_repeats: bool = False
    fixed_itemsize: int | None = None  # bytes per element when the dtype does not decide it
    extra_sizes: tuple[Shape, ...] = field(default=())  # shapes every preset adds to the sweep
    cost_proxy: str | None = None  # a workload with the same per-element cost and a sweep
    notes: str = ""
    #: distinct arrays a call touches per element, in units of the dtype's size (an array read
    #: and written counts once); None: bytes_per_element (every array read or written once)
    footprint_per_element: float | None = None
    #: log, exp or cos evaluations per element: 0 marks a memory-bound kernel (held against
    #: the bandwidth); above 0 the kernel is also held against the measured log/exp rate
    transcendentals_per_element: float = 0.0
    #: the result is one sum over every element (a norm, an entropy): a float32 peer's rounding
    #: grows with the count (see :func:`~kernbench.backends.interface.peer_f32_tolerance`)
    reduces_all: bool = False

    @property
    def memory_bound(self) -> bool:
        return self.transcendentals_per_element == 0

    def shape_for(self, elements: int) -> Shape:
        return SHAPE_MAPS[self.layout](elements)

    def sizes(self, preset: str = "quick") -> list[Shape]:
        """The shapes of the sweep, smallest first, without duplicates."""
        shapes = {self.shape_for(n) for n in PRESET_ELEMENTS[preset]}
        shapes.update(self.extra_sizes)
        shapes.update(PRESET_SHAPES.get(preset, {}).get(self.layout, ()))
        return sorted(shapes, key=math.prod)

    def reference_size(self) -> Shape:
        return self.shape_for(REFERENCE_ELEMENTS)

    def make(self, size: Shape | int, dtype="float64", seed: int = 0) -> Case:
        shape = self.shape_for(size) if isinstance(size, (int, np.integer)) else tuple(size)
        rng = np.random.default_rng(seed)
        return self.build(self, shape, np.dtype(dtype), rng)

    def elements(self, size: Shape) -> int:
        return int(math.prod(size))

    def bytes_moved(self, size: Shape, dtype) -> int:
        itemsize = self.fixed_itemsize or np.dtype(dtype).itemsize
        return int(round(self.elements(size) * self.bytes_per_element * itemsize))

    def working_set_bytes(self, size: Shape, dtype) -> int:
        """Bytes of the distinct arrays one call touches: what must fit in a cache for repeated
        calls to run from it."""
        itemsize = self.fixed_itemsize or np.dtype(dtype).itemsize
        per_element = self.footprint_per_element or self.bytes_per_element
        return int(round(self.elements(size) * per_element * itemsize))

    def flops(self, size: Shape) -> int:
        return int(round(self.elements(size) * self.flops_per_element))

    def available_peers(self) -> list[str]:
        return [p for p in self.peers if pr.peer_available(p)]


# ---------------------------------------------------------------------------- input makers

def _probabilities(rng, n: int, dtype) -> np.ndarray:
    """A strictly positive probability vector (so log terms are all finite)."""
    p = rng.random(n) + 1e-3
    return (p / p.sum()).astype(dtype)


def _normal(rng, shape, dtype) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _build_sgd(wl, shape, dtype, rng):
    params, grads = [_normal(rng, shape, dtype)], [_normal(rng, shape, dtype)]
    return OptimizerCase(
        wl, shape, dtype, params, grads,
        lambda ps, backend: optim.SGD(ps, lr=1e-3, momentum=0.9, backend=backend),
        lambda ts, **form: pr.torch().optim.SGD(ts, lr=1e-3, momentum=0.9, **form))


def _adam_factories(decoupled: bool):
    kb_cls = optim.AdamW if decoupled else optim.Adam
    decay = 1e-2 if decoupled else 0.0

    def make_optimizer(ps, backend):
        return kb_cls(ps, lr=1e-3, weight_decay=decay, backend=backend)

    def make_torch_optimizer(ts, **form):
        torch_cls = pr.torch().optim.AdamW if decoupled else pr.torch().optim.Adam
        return torch_cls(ts, lr=1e-3, weight_decay=decay, **form)

    return make_optimizer, make_torch_optimizer


def _build_adam(decoupled: bool):
    def build(wl, shape, dtype, rng):
        params, grads = [_normal(rng, shape, dtype)], [_normal(rng, shape, dtype)]
        return OptimizerCase(wl, shape, dtype, params, grads, *_adam_factories(decoupled))
    return build


def _build_adam_model(wl, shape, dtype, rng):
    params = [(0.02 * rng.standard_normal(s)).astype(dtype) for s in MODEL_SHAPES]
    grads = [_normal(rng, s, dtype) for s in MODEL_SHAPES]
    return OptimizerCase(wl, shape, dtype, params, grads, *_adam_factories(False))


def _build_clip(wl, shape, dtype, rng):
    # max_norm well below the norm (about sqrt(n)), so every call scales
    return ClipCase(wl, shape, dtype, [_normal(rng, shape, dtype)], max_norm=1.0)


def _function_case(api, make_inputs, peer_calls=None, device_inputs=True):
    def build(wl, shape, dtype, rng):
        return FunctionCase(wl, shape, dtype, make_inputs(rng, shape, dtype), api,
                            peer_calls or {}, device_inputs)
    return build


def _one_p(rng, shape, dtype):
    return {"p": _probabilities(rng, shape[0], dtype)}


def _p_and_q(rng, shape, dtype):
    return {"p": _probabilities(rng, shape[0], dtype), "q": _probabilities(rng, shape[0], dtype)}


def _joint(rng, shape, dtype):
    j = rng.random(shape) + 1e-3
    return {"joint": (j / j.sum()).astype(dtype)}


def _logits(rng, shape, dtype):
    return {"logits": _normal(rng, shape, dtype)}


def _logits_targets(rng, shape, dtype):
    return {"logits": _normal(rng, shape, dtype),
            "targets": rng.integers(0, shape[1], size=shape[0])}


def _gaussians(rng, shape, dtype):
    return {"mu1": _normal(rng, shape, dtype),
            "sigma1": rng.uniform(0.5, 2.0, shape).astype(dtype),
            "mu2": _normal(rng, shape, dtype),
            "sigma2": rng.uniform(0.5, 2.0, shape).astype(dtype)}


def _sigma(rng, shape, dtype):
    return {"sigma": rng.uniform(0.5, 2.0, shape).astype(dtype)}


def _steps(rng, shape, dtype):
    return {"steps": np.arange(shape[0], dtype=np.float64), "total_steps": float(shape[0]),
            "lr_max": 1e-3, "lr_min": 1e-5}


# ---------------------------------------------------------------------------- peer names

_TORCH_OPT = tuple(pr.TORCH_OPTIMIZER_FORMS)
_TORCH_ADAM = _TORCH_OPT + tuple(pr.TORCH_CUDA_OPTIMIZER_FORMS)
_TORCH_CLIP = ("torch.for-loop", "torch.foreach")

# ---------------------------------------------------------------------------- the registry

_RECORDS = [
    Workload("sgd_step", "SGD step with momentum 0.9 on one tensor", "vector", _build_sgd,
             bytes_per_element=5, flops_per_element=4, peers=_TORCH_OPT,
             mutates=("param", "momentum_buffer"), footprint_per_element=3),
    Workload("adam_step", "Adam step on one tensor", "vector", _build_adam(False),
             bytes_per_element=7, flops_per_element=12, peers=_TORCH_ADAM,
             mutates=("param", "exp_avg", "exp_avg_sq"), footprint_per_element=4),
    Workload("adamw_step", "AdamW step (weight decay 1e-2) on one tensor", "vector",
             _build_adam(True), bytes_per_element=7, flops_per_element=13, peers=_TORCH_ADAM,
             mutates=("param", "exp_avg", "exp_avg_sq"), footprint_per_element=4),
    Workload("adam_model", f"Adam step over {len(MODEL_SHAPES)} tensors of a GPT-like model "
             f"({MODEL_ELEMENTS / 1e6:.1f}M params)", "model", _build_adam_model,
             bytes_per_element=7, flops_per_element=12, peers=_TORCH_ADAM,
             mutates=("params", "exp_avg", "exp_avg_sq"), cost_proxy="adam_step",
             notes="one fixed size; per-tensor overhead shows", footprint_per_element=4),
    Workload("clip_grad_norm", "global-norm gradient clipping (norm, then scale in place)",
             "vector", _build_clip, bytes_per_element=3, flops_per_element=3, peers=_TORCH_CLIP,
             mutates=("grads",), reset_between_repeats=True, footprint_per_element=1,
             reduces_all=True),
    Workload("entropy", "Shannon entropy of a 1-D distribution", "vector",
             _function_case(info.entropy, _one_p,
                            {"torch.entr": pc.torch_entr_sum, "scipy.stats": pc.scipy_entropy}),
             bytes_per_element=1, flops_per_element=4, peers=("torch.entr", "scipy.stats"),
             transcendentals_per_element=1, reduces_all=True),
    Workload("cross_entropy", "cross-entropy H(p, q) of two 1-D distributions", "vector",
             _function_case(info.cross_entropy, _p_and_q), bytes_per_element=2,
             flops_per_element=5, transcendentals_per_element=1, reduces_all=True),
    Workload("kl_divergence", "KL(p || q) of two 1-D distributions", "vector",
             _function_case(info.kl_divergence, _p_and_q,
                            {"scipy.rel_entr": pc.scipy_rel_entr_sum, "scipy.stats": pc.scipy_kl}),
             bytes_per_element=2, flops_per_element=6, peers=("scipy.rel_entr", "scipy.stats"),
             transcendentals_per_element=1, reduces_all=True),
    Workload("js_divergence", "Jensen-Shannon divergence of two 1-D distributions", "vector",
             _function_case(info.js_divergence, _p_and_q, {"scipy.spatial": pc.scipy_js}),
             bytes_per_element=4, flops_per_element=14, peers=("scipy.spatial",),
             notes="two passes (sums, then terms): 4 reads per element",
             footprint_per_element=2, transcendentals_per_element=2, reduces_all=True),
    Workload("mutual_information", "I(X;Y) of an n x n joint table", "joint",
             _function_case(info.mutual_information, _joint), bytes_per_element=1,
             flops_per_element=5, transcendentals_per_element=1, reduces_all=True),
    Workload("conditional_entropy", "H(Y|X) of an n x n joint table", "joint",
             _function_case(info.conditional_entropy, _joint), bytes_per_element=1,
             flops_per_element=4, transcendentals_per_element=1, reduces_all=True),
    Workload("softmax", "softmax over the last axis of (N, V) logits", "logits",
             _function_case(info.softmax, _logits,
                            {"torch.softmax": pc.torch_rowwise("softmax"),
                             "scipy.special": pc.scipy_rowwise("softmax")}),
             bytes_per_element=2, flops_per_element=5, peers=("torch.softmax", "scipy.special"),
             extra_sizes=(GPT2_LOGITS,), transcendentals_per_element=1),
    Workload("log_softmax", "log-softmax over the last axis of (N, V) logits", "logits",
             _function_case(info.log_softmax, _logits,
                            {"torch.log_softmax": pc.torch_rowwise("log_softmax"),
                             "scipy.special": pc.scipy_rowwise("log_softmax")}),
             bytes_per_element=2, flops_per_element=4,
             peers=("torch.log_softmax", "scipy.special"), extra_sizes=(GPT2_LOGITS,),
             transcendentals_per_element=1),
    Workload("cross_entropy_logits", "mean cross-entropy of (N, V) logits against targets",
             "logits", _function_case(info.cross_entropy_logits, _logits_targets,
                                      {"torch.cross_entropy": pc.torch_cross_entropy(False),
                                       "torch.cuda.cross_entropy": pc.torch_cross_entropy(False)}),
             bytes_per_element=1, flops_per_element=3,
             peers=("torch.cross_entropy", "torch.cuda.cross_entropy"),
             extra_sizes=(GPT2_LOGITS,), transcendentals_per_element=1),
    Workload("perplexity", "exp of the mean cross-entropy of (N, V) logits", "logits",
             _function_case(info.perplexity, _logits_targets,
                            {"torch.cross_entropy": pc.torch_cross_entropy(True),
                             "torch.cuda.cross_entropy": pc.torch_cross_entropy(True)}),
             bytes_per_element=1, flops_per_element=3,
             peers=("torch.cross_entropy", "torch.cuda.cross_entropy"),
             extra_sizes=(GPT2_LOGITS,), transcendentals_per_element=1),
    Workload("gaussian_kl", "KL between two Gaussians, elementwise", "vector",
             _function_case(info.gaussian_kl, _gaussians,
                            {"torch.distributions": pc.torch_gaussian_kl}),
             bytes_per_element=5, flops_per_element=10, peers=("torch.distributions",),
             transcendentals_per_element=1),
    Workload("gaussian_entropy", "differential entropy of a Gaussian, elementwise", "vector",
             _function_case(info.gaussian_entropy, _sigma,
                            {"torch.distributions": pc.torch_gaussian_entropy}),
             bytes_per_element=2, flops_per_element=2, peers=("torch.distributions",),
             transcendentals_per_element=1),
    Workload("cosine_schedule", "cosine learning rate for a vector of steps", "vector",
             _function_case(optim.cosine_schedule, _steps, device_inputs=False),
             bytes_per_element=2,
             flops_per_element=6, dtypes=("float64",), fixed_itemsize=8,
             notes="host-side schedule: float64 only", transcendentals_per_element=1),
]

#: Every workload by name, in the order reports list them.
WORKLOADS: dict[str, Workload] = {w.name: w for w in _RECORDS}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown kernel {name!r}; known: {', '.join(WORKLOADS)}") from None
