"""torch.optim-style optimizers over NumPy arrays, updated in place by a chosen backend.

The optimizer owns validation and state; the backend owns arithmetic. ``step()`` checks every
grad and every hyperparameter before it touches a param or any state, so a bad call raises and
changes nothing. State is plain NumPy arrays and Python scalars (``state_dict()``), so it moves
between backends: five steps on ``numpy``, ``load_state_dict`` into a ``numba`` optimizer and
five more equal ten steps on ``numba``.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from kernbench import _validate as v
from kernbench.backends import Backend, get_backend

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "clip_grad_norm", "cosine_annealing",
           "cosine_schedule"]

DEFAULT_BACKEND = "numba"
_MISSING = object()
_SCALAR_TYPES = frozenset((float, int, bool, str, type(None), np.float64, np.float32,
                           np.int64, np.bool_))


def _immutable(value) -> bool:
    """Whether a hyperparameter value cannot change without being replaced: a scalar, or a
    tuple of them (betas)."""
    if type(value) is tuple:
        return all(type(x) in _SCALAR_TYPES for x in value)
    return type(value) in _SCALAR_TYPES


def _tensor_list(arrays, name: str) -> list:
    """A list of arrays (or Nones) from a sequence; a lone array is a list of one.

    Any array counts as one tensor, as torch treats a lone Tensor: NumPy arrays, and dask or
    device arrays too, which would otherwise be iterated row by row.
    """
    if isinstance(arrays, list):
        return list(arrays)
    if not isinstance(arrays, tuple) and hasattr(arrays, "shape") and hasattr(arrays, "dtype"):
        return [arrays]
    return v.array_list(arrays, name)


class Optimizer:
    """Base class: params, one param group of hyperparameters, per-param state, a backend."""

    #: Names of the per-param state arrays, in the order a state_dict lists them.
    state_arrays: tuple[str, ...] = ()

    def __init__(self, params, hyper: dict, backend):
        self.backend = get_backend(backend)
        #: The backend checks grads as the base class does: NumPy arrays of the param's
        #: shape and dtype, which _check_grads then tests inline.
        self._numpy_grads = type(self.backend).check_grad is Backend.check_grad
        plist = _tensor_list(params, "params")
        if not plist:
            raise ValueError("params is empty: the optimizer has nothing to update")
        self._params = [self.backend.as_param(p, f"params[{i}]") for i, p in enumerate(plist)]
        self.param_groups = [self._check_hyper(dict(hyper))]
        self.defaults = dict(self.param_groups[0])
        self.state: list[dict] = [{} for _ in self._params]
        #: What the backend derived from these params and their state (see adam_steps).
        self._backend_cache: dict = {}
        #: (group, its items, their checked copy) of the last check (see _checked_hyper).
        self._hyper_seen: tuple | None = None

    # -- hooks for subclasses
    def _check_hyper(self, hyper: dict) -> dict:
        raise NotImplementedError

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, hyper: dict) -> None:
        raise NotImplementedError

    # -- public
    @property
    def params(self) -> list:
        """The current params: the caller's own arrays, updated in place.

        For a backend with immutable arrays (dask) these are the newest arrays, which replace
        the ones passed in at every step.
        """
        return list(self._params)

    def _check_grads(self, grads) -> list:
        glist = grads if type(grads) is list else _tensor_list(grads, "grads")
        if len(glist) != len(self._params):
            raise ValueError(f"grads must have {len(self._params)} entries, one per param; "
                             f"got {len(glist)}")
        numpy_grads = self._numpy_grads
        for i, (p, g) in enumerate(zip(self._params, glist)):
            if g is None or (numpy_grads and type(g) is np.ndarray and g.shape == p.shape
                             and g.dtype == p.dtype):
                continue  # passes check_grad: not worth a call
            self.backend.check_grad(g, p, f"grads[{i}]", f"params[{i}]")
        return glist

    def _checked_hyper(self) -> dict:
        """The param group's hyperparameters, checked (a copy: never changed by the step).

        Checking them costs about as much as a small step, and they seldom change, so the
        checked copy is kept while the group holds the very same objects as when it was
        checked: a value put into the group since (a schedule's new lr, or an invalid one) is
        checked again. Identity, not equality: ``True == 1`` but a bool is no valid lr.
        """
        group = self.param_groups[0]
        seen = self._hyper_seen
        if seen is not None and seen[0] is group and len(group) == len(seen[1]):
            for key, value in seen[1]:
                if group.get(key, _MISSING) is not value:
                    break
            else:
                return seen[2]
        checked = self._check_hyper(dict(group))
        if all(_immutable(x) for x in group.values()):  # else a change could hide in a value
            self._hyper_seen = (group, tuple(group.items()), checked)
        return checked

    def step(self, grads) -> None:
        """Update every param whose grad is not None, in place."""
        glist = self._check_grads(grads)
        hyper = self._checked_hyper()
        for i, (p, g) in enumerate(zip(self._params, glist)):
            if g is not None:
                self._update(i, p, g, hyper)

    def state_dict(self) -> dict:
        """A snapshot: {"state": {index: {name: array or int}}, "param_groups": [hyper]}."""
        state = {}
        for i, st in enumerate(self.state):
            if st:
                state[i] = {k: (x if k == "step" else self.backend.to_numpy(x))
                            for k, x in st.items()}
        return {"state": state, "param_groups": copy.deepcopy(self.param_groups)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state_dict from any backend's optimizer of the same kind and params."""
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != 1:
            raise ValueError("state_dict['param_groups'] must hold exactly one group")
        missing = set(self.defaults) - set(groups[0])
        if missing:
            raise ValueError(f"state_dict['param_groups'][0] lacks {sorted(missing)}")
        hyper = self._check_hyper(dict(groups[0]))
        new_state: list[dict] = [{} for _ in self._params]
        for key, st in state_dict["state"].items():
            i = v.integer_scalar(key, "state_dict['state'] key")
            if not 0 <= i < len(self._params):
                raise ValueError(f"state_dict['state'] has an entry for param {i}; "
                                 f"this optimizer has {len(self._params)}")
            p = self._params[i]
            for name, value in st.items():
                if name == "step":
                    new_state[i]["step"] = v.integer_scalar(value, f"state[{i}]['step']")
                    continue
                if name not in self.state_arrays:
                    raise ValueError(f"state[{i}] has unknown entry {name!r}")
                a = np.asarray(value)
                if a.shape != p.shape:
                    raise ValueError(f"state[{i}][{name!r}] has shape {a.shape}; "
                                     f"params[{i}] has {p.shape}")
                new_state[i][name] = self.backend.from_numpy(a, p)
        self.param_groups = [hyper]
        self.state = new_state

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={val!r}" for k, val in self.param_groups[0].items())
        return f"{type(self).__name__}({hyper}, backend={self.backend.name!r})"

    def _state_array(self, state: dict, name: str, param):
        a = state.get(name)
        if a is None:
            a = state[name] = self.backend.zeros_like(param)
        return a

    def _adopt(self, index: int, arrays, names: tuple[str, ...]) -> None:
        """Hold the arrays a step kernel handed back, (param, *state): the same objects for a
        backend that updates in place, the new ones for immutable arrays (dask)."""
        self._params[index] = arrays[0]
        st = self.state[index]
        for name, a in zip(names, arrays[1:]):
            if a is not None:
                st[name] = a


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

    state_arrays = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False, backend=DEFAULT_BACKEND):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize), backend)

    def _check_hyper(self, h: dict) -> dict:
        h["lr"] = v.non_negative_scalar(h["lr"], "lr")
        h["momentum"] = v.non_negative_scalar(h["momentum"], "momentum")
        h["dampening"] = v.real_scalar(h["dampening"], "dampening")
        h["weight_decay"] = v.non_negative_scalar(h["weight_decay"], "weight_decay")
        h["nesterov"] = bool(h["nesterov"])
        h["maximize"] = bool(h["maximize"])
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError("nesterov requires momentum > 0 and dampening == 0; got "
                             f"momentum={h['momentum']}, dampening={h['dampening']}")
        return h

    def _update(self, index, param, grad, h):
        st = self.state[index]
        buf = None
        first = False
        if h["momentum"] != 0:
            first = "momentum_buffer" not in st
            buf = self._state_array(st, "momentum_buffer", param)
        new = self.backend.sgd_step(param, grad, buf, lr=h["lr"],
                                    weight_decay=h["weight_decay"], momentum=h["momentum"],
                                    dampening=h["dampening"], nesterov=h["nesterov"],
                                    maximize=h["maximize"], first_step=first)
        self._adopt(index, new, self.state_arrays)


class Adam(Optimizer):
    """Adam (Kingma and Ba) with L2 weight decay, AMSGrad and maximize, as torch.optim.Adam."""

    state_arrays = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, backend=DEFAULT_BACKEND):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize), backend)

    def _check_hyper(self, h: dict) -> dict:
        h["lr"] = v.non_negative_scalar(h["lr"], "lr")
        betas = h["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2); got {betas!r}")
        h["betas"] = (v.unit_interval_open(betas[0], "betas[0]"),
                      v.unit_interval_open(betas[1], "betas[1]"))
        h["eps"] = v.non_negative_scalar(h["eps"], "eps")
        h["weight_decay"] = v.non_negative_scalar(h["weight_decay"], "weight_decay")
        h["amsgrad"] = bool(h["amsgrad"])
        h["maximize"] = bool(h["maximize"])
        return h

    def step(self, grads) -> None:
        """Update every param whose grad is not None, in place: one ``adam_steps`` call over
        all of them, so a backend can update a whole model in one compiled call."""
        glist = self._check_grads(grads)
        h = self._checked_hyper()
        if len(glist) == 1:  # one tensor: the general path's columns, without their lists
            self._step_one(glist[0], h)
            return
        todo = [i for i, g in enumerate(glist) if g is not None]
        if not todo:
            return
        amsgrad = h["amsgrad"]
        columns = ([], [], [], [], [], [])  # params, grads, exp_avg, exp_avg_sq, max, steps
        for i in todo:
            st, p = self.state[i], self._params[i]
            columns[0].append(p)
            columns[1].append(glist[i])
            columns[2].append(self._state_array(st, "exp_avg", p))
            columns[3].append(self._state_array(st, "exp_avg_sq", p))
            columns[4].append(self._state_array(st, "max_exp_avg_sq", p) if amsgrad else None)
            columns[5].append(st.get("step", 0) + 1)
        beta1, beta2 = h["betas"]
        new = self.backend.adam_steps(*columns[:5], lr=h["lr"], beta1=beta1, beta2=beta2,
                                      eps=h["eps"], weight_decay=h["weight_decay"],
                                      decoupled=self.decoupled, amsgrad=amsgrad,
                                      maximize=h["maximize"], steps=columns[5],
                                      cache=self._backend_cache)
        for j, i in enumerate(todo):
            self._adopt(i, new[j], self.state_arrays)
            self.state[i]["step"] = columns[5][j]

    def _step_one(self, g, h: dict) -> None:
        """step() of an optimizer that holds one param: the same adam_steps call."""
        if g is None:
            return
        st, p = self.state[0], self._params[0]
        m = st.get("exp_avg")
        if m is None:
            m = self._state_array(st, "exp_avg", p)
        v = st.get("exp_avg_sq")
        if v is None:
            v = self._state_array(st, "exp_avg_sq", p)
        amsgrad = h["amsgrad"]
        vmax = self._state_array(st, "max_exp_avg_sq", p) if amsgrad else None
        step = st.get("step", 0) + 1
        beta1, beta2 = h["betas"]
        new = self.backend.adam_steps([p], [g], [m], [v], [vmax], lr=h["lr"], beta1=beta1,
                                      beta2=beta2, eps=h["eps"],
                                      weight_decay=h["weight_decay"],
                                      decoupled=self.decoupled, amsgrad=amsgrad,
                                      maximize=h["maximize"], steps=[step],
                                      cache=self._backend_cache)[0]
        if new[0] is not p or new[1] is not m or new[2] is not v or new[3] is not vmax:
            self._adopt(0, new, self.state_arrays)  # new arrays (an immutable backend)
        st["step"] = step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr*wd first."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False, backend=DEFAULT_BACKEND):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, backend=backend)


def clip_grad_norm(grads, max_norm, backend=DEFAULT_BACKEND) -> float:
    """Scale grads in place so their total 2-norm is at most ``max_norm``; return the norm before.

    As ``torch.nn.utils.clip_grad_norm_``: ``grads`` is a sequence of arrays (None entries are
    skipped) or one lone array, which is one tensor; coefficient ``max_norm / (norm + 1e-6)``
    clamped to 1; a non-finite norm propagates into the grads (NaN), as torch does by default.

    NumPy and device arrays are scaled in place, whatever the backend. An array that cannot be
    (a dask array: immutable) is replaced by its scaled copy in ``grads``, which must then be a
    list: a tuple or a lone dask array raises TypeError naming ``grads`` before anything is
    computed, so no caller is left holding unscaled grads unawares. A call that raises changes
    no grad and no entry of the list.
    """
    kernels = get_backend(backend)
    limit = v.positive_scalar(max_norm, "max_norm")
    glist = _tensor_list(grads, "grads")
    arrays = [(i, kernels.as_param(g, f"grads[{i}]")) for i, g in enumerate(glist)
              if g is not None]
    fixed = {i for i, g in arrays if not kernels.updates_in_place(g)}
    if fixed and not isinstance(grads, list):
        i = min(fixed)
        what = type(glist[i]).__module__.split(".")[0] + " " + type(glist[i]).__name__
        where = "grads" if glist[0] is grads else f"grads[{i}]"
        raise TypeError(f"{where} is a {what}, which cannot be scaled in place, and grads is a "
                        f"{type(grads).__name__}: pass a list, into which clip_grad_norm puts "
                        "the scaled arrays")
    total = math.sqrt(sum(kernels.sum_squares(g) for _, g in arrays))
    coef = limit / (total + 1e-6)
    if coef < 1.0 or math.isnan(coef):
        # The immutable arrays first: making their scaled copies writes nothing the caller
        # sees, so a failure there leaves every grad as it was.
        scaled = [(i, kernels.scale_(g, coef)) for i, g in arrays if i in fixed]
        for i, g in arrays:
            if i not in fixed:
                kernels.scale_(g, coef)
        for i, new in scaled:
            grads[i] = new
    return total


def cosine_annealing(step, total_steps, lr_max, lr_min=0.0) -> float:
    """lr_min + (lr_max - lr_min) * (1 + cos(pi * t / T)) / 2 with t clamped to [0, T]."""
    t = v.real_scalar(step, "step")
    total = v.positive_scalar(total_steps, "total_steps")
    hi = v.real_scalar(lr_max, "lr_max")
    lo = v.real_scalar(lr_min, "lr_min")
    t = min(max(t, 0.0), total)
    return lo + (hi - lo) * (1.0 + math.cos(math.pi * t / total)) / 2.0


def cosine_schedule(steps, total_steps, lr_max, lr_min=0.0, backend=DEFAULT_BACKEND):
    """:func:`cosine_annealing` for every entry of ``steps`` at once, as a float64 array."""
    kernels = get_backend(backend)
    s = v.float_array(steps, "steps").astype(np.float64, copy=False)
    if not np.all(np.isfinite(s)):
        raise ValueError("steps must be finite")
    total = v.positive_scalar(total_steps, "total_steps")
    hi = v.real_scalar(lr_max, "lr_max")
    lo = v.real_scalar(lr_min, "lr_min")
    flat = np.ascontiguousarray(s).reshape(-1)
    return kernels.cosine_schedule(flat, total, hi, lo).reshape(s.shape)
