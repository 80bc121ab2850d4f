"""The backend contract: everything a backend author implements, read top to bottom.

In order: the conventions every kernel follows (below), the status codes of the information
kernels, the tolerances within which backends agree, the kernel signatures (:class:`Kernels`,
named in :data:`KERNELS`), and :class:`Backend`, the base class of every backend, with its array
hooks (named in :data:`HOOKS`), the multi-tensor ``adam_steps`` and ``synchronize``.

A backend is a :class:`Backend` subclass with one method per name in :data:`KERNELS`, each with
exactly the signature written here; a hook it overrides keeps the base's signature (a test
compares them all). Backends only compute: the public layer (:mod:`kernbench.optim`,
:mod:`kernbench.info`) has already validated every argument, converted array-likes to
float32/float64 arrays of the backend's kind (by its ``as_array`` and the other array hooks:
NumPy arrays, dask arrays, views of the caller's device arrays), moved the reduction axis last
and allocated outputs.
A kernel never raises for bad data; data errors that are cheapest to find inside the kernel's
single pass (a negative probability, a slice summing to zero) come back as a status code.

Conventions shared by all kernels
---------------------------------
* Arrays may be non-contiguous views (``theta[::2]``, transposes, broadcast views with zero
  strides for read-only inputs). In-place kernels must update the caller's array itself.
* Scalars arrive as Python floats computed in float64 on the host; a backend casts them to the
  array dtype before its inner loop (a float64 scalar in a float32 loop halves the SIMD width).
* Reductions accumulate in float64 and return float64; the public layer casts to the input dtype.
* Optimizer steps compute in the parameter's dtype, as torch's float32 tensors do: for float32
  params every operation of the update formulas (SPEC.md, evaluated left to right, so
  ``(1-b2)*g*g`` is ``((1-b2)*g)*g`` as in torch's addcmul) is rounded to float32, scalars
  included (cast once, before the loop), and overflow follows float32: a grad near 3.4e38 makes
  the second moment inf, so ``m / (sqrt(v) + eps)`` is 0 and the param does not move. No
  backend computes a float32 step in float64 rounding only at the store. Torch's own CPU
  kernels fuse some operations (a multiply-add in ``add(x, alpha=a)``, ``lerp`` for m), so they
  agree with these formulas within the tolerances and on inf and NaN positions, except where
  ``m + (1-b1)*(g - m)`` overflows and ``b1*m + (1-b1)*g`` does not (g and m of opposite signs
  near the float32 limit: torch gives NaN there). On a GPU, NVVM contracts the cuda kernels'
  multiply-adds into FMAs (numba-cuda offers no switch): an ulp of rounding, and with lr > 1
  ``p - lr*g`` may stay finite where the unfused product overflows; the simulator does not fuse.
* Information kernels return values in nats (natural log); the public layer applies ``base``.

Reductions normalize in the same pass that sums (``p / sum p`` is never materialized), with
these exact forms, so that every backend agrees on exact zeros (one-hot input, KL(p, p)):

* entropy:        S = sum x, A = sum_{x>0} x log x;            H = max((S log S - A) / S, 0)
* cross-entropy:  B = sum_{p>0} p log q (q=0 -> -inf);          CE = (Sp log Sq - B) / Sp
* KL:             C = sum_{p>0} p log(p / q) (q=0 -> +inf);
                  KL = max(C / Sp + (log Sq - log Sp), 0)
* JS (two passes: sums, then terms): pn = p / Sp, qn = q / Sq, m = 0.5 pn + 0.5 qn,
                  JS = 0.5 sum_{pn>0} pn log(pn / m) + 0.5 sum_{qn>0} qn log(qn / m),
                  clamped to [0, ln 2]
* joint tables:   S = sum j, A = sum_{j>0} j log j, R = sum_{r>0} r log r over row sums r,
                  C = the same over column sums; I = max((A + S log S - R - C) / S, 0),
                  H(Y|X) = max((R - A) / S, 0)

Overflow-safe second pass. For float64 data near the top of the range (entries or sums above
about 1e305) the products above (S log S, x log x, p log q, p log(p/q)) can overflow although the
row is valid. A valid row (status OK) whose value from these forms is not finite (before any
clamp) is computed once more, in a second pass over its normalized entries, with the same forms
at S = 1 (``log 1 = 0``), so nothing can overflow:

* entropy:        xn = x / S;  A' = sum_{xn>0} xn log xn;       H = max(0 - A', 0)
* cross-entropy:  pn = p / Sp; B' = sum_{p>0} pn (log q - log Sq) (q=0 -> -inf);  CE = 0 - B'
* KL:             C' = sum_{p>0} pn ((log p - log Sp) - (log q - log Sq)) (q=0 -> +inf);
                  KL = max(C', 0)
* joint tables:   A', R', C' as A, R, C over j / S, r / S, c / S (terms whose quotient
                  underflows to 0 count 0);  I = max(A' - R' - C', 0),  H(Y|X) = max(R' - A', 0)

(``log q - log Sq`` rather than ``log(q / Sq)``: the quotient may underflow to 0 for q > 0.)
The first pass stays the single fused pass of ordinary input; the second runs only for such
rows, which includes the rows whose true value is +inf (CE and KL with p > 0 at q = 0): it finds
the +inf again. JS needs no second pass: its terms are already normalized (pn / m <= 2).
Every backend decides alike (status OK and a non-finite first value) and uses these forms, so
exact zeros agree: one-hot rows, KL(p, p), a diagonal table's H(Y|X).

A row is invalid (status *_INVALID) when it holds an entry < 0 or its float64 sum is not finite
(a NaN or infinite entry), and zero-sum (status *_ZERO_SUM) when it is valid and sums to 0.
p is checked before q.

Status codes (``int8``) returned by the information kernels, one per row; the first nonzero
row decides the error the public layer raises. The numba and cuda kernels import them by name
(both compilers freeze module globals into the machine code, so a name costs nothing there).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

# the validators the default hooks call (_validate imports only numpy): imported here, once,
# since an import statement in a hook costs half a microsecond on every small call
from kernbench._validate import class_targets, float_array, param_array

# ---------------------------------------------------------------------------- status codes

STATUS_OK = 0
STATUS_P_INVALID = 1  # p has an entry that is negative, NaN or infinite (or its sum overflows)
STATUS_P_ZERO_SUM = 2  # p sums to zero along the axis
STATUS_Q_INVALID = 3
STATUS_Q_ZERO_SUM = 4

# ---------------------------------------------------------------------------- tolerances

#: (rtol, atol) by dtype name for two results in the same dtype (backend against backend, or a
#: float64 result against a float64 reference). inf, -inf, NaN and exact zeros must agree exactly.
TOLERANCES = {"float64": (1e-7, 1e-9), "float32": (1.3e-6, 1e-5)}
#: Exact zeros, and the one kind of zero that is not exact. The zeros the forms above make from
#: the same numbers on every backend (0 log 0, a one-hot row, KL(p, p), a diagonal table's
#: H(Y|X), p = 0 against q = 0) must agree exactly. A value that is 0 only in exact arithmetic,
#: where the forms cancel logs of *different* numbers (q = 3p: log(p / q) against
#: log Sq - log Sp; a joint table whose rows are multiples of one row), is a rounded difference
#: like any other result: one backend gives exactly 0 (or clamps a negative residue to 0) and
#: another a positive residue of a few ulps, by the last bit of its log. Demanding the same 0
#: there would demand bit-equal logs, which this contract never does: such a value agrees with 0
#: within this absolute bound (far under TOLERANCES' atol, far over a few ulps of the logs).
CANCELLED_ZERO_ATOL = 1e-12
#: (rtol, atol) for a float32 result against a float64 reference (up to 20 optimizer steps).
F32_VS_F64_TOLERANCE = (1e-5, 1e-5)
#: (rtol, atol) for a float32 peer (torch, scipy), which computes in its own order.
PEER_F32_TOLERANCE = (1e-4, 1e-5)


def peer_f32_tolerance(reduced: int = 1) -> tuple[float, float]:
    """(rtol, atol) for a float32 peer whose result is one sum over ``reduced`` elements.

    A peer is held to computing the same quantity, not to this contract's accuracy: a float32
    sum of n terms accumulated in float32 (torch's vector norm) is typically off by about
    sqrt(n) float32 epsilons, so rtol grows as ``2 sqrt(n) eps`` once that passes
    :data:`PEER_F32_TOLERANCE` (about 1.7e5 elements). At 1e7 elements that is 7.5e-4, where
    ``torch.linalg.vector_norm`` of normal float32 numbers is off by 3.7e-4 (numpy's float32
    norm by 4.5e-5). The backends keep the contract's tolerances at every size.
    """
    rtol, atol = PEER_F32_TOLERANCE
    return max(rtol, 2.0 * math.sqrt(max(reduced, 1)) * float(np.finfo(np.float32).eps)), atol

# ---------------------------------------------------------------------------- kernels

#: Every kernel name a backend must implement, in the order of the contract.
KERNELS = (
    "sgd_step",
    "adam_step",
    "sum_squares",
    "scale_",
    "cosine_schedule",
    "entropy_rows",
    "cross_entropy_rows",
    "kl_divergence_rows",
    "js_divergence_rows",
    "mutual_information",
    "conditional_entropy",
    "softmax_rows",
    "log_softmax_rows",
    "cross_entropy_logits_rows",
    "gaussian_kl",
    "gaussian_entropy",
)


class Kernels(Protocol):
    """Signatures and semantics of every kernel; the formulas are in the module docstring."""

    name: str

    # ------------------------------------------------------------------ optimizers
    # float32 params: float32 arithmetic, every operation rounded (see the module docstring).
    # One calling convention: an optimizer or in-place kernel always hands back the arrays
    # that now hold the result, in argument order: (param, momentum_buffer) for sgd_step,
    # (param, exp_avg, exp_avg_sq, max_exp_avg_sq) for adam_step, x for scale_ (None where the
    # argument was None). A backend that updates in place hands back the very objects it was
    # given; a backend whose arrays are immutable (dask) hands back new ones, and the caller
    # holds those from then on. ``Backend.updates_in_place`` says which, before any call.
    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step) -> tuple:
        """One SGD step on one tensor, in place (param and momentum_buffer).

        Returns ``(param, momentum_buffer)``: the arrays that now hold the result.

        ``momentum_buffer`` has param's shape and dtype when ``momentum != 0``, else it is
        ``None``. ``first_step`` says the buffer holds no history yet: it is set to the
        (decayed) gradient, ``b = g``, instead of ``b = mu*b + (1-dampening)*g``.
        Order: ``g = -g`` if maximize; ``g += wd*p`` if wd != 0; momentum; ``p -= lr*g``.
        """

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step) -> tuple:
        """One Adam (``decoupled=False``) or AdamW (``decoupled=True``) step, in place.

        Returns ``(param, exp_avg, exp_avg_sq, max_exp_avg_sq)``: the arrays that now hold the
        result (``max_exp_avg_sq`` None without AMSGrad).

        ``step`` is the step number t >= 1 after the increment. ``max_exp_avg_sq`` is an array
        when ``amsgrad`` else ``None``. Host scalars come from
        :func:`kernbench._hyper.adam_scalars`.
        """

    def sum_squares(self, x) -> float:
        """sum of x*x over every element, accumulated in float64, as a Python float."""

    def scale_(self, x, factor):
        """x *= factor in place (factor cast to x's dtype); returns the array holding the
        result (x itself, or the new array for an immutable x)."""

    def cosine_schedule(self, steps, total_steps, lr_max, lr_min) -> np.ndarray:
        """The cosine learning rate for each entry of ``steps`` (float64 1-D), float64 out.

        lr(t) = lr_min + (lr_max - lr_min) * (1 + cos(pi * t / T)) / 2 with t clamped to [0, T].
        """

    # ------------------------------------------------------------------ information
    # Kernels with an ``out`` argument fill it and return None, or, when the backend's
    # output_for() gave None (immutable arrays), return the result instead.
    def entropy_rows(self, p) -> tuple[np.ndarray, np.ndarray]:
        """Entropy of each row of the 2-D (R, n) array p, normalized along the row.

        Returns (values float64 (R,), status int8 (R,)). 0 log 0 = 0. A valid value is >= 0.
        """

    def cross_entropy_rows(self, p, q) -> tuple[np.ndarray, np.ndarray]:
        """-sum p log q per row, p and q each normalized. p=0 -> 0 even if q=0; p>0,q=0 -> inf."""

    def kl_divergence_rows(self, p, q) -> tuple[np.ndarray, np.ndarray]:
        """sum p log(p/q) per row, both normalized. p=0 -> 0; p>0, q=0 -> inf. Clipped at 0."""

    def js_divergence_rows(self, p, q) -> tuple[np.ndarray, np.ndarray]:
        """(KL(p||m) + KL(q||m)) / 2 with m = (p+q)/2, normalized; clamped to [0, ln 2]."""

    def mutual_information(self, joint) -> tuple[float, int]:
        """I(X;Y) of the 2-D table ``joint`` (rows X, columns Y), normalized; clipped at 0.

        Returns (value, status) with status as for p.
        """

    def conditional_entropy(self, joint) -> tuple[float, int]:
        """H(Y|X) = H(X,Y) - H(X) of the 2-D table ``joint``; clipped at 0."""

    def softmax_rows(self, x, temperature, out) -> None:
        """out[r] = exp((x[r] - max x[r]) / T) / sum(...) for the 2-D (R, n) array x.

        ``out`` is a C-contiguous array of x's shape and dtype. A row whose max is +inf or that
        holds a NaN comes out all NaN; a -inf logit gives 0; an all -inf row gives NaN.
        """

    def log_softmax_rows(self, x, temperature, out) -> None:
        """out[r] = (x[r] - max x[r]) / T - log(sum exp((x[r] - max x[r]) / T)); NaN as softmax."""

    def cross_entropy_logits_rows(self, logits, targets, ignore_index,
                                  label_smoothing) -> np.ndarray:
        """Per-row loss (float64 (N,)) of logits (N, V) against int64 targets (N,).

        loss = (1-eps) * (lse - x[y]) + eps * (lse - mean(x)), lse = logsumexp of the row;
        with eps == 0 the smoothing term is left out entirely (0 * inf would be NaN).
        Rows whose target equals ``ignore_index`` get 0. Targets are already checked to lie in
        [0, V) or equal ignore_index. A row holding +inf or NaN gives NaN, as in torch.
        """

    def gaussian_kl(self, mu1, sigma1, mu2, sigma2, out) -> None:
        """out = (log s2 - log s1) + ((r - 1)(r + 1) + t**2) / 2, elementwise, where
        r = s1/s2 and t = (m1-m2)/s2: the spec's log(s2/s1) + (s1² + (m1-m2)²)/(2 s2²) - 1/2.

        The log of each sigma, never of ``s2 / s1`` (which overflows float32 for s1 = 0.1,
        s2 = 3.4e38, where the true value is about 90.5), and squares of quotients, never of a
        sigma (``s1**2`` overflows for sigmas above 1.8e19 in float32). ``r**2 - 1`` is formed
        as the product ``(r - 1)(r + 1)``, whose factor ``r - 1`` is exact near 1, never as
        ``r*r + ... - 1/2``: with equal sigmas that sum cancels in float32 (``1 + 6e-9 - 1``
        is 0), while the product leaves ``t**2 / 2`` intact, so float32 and float64
        evaluations agree on which results are exactly 0. Equal inputs give exactly 0.

        Inputs are already broadcast to out's shape (possibly zero-stride views) and cast to
        out's dtype; ``out`` is C-contiguous.
        """

    def gaussian_entropy(self, sigma, out) -> None:
        """out = log(2 pi e)/2 + log(sigma), elementwise (the differential entropy)."""


# ---------------------------------------------------------------------------- array hooks

#: The methods of :class:`Backend` besides the kernels, in the order they are defined: the
#: array hooks, ``adam_steps`` and ``synchronize``. Each has a working default; a backend that
#: overrides one keeps its signature.
HOOKS = (
    "as_array",
    "new_output",
    "output_for",
    "common_float",
    "as_rows",
    "from_rows",
    "deliver",
    "broadcast_to",
    "first_not_positive",
    "as_targets",
    "as_param",
    "check_grad",
    "updates_in_place",
    "zeros_like",
    "to_numpy",
    "from_numpy",
    "adam_steps",
    "synchronize",
)


class Backend:
    """Base of every backend: a name, whether it can run here, and its array plumbing.

    The plumbing methods (the array hooks) let the public layer and the optimizers hold arrays
    that are not NumPy arrays (device arrays for ``cuda``, dask arrays for ``dask``) without
    knowing what they are. The defaults here are for backends that compute on NumPy arrays in
    place; the kernels (:class:`Kernels`) have no default.
    """

    name = ""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend runs here, else one sentence saying why not."""
        return None

    def as_array(self, x, name: str):
        """An input of an information function as an array this backend computes on.

        The default: a float32/float64 NumPy array (integer input becomes float64).
        """
        return float_array(x, name)

    def new_output(self, shape: tuple, dtype):
        """The ``out`` array for kernels that fill one; None tells the kernel to return its
        result instead (a backend whose arrays are immutable)."""
        return np.empty(shape, dtype=dtype)

    # The hooks below shape the arrays that ``as_array`` made for the kernels. The defaults
    # use NumPy functions, which dask arrays honour too; a backend whose arrays NumPy cannot
    # handle (device arrays for ``cuda``) overrides them.

    def output_for(self, shape: tuple, dtype, *inputs):
        """The ``out`` array of a kernel reading ``inputs`` (see new_output)."""
        return self.new_output(shape, dtype)

    def common_float(self, arrays: dict) -> tuple[dict, np.dtype]:
        """Arguments converted by as_array (keyed by argument name), cast to their common
        float dtype; that dtype."""
        converted = {name: self.as_array(a, name) for name, a in arrays.items()}
        dtype = np.result_type(*(a.dtype for a in converted.values()))
        return {k: a.astype(dtype, copy=False) for k, a in converted.items()}, dtype

    def as_rows(self, a, axis: int, name: str) -> tuple:
        """(rows, lead): a 2-D (R, n) array of ``a`` with ``axis`` (non-negative) last, a view
        where strides allow, and the shape of the other axes."""
        moved = np.moveaxis(a, axis, -1)
        return moved.reshape(-1, moved.shape[-1]), moved.shape[:-1]

    def from_rows(self, out, shape: tuple, axis: int):
        """The (R, n) output of a row-wise kernel over ``as_rows(a, axis)``, in a's ``shape``."""
        moved = list(shape)
        moved.append(moved.pop(axis))
        return np.moveaxis(out.reshape(moved), -1, axis)

    def deliver(self, out, *inputs):
        """An output as large as the input, as the caller gets it (``inputs``: the caller's
        own arguments, before as_array)."""
        return out

    def broadcast_to(self, a, shape: tuple, name: str):
        """a (from common_float) broadcast to ``shape``, for an elementwise kernel."""
        return np.broadcast_to(a, shape)

    def first_not_positive(self, a):
        """The first entry of a that is <= 0, as a float, or None when every entry is > 0
        (NaN is not <= 0)."""
        if type(a) is np.ndarray:
            if not np.count_nonzero(a <= 0):  # a third cheaper than np.any on small arrays
                return None
        elif not np.any(a <= 0):
            return None
        a = np.asarray(a)  # only on the error path: gathers a dask array to name the value
        return float(a[a <= 0].flat[0])

    def as_targets(self, targets, n_rows: int, n_classes: int, ignore_index) -> tuple:
        """(targets, ignore_index, rows not ignored) of cross_entropy_logits, checked: integer
        class indices of shape (n_rows,), each in [0, n_classes) or equal to ignore_index."""
        return class_targets(targets, n_rows, n_classes, ignore_index)

    def as_param(self, p, name: str):
        """p checked (and, if the backend needs it, converted) as an optimizer param."""
        return param_array(p, name)

    def check_grad(self, g, p, name: str, param_name: str) -> None:
        """Raise unless g can be the gradient of param p (same shape and dtype)."""
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array or None; got {type(g).__name__}")
        if g.shape != p.shape:
            raise ValueError(f"{name} has shape {g.shape}; {param_name} has {p.shape}")
        if g.dtype != p.dtype:
            raise ValueError(f"{name} has dtype {g.dtype}; {param_name} has {p.dtype}")

    def updates_in_place(self, a) -> bool:
        """Whether the kernels update array ``a`` (as ``as_param`` gave it) in place and hand
        it back; False for an immutable array (dask), for which they hand back a new one."""
        return True

    def zeros_like(self, p):
        """A new zero-filled state array for param p (C-contiguous)."""
        return np.zeros(p.shape, dtype=p.dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A NumPy copy of a state array, for state_dict()."""
        return np.array(a, copy=True)

    def from_numpy(self, a: np.ndarray, like):
        """A state array of the backend's kind holding a copy of a, shaped and typed as like."""
        return np.array(a, dtype=like.dtype, copy=True)

    def adam_steps(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1,
                   beta2, eps, weight_decay, decoupled, amsgrad, maximize, steps, cache=None):
        """One Adam step over many tensors (a model): ``adam_step`` on each, ``steps[k]`` being
        tensor k's step count. ``max_exp_avg_sqs[k]`` is ignored without AMSGrad. ``cache`` is
        a dict the caller keeps between steps, for a backend to remember what it derived from
        the same tensors. A backend can override this to update all tensors in one call.

        Returns one ``adam_step`` result per tensor, ``(param, exp_avg, exp_avg_sq,
        max_exp_avg_sq)``: the arrays that now hold the result (the same objects for a backend
        that updates in place, new ones for immutable arrays).
        """
        return [self.adam_step(p, g, m, v, vm if amsgrad else None, lr=lr, beta1=beta1,
                               beta2=beta2, eps=eps, weight_decay=weight_decay,
                               decoupled=decoupled, amsgrad=amsgrad, maximize=maximize, step=t)
                for p, g, m, v, vm, t in zip(params, grads, exp_avgs, exp_avg_sqs,
                                             max_exp_avg_sqs, steps)]

    def synchronize(self) -> None:
        """Wait until every kernel this backend has started is done.

        The default does nothing: a kernel of a backend that computes on the host has finished
        when its call returns. A backend whose calls return before the work is done (kernels
        queued on a GPU) overrides it; the benchmark runner calls it after each timed call,
        never the kernels themselves.
        """

    def __repr__(self) -> str:
        return f"<kernbench backend {self.name!r}>"
