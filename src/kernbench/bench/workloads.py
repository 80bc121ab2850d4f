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

A target that computes on a GPU (the ``cuda`` backend, the ``torch.cuda.*`` peers) gets its
inputs on the device, copied there once before the timing, wherever its API takes device
arrays: optimizer params and grads and the arrays of the information functions for the
backend, every tensor for torch. See :mod:`kernbench.bench.device`.

Optimizer cases build the optimizer once per target; each call is one ``step``. Params and
moments therefore drift from repeat to repeat (a few hundred Adam steps at lr 1e-3 move no value
out of its normal range): this is accepted, since the work per step does not depend on the
values. Validation uses separate, fresh copies: one step from identical starting params.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kernbench import info, optim
from kernbench.backends import get_backend
from kernbench.bench import peers as pr
from kernbench.bench.device import Device, device_for

Shape = tuple[int, ...]

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


# ---------------------------------------------------------------------------- cases

class Case:
    """One workload at one shape and dtype, inputs made, callable on any backend or peer.

    ``call(target)`` returns a prepared zero-argument callable doing one call (the thing timed),
    warmed up by one call unless ``warm=False`` (the runner times that first call itself);
    ``check_value(target)`` runs one call from pristine inputs and returns what it computed, for
    validation against the numpy backend. ``reset()`` restores mutated inputs between repeats.
    A target is a backend name or one of the workload's peer names.
    """

    needs_reset = False

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
        return getattr(get_backend(target), "synchronize", None)

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


class ClipCase(Case):
    """clip_grad_norm scales the grads in place: they are restored before every repeat."""

    needs_reset = True

    def __init__(self, workload, shape, dtype, grads: list[np.ndarray], max_norm: float):
        super().__init__(workload, shape, dtype)
        self.pristine = grads
        self.work = [g.copy() for g in grads]
        self.max_norm = max_norm
        self._device_work: list = []  # (device, grads a target scales, their pristine copies)

    def input_arrays(self):
        return list(self.pristine)

    def reset(self):
        for w, g in zip(self.work, self.pristine):
            np.copyto(w, g)
        for device, work, pristine in self._device_work:
            for w, g in zip(work, pristine):
                device.copy_into(w, g)

    def _prepare(self, target, kept: bool = True):
        """(a callable doing one clip, a callable giving the grads it scales as NumPy arrays).

        A target taking device arrays gets its own device grads, restored by ``reset()`` from
        device copies of the pristine ones unless ``kept=False`` (a call made only once).
        """
        work, max_norm = self.work, self.max_norm
        current = lambda: work  # noqa: E731
        place = self.placement(target)
        if place is not None:
            work = [place.to_device(g) for g in self.pristine]
            if kept:
                self._device_work.append((place, work,
                                          [place.to_device(g) for g in self.pristine]))
            current = lambda: [place.to_host(w) for w in work]  # noqa: E731
        if self.is_peer(target):
            torch = pr.torch()
            holders = []
            for w in work:
                grad = pr.to_torch(w)  # shares memory with ``work``, so reset() restores it
                holder = torch.empty_like(grad)  # never written: clipping reads only .grad
                holder.grad = grad
                holders.append(holder)
            foreach = pr.TORCH_OPTIMIZER_FORMS[target].get("foreach", False)

            def torch_clip():
                return torch.nn.utils.clip_grad_norm_(holders, max_norm, foreach=foreach)

            return torch_clip, current

        def clip():
            return optim.clip_grad_norm(work, max_norm, backend=target)

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


# ---------------------------------------------------------------------------- peer callables
# Each takes the case's inputs and returns a prepared zero-argument callable; conversions to
# torch tensors happen here, once, outside the timed call (from_numpy shares memory anyway).

def _torch_entr_sum(inputs):
    torch, p = pr.torch(), pr.to_torch(inputs["p"])
    return lambda: torch.special.entr(p).sum()


def _scipy_entropy(inputs):
    from scipy import stats
    p = inputs["p"]
    return lambda: stats.entropy(p)


def _scipy_kl(inputs):
    from scipy import stats
    p, q = inputs["p"], inputs["q"]
    return lambda: stats.entropy(p, q)


def _scipy_rel_entr_sum(inputs):
    from scipy import special
    p, q = inputs["p"], inputs["q"]
    return lambda: special.rel_entr(p, q).sum()


def _scipy_js(inputs):
    from scipy.spatial import distance
    p, q = inputs["p"], inputs["q"]
    return lambda: distance.jensenshannon(p, q) ** 2


def _torch_rowwise(fn_name):
    def make(inputs):
        torch, x = pr.torch(), pr.to_torch(inputs["logits"])
        fn = getattr(torch, fn_name)
        return lambda: fn(x, dim=-1)
    return make


def _scipy_rowwise(fn_name):
    def make(inputs):
        from scipy import special
        x, fn = inputs["logits"], getattr(special, fn_name)
        return lambda: fn(x, axis=-1)
    return make


def _torch_cross_entropy(exponentiate: bool):
    def make(inputs):
        torch = pr.torch()
        x, t = pr.to_torch(inputs["logits"]), pr.to_torch(inputs["targets"])
        loss = torch.nn.functional.cross_entropy
        if exponentiate:
            return lambda: torch.exp(loss(x, t))
        return lambda: loss(x, t)
    return make


def _torch_gaussian_kl(inputs):
    torch = pr.torch()
    normal, kl = torch.distributions.Normal, torch.distributions.kl_divergence
    m1, s1, m2, s2 = (pr.to_torch(inputs[k]) for k in ("mu1", "sigma1", "mu2", "sigma2"))
    return lambda: kl(normal(m1, s1, validate_args=False), normal(m2, s2, validate_args=False))


def _torch_gaussian_entropy(inputs):
    torch = pr.torch()
    s = pr.to_torch(inputs["sigma"])
    zero = torch.zeros((), dtype=s.dtype)
    return lambda: torch.distributions.Normal(zero, s, validate_args=False).entropy()


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
             mutates=("grads",), reset_between_repeats=True, footprint_per_element=1),
    Workload("entropy", "Shannon entropy of a 1-D distribution", "vector",
             _function_case(info.entropy, _one_p,
                            {"torch.entr": _torch_entr_sum, "scipy.stats": _scipy_entropy}),
             bytes_per_element=1, flops_per_element=4, peers=("torch.entr", "scipy.stats"),
             transcendentals_per_element=1),
    Workload("cross_entropy", "cross-entropy H(p, q) of two 1-D distributions", "vector",
             _function_case(info.cross_entropy, _p_and_q), bytes_per_element=2,
             flops_per_element=5, transcendentals_per_element=1),
    Workload("kl_divergence", "KL(p || q) of two 1-D distributions", "vector",
             _function_case(info.kl_divergence, _p_and_q,
                            {"scipy.rel_entr": _scipy_rel_entr_sum, "scipy.stats": _scipy_kl}),
             bytes_per_element=2, flops_per_element=6, peers=("scipy.rel_entr", "scipy.stats"),
             transcendentals_per_element=1),
    Workload("js_divergence", "Jensen-Shannon divergence of two 1-D distributions", "vector",
             _function_case(info.js_divergence, _p_and_q, {"scipy.spatial": _scipy_js}),
             bytes_per_element=4, flops_per_element=14, peers=("scipy.spatial",),
             notes="two passes (sums, then terms): 4 reads per element",
             footprint_per_element=2, transcendentals_per_element=2),
    Workload("mutual_information", "I(X;Y) of an n x n joint table", "joint",
             _function_case(info.mutual_information, _joint), bytes_per_element=1,
             flops_per_element=5, transcendentals_per_element=1),
    Workload("conditional_entropy", "H(Y|X) of an n x n joint table", "joint",
             _function_case(info.conditional_entropy, _joint), bytes_per_element=1,
             flops_per_element=4, transcendentals_per_element=1),
    Workload("softmax", "softmax over the last axis of (N, V) logits", "logits",
             _function_case(info.softmax, _logits,
                            {"torch.softmax": _torch_rowwise("softmax"),
                             "scipy.special": _scipy_rowwise("softmax")}),
             bytes_per_element=2, flops_per_element=5, peers=("torch.softmax", "scipy.special"),
             extra_sizes=(GPT2_LOGITS,), transcendentals_per_element=1),
    Workload("log_softmax", "log-softmax over the last axis of (N, V) logits", "logits",
             _function_case(info.log_softmax, _logits,
                            {"torch.log_softmax": _torch_rowwise("log_softmax"),
                             "scipy.special": _scipy_rowwise("log_softmax")}),
             bytes_per_element=2, flops_per_element=4,
             peers=("torch.log_softmax", "scipy.special"), extra_sizes=(GPT2_LOGITS,),
             transcendentals_per_element=1),
    Workload("cross_entropy_logits", "mean cross-entropy of (N, V) logits against targets",
             "logits", _function_case(info.cross_entropy_logits, _logits_targets,
                                      {"torch.cross_entropy": _torch_cross_entropy(False),
                                       "torch.cuda.cross_entropy": _torch_cross_entropy(False)}),
             bytes_per_element=1, flops_per_element=3,
             peers=("torch.cross_entropy", "torch.cuda.cross_entropy"),
             extra_sizes=(GPT2_LOGITS,), transcendentals_per_element=1),
    Workload("perplexity", "exp of the mean cross-entropy of (N, V) logits", "logits",
             _function_case(info.perplexity, _logits_targets,
                            {"torch.cross_entropy": _torch_cross_entropy(True),
                             "torch.cuda.cross_entropy": _torch_cross_entropy(True)}),
             bytes_per_element=1, flops_per_element=3,
             peers=("torch.cross_entropy", "torch.cuda.cross_entropy"),
             extra_sizes=(GPT2_LOGITS,), transcendentals_per_element=1),
    Workload("gaussian_kl", "KL between two Gaussians, elementwise", "vector",
             _function_case(info.gaussian_kl, _gaussians,
                            {"torch.distributions": _torch_gaussian_kl}),
             bytes_per_element=5, flops_per_element=10, peers=("torch.distributions",),
             transcendentals_per_element=1),
    Workload("gaussian_entropy", "differential entropy of a Gaussian, elementwise", "vector",
             _function_case(info.gaussian_entropy, _sigma,
                            {"torch.distributions": _torch_gaussian_entropy}),
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
