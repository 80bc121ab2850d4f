"""The lecture's experiments, each one function returning a small result object.

Every experiment calls kernbench's public API (``kernbench.optim`` and ``kernbench.info``) with a
``backend=`` argument; the ones that compare backends take ``backends=None`` meaning "every
backend :func:`kernbench.available_backends` lists here". Nothing here draws: see
:mod:`kernbench.lecture.plots`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

import kernbench as kb
from kernbench import info
from kernbench.optim import SGD, Adam, AdamW, clip_grad_norm

__all__ = [
    "LANDSCAPE_OPTIMIZERS",
    "MOMENTUM_LR",
    "ClippingResult",
    "GaussianKLResult",
    "LandscapeResult",
    "MaxEntropyResult",
    "SourceCodingResult",
    "TemperatureResult",
    "TimingResult",
    "XORResult",
    "clipping_experiment",
    "default_backend",
    "gaussian_kl_experiment",
    "huffman_code_lengths",
    "landscape_experiment",
    "max_entropy_experiment",
    "run_quadratic",
    "sgd_timing_experiment",
    "source_coding_experiment",
    "steps_to_target",
    "temperature_experiment",
    "xor_experiment",
]


def default_backend() -> str:
    """The backend single-backend experiments use: numba when it runs here, else numpy."""
    names = kb.available_backends()
    for preferred in ("numba", "numpy"):
        if preferred in names:
            return preferred
    return names[0]


def _backends(backends) -> list[str]:
    return list(kb.available_backends() if backends is None else backends)


def _current(opt, i: int = 0) -> np.ndarray:
    """The optimizer's current value of param ``i`` as a NumPy array (dask keeps its own)."""
    return np.asarray(opt.params[i])


# ============================================================== 1. optimization landscape

#: lr for SGD with momentum 0.9 and for Nesterov on the kappa = 100 landscape. The largest
#: curvature is 2*kappa = 200. Heavy-ball momentum is stable for lr*200 < 2(1 + mu) = 3.8
#: (lr < 0.019); Nesterov (torch's form) only for lr*200 < 2(1 + mu)/(1 + 2 mu) = 1.36
#: (lr < 0.0068). 0.005 is inside both, so the two momentum methods share one lr.
MOMENTUM_LR = 0.005

#: name -> (optimizer class, keyword arguments)
LANDSCAPE_OPTIMIZERS = {
    "SGD": (SGD, dict(lr=0.009)),
    "Momentum": (SGD, dict(lr=MOMENTUM_LR, momentum=0.9)),
    "Nesterov": (SGD, dict(lr=MOMENTUM_LR, momentum=0.9, nesterov=True)),
    "Adam": (Adam, dict(lr=0.1)),
}


def quadratic_loss(theta, kappa: float) -> float:
    """L(theta) = theta1^2 + kappa * theta2^2."""
    return float(theta[0] ** 2 + kappa * theta[1] ** 2)


def quadratic_grad(theta, kappa: float) -> np.ndarray:
    return np.array([2.0 * theta[0], 2.0 * kappa * theta[1]], dtype=np.float64)


def run_quadratic(method: str, kappa: float, steps: int, backend: str, start=(1.0, 1.0),
                  spec=None) -> tuple[np.ndarray, np.ndarray]:
    """Trajectory (steps+1, 2) and loss (steps+1,) of ``method`` on the quadratic, float64."""
    cls, kwargs = spec if spec is not None else LANDSCAPE_OPTIMIZERS[method]
    theta = np.array(start, dtype=np.float64)
    opt = cls([theta], backend=backend, **kwargs)
    traj = np.empty((steps + 1, 2))
    traj[0] = theta
    for k in range(steps):
        opt.step([quadratic_grad(traj[k], kappa)])
        traj[k + 1] = _current(opt)
    losses = traj[:, 0] ** 2 + kappa * traj[:, 1] ** 2
    return traj, losses


def steps_to_target(spec, kappa: float, backend: str, target: float = 1e-4,
                    max_steps: int = 5000, start=(1.0, 1.0),
                    diverge_above: float = 1e12) -> tuple[int | None, str]:
    """(steps, status): the first step whose loss is below ``target``.

    status is "reached", "not reached in N steps" or "diverged at step k" (steps is None then).
    """
    cls, kwargs = spec
    theta = np.array(start, dtype=np.float64)
    opt = cls([theta], backend=backend, **kwargs)
    cur = theta.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, max_steps + 1):
            opt.step([quadratic_grad(cur, kappa)])
            cur = _current(opt).copy()
            loss = quadratic_loss(cur, kappa)
            if loss < target:
                return k, "reached"
            if not math.isfinite(loss) or loss > diverge_above:
                return None, f"diverged at step {k}"
    return None, f"not reached in {max_steps} steps"


def table_methods() -> dict:
    """The optimizers of the steps-to-target table: the lecture's two plus SGD at its best lr."""
    return {
        "SGD (lr 0.009)": lambda kappa: (SGD, dict(lr=0.009)),
        # the best constant lr on a quadratic: 2 / (lambda_min + lambda_max) = 1 / (1 + kappa)
        "SGD (lr 1/(1+kappa))": lambda kappa: (SGD, dict(lr=1.0 / (1.0 + kappa))),
        "Adam (lr 0.1)": lambda kappa: (Adam, dict(lr=0.1)),
    }


@dataclass
class LandscapeResult:
    kappa: float
    steps: int
    backend: str                              # the reference backend of the trajectories
    backends: list
    trajectories: dict                        # method -> (steps+1, 2) on the reference backend
    losses: dict                              # method -> (steps+1,)
    backend_trajectories: dict                # backend -> method -> (steps+1, 2)
    max_abs_diff: dict                        # method -> backend -> max |traj - reference|
    kappas: tuple
    target: float
    max_steps: int
    steps_table: dict                         # method -> kappa -> (steps or None, status)
    hyper: dict = field(default_factory=dict)  # method -> kwargs

    def final_loss(self, method: str) -> float:
        return float(self.losses[method][-1])


def landscape_experiment(kappa: float = 100.0, steps: int = 100, kappas=(1, 10, 100, 1000),
                         target: float = 1e-4, max_steps: int = 5000, backends=None,
                         backend: str | None = None) -> LandscapeResult:
    """Trajectories of SGD, momentum, Nesterov and Adam on theta1^2 + kappa theta2^2 from (1, 1),
    on every backend, and the steps each needs to bring the loss below ``target``."""
    names = _backends(backends)
    ref = backend or (default_backend() if default_backend() in names else names[0])
    per_backend = {}
    for b in names:
        per_backend[b] = {m: run_quadratic(m, kappa, steps, b)[0] for m in LANDSCAPE_OPTIMIZERS}
    if ref not in per_backend:
        per_backend[ref] = {m: run_quadratic(m, kappa, steps, ref)[0]
                            for m in LANDSCAPE_OPTIMIZERS}
    trajectories = per_backend[ref]
    losses = {m: t[:, 0] ** 2 + kappa * t[:, 1] ** 2 for m, t in trajectories.items()}
    diff = {m: {b: float(np.max(np.abs(per_backend[b][m] - trajectories[m]))) for b in names}
            for m in LANDSCAPE_OPTIMIZERS}
    table = {}
    for name, make in table_methods().items():
        table[name] = {k: steps_to_target(make(k), k, ref, target, max_steps) for k in kappas}
    return LandscapeResult(kappa=kappa, steps=steps, backend=ref, backends=names,
                           trajectories=trajectories, losses=losses,
                           backend_trajectories=per_backend, max_abs_diff=diff,
                           kappas=tuple(kappas), target=target, max_steps=max_steps,
                           steps_table=table,
                           hyper={m: dict(kw) for m, (_, kw) in LANDSCAPE_OPTIMIZERS.items()})


# ============================================================== 2. loops vs NumPy vs Numba

@dataclass
class TimingResult:
    d: int
    steps: int
    lr: float
    repeats: int
    seconds: dict          # label -> seconds for ``steps`` steps (measured or scaled)
    measured_steps: dict   # label -> steps actually timed
    first_step_seconds: dict  # backend -> first (warm-up) step, compile included
    claim: str = "NumPy 100-500x faster than Python loops"

    def speedup(self, fast: str, slow: str = "python") -> float:
        return self.seconds[slow] / self.seconds[fast]


def _best_time(fn, n: int, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best


def sgd_timing_experiment(d: int = 10_000, steps: int = 1000, python_steps: int = 20,
                          lr: float = 0.01, repeats: int = 3, backends=None,
                          lecture_style: bool = True, seed: int = 0) -> TimingResult:
    """The lecture's measurement: a plain SGD update (p -= lr * g) over ``d`` float64 params for
    ``steps`` steps, timed per backend through ``kernbench.optim.SGD``.

    The first step of each backend is a warm-up (it compiles Numba kernels or loads them from
    the cache) and is reported apart. The ``python`` backend times ``python_steps`` steps and is
    scaled to ``steps``. With ``lecture_style`` the lecture's own two snippets are timed beside
    them: ``for i in range(d): p[i] -= lr * g[i]`` (scaled the same way) and ``p -= lr * g``.
    Times are the best of ``repeats``.
    """
    rng = np.random.default_rng(seed)
    grad = rng.standard_normal(d)
    seconds, measured, first_s = {}, {}, {}
    for b in _backends(backends):
        param = rng.standard_normal(d)
        opt = SGD([param], lr=lr, backend=b)
        start = time.perf_counter()
        opt.step([grad])
        first_s[b] = time.perf_counter() - start
        n = min(python_steps, steps) if b == "python" else steps
        t = _best_time(lambda opt=opt: opt.step([grad]), n, repeats)
        seconds[b] = t * steps / n
        measured[b] = n
    if lecture_style:
        p = rng.standard_normal(d)

        def loop():
            for i in range(d):
                p[i] -= lr * grad[i]

        def vectorized():
            nonlocal p
            p -= lr * grad

        n = min(python_steps, steps)
        seconds["lecture loop"] = _best_time(loop, n, repeats) * steps / n
        measured["lecture loop"] = n
        seconds["lecture numpy"] = _best_time(vectorized, steps, repeats)
        measured["lecture numpy"] = steps
    return TimingResult(d=d, steps=steps, lr=lr, repeats=repeats, seconds=seconds,
                        measured_steps=measured, first_step_seconds=first_s)


# ============================================================== 3. temperature

@dataclass
class TemperatureResult:
    logits: np.ndarray
    temperatures: np.ndarray
    entropies: np.ndarray
    low_limit: float       # 0: T -> 0 puts all mass on the largest logit
    high_limit: float      # ln n: T -> infinity gives the uniform distribution
    backend: str


def temperature_experiment(logits=(2.0, 1.0, 0.5, 0.1), t_min: float = 0.01,
                           t_max: float = 100.0, num: int = 81,
                           backend: str | None = None) -> TemperatureResult:
    """Entropy of softmax(logits / T) for T log-spaced over [t_min, t_max]."""
    b = backend or default_backend()
    x = np.asarray(logits, dtype=np.float64)
    temps = np.logspace(math.log10(t_min), math.log10(t_max), num)
    ent = np.array([info.entropy(info.softmax(x, temperature=t, backend=b), backend=b)
                    for t in temps])
    return TemperatureResult(logits=x, temperatures=temps, entropies=ent, low_limit=0.0,
                             high_limit=math.log(x.size), backend=b)


# ============================================================== 4. Gaussian KL by Monte Carlo

@dataclass
class GaussianKLResult:
    mu1: float
    sigma1: float
    mu2: float
    sigma2: float
    closed_form: float          # kernbench's gaussian_kl
    ns: np.ndarray
    estimates: np.ndarray       # (repeats, len(ns)): mean of log p(x) - log q(x), x ~ p
    log_ratio_std: float        # std of log p(x) - log q(x), from the largest sample
    seed: int
    backend: str

    @property
    def rms_error(self) -> np.ndarray:
        return np.sqrt(np.mean((self.estimates - self.closed_form) ** 2, axis=0))

    @property
    def predicted_error(self) -> np.ndarray:
        """The standard error sigma / sqrt(N) of the Monte Carlo mean."""
        return self.log_ratio_std / np.sqrt(self.ns)

    def estimate(self, n: int, repeat: int = 0) -> float:
        return float(self.estimates[repeat, list(self.ns).index(n)])


def _normal_logpdf(x, mu, sigma):
    return -0.5 * math.log(2.0 * math.pi) - math.log(sigma) - (x - mu) ** 2 / (2.0 * sigma ** 2)


def gaussian_kl_experiment(mu1: float = 1.0, sigma1: float = 2.0, mu2: float = 0.0,
                           sigma2: float = 1.0, ns=(100, 316, 1000, 3162, 10_000, 31_623,
                                                    100_000, 316_228, 1_000_000),
                           repeats: int = 10, seed: int = 0,
                           backend: str | None = None) -> GaussianKLResult:
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) in closed form against its Monte Carlo estimate.

    Repeat r uses ``np.random.default_rng([seed, r])`` and draws fresh samples for each N.
    """
    b = backend or default_backend()
    closed = float(info.gaussian_kl(mu1, sigma1, mu2, sigma2, backend=b))
    ns = np.asarray(ns, dtype=np.int64)
    est = np.empty((repeats, ns.size))
    std = float("nan")
    for r in range(repeats):
        rng = np.random.default_rng([seed, r])
        for j, n in enumerate(ns):
            x = rng.normal(mu1, sigma1, size=int(n))
            ratio = _normal_logpdf(x, mu1, sigma1) - _normal_logpdf(x, mu2, sigma2)
            est[r, j] = ratio.mean()
            if r == 0 and j == ns.size - 1:
                std = float(ratio.std())
    return GaussianKLResult(mu1=mu1, sigma1=sigma1, mu2=mu2, sigma2=sigma2, closed_form=closed,
                            ns=ns, estimates=est, log_ratio_std=std, seed=seed, backend=b)


# ============================================================== 5. maximum entropy

@dataclass
class MaxEntropyResult:
    ns: tuple
    distributions: dict   # n -> final p
    starts: dict          # n -> starting p
    entropies: dict       # n -> H(final p), nats
    histories: dict       # n -> H after each SLSQP iteration (start first)
    max_deviation: dict   # n -> max |p - 1/n|
    iterations: dict
    success: dict
    backend: str


def max_entropy_experiment(ns=(2, 4, 16), seed: int = 0, ftol: float = 1e-14,
                           backend: str | None = None) -> MaxEntropyResult:
    """Maximize H(p) over the simplex with scipy's SLSQP, using kernbench's entropy (negated)
    and its gradient: d(-H)/dp = log p + 1 (the constant 1 is normal to the simplex)."""
    from scipy.optimize import minimize

    b = backend or default_backend()
    rng = np.random.default_rng(seed)
    out = dict(distributions={}, starts={}, entropies={}, histories={}, max_deviation={},
               iterations={}, success={})
    for n in ns:
        p0 = rng.dirichlet(np.full(n, 0.5))
        p0 = np.clip(p0, 1e-3, None)
        p0 /= p0.sum()
        history = [float(info.entropy(p0, backend=b))]

        def objective(p):
            return -float(info.entropy(p, backend=b))

        def gradient(p):
            return np.log(p) + 1.0

        res = minimize(objective, p0, jac=gradient, method="SLSQP",
                       bounds=[(1e-12, 1.0)] * n,
                       constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1.0,
                                     "jac": lambda p: np.ones_like(p)}],
                       callback=lambda p, h=history: h.append(float(info.entropy(p, backend=b))),
                       options={"ftol": ftol, "maxiter": 500})
        p = res.x / res.x.sum()
        out["distributions"][n] = p
        out["starts"][n] = p0
        out["entropies"][n] = float(info.entropy(p, backend=b))
        out["histories"][n] = np.array(history)
        out["max_deviation"][n] = float(np.max(np.abs(p - 1.0 / n)))
        out["iterations"][n] = int(res.nit)
        out["success"][n] = bool(res.success)
    return MaxEntropyResult(ns=tuple(ns), backend=b, **out)


# ============================================================== 6. XOR with AdamW

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def xor_init(hidden: int = 8, seed: int = 0) -> list[np.ndarray]:
    """Seeded params of the 2-hidden-1 network: W1 (2, h), b1 (h,), W2 (h, 1), b2 (1,)."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 1.0, size=(2, hidden)), np.zeros(hidden),
            rng.normal(0.0, 1.0 / math.sqrt(hidden), size=(hidden, 1)), np.zeros(1)]


def xor_loss_and_grads(params, x=XOR_X, y=XOR_Y) -> tuple[float, list[np.ndarray]]:
    """Binary cross-entropy of sigmoid(tanh(x W1 + b1) W2 + b2) against y, and its gradients."""
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    # BCE from logits, stable: softplus(z) - y z
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    dz = (1.0 / (1.0 + np.exp(-z)) - y) / x.shape[0]
    da = (dz @ w2.T) * (1.0 - h * h)
    return loss, [x.T @ da, da.sum(axis=0), h.T @ dz, dz.sum(axis=0)]


def xor_predict(params, x=XOR_X) -> np.ndarray:
    w1, b1, w2, b2 = params
    return (1.0 / (1.0 + np.exp(-(np.tanh(x @ w1 + b1) @ w2 + b2)))).ravel()


@dataclass
class XORResult:
    steps: int
    lr: float
    weight_decay: float
    hidden: int
    seed: int
    losses: dict            # backend -> (steps,) loss before each step
    final_loss: dict        # backend -> loss after the last step
    predictions: dict       # backend -> (4,) outputs after training
    step_seconds: dict      # backend -> median seconds of one opt.step (33 params)
    max_loss_diff: float    # largest |loss_b - loss_ref| over steps and backends


def xor_experiment(backends=None, steps: int = 1000, lr: float = 0.05,
                   weight_decay: float = 1e-2, hidden: int = 8, seed: int = 0) -> XORResult:
    """Train the 2-8-1 tanh/sigmoid network on XOR with each backend's AdamW."""
    names = _backends(backends)
    losses, final, preds, step_s = {}, {}, {}, {}
    for b in names:
        params = xor_init(hidden, seed)
        opt = AdamW(params, lr=lr, weight_decay=weight_decay, backend=b)
        curve = np.empty(steps)
        times = np.empty(steps)
        cur = params
        for k in range(steps):
            curve[k], grads = xor_loss_and_grads(cur)
            start = time.perf_counter()
            opt.step(grads)
            times[k] = time.perf_counter() - start
            cur = [_current(opt, i) for i in range(len(params))]
        losses[b] = curve
        final[b] = xor_loss_and_grads(cur)[0]
        preds[b] = xor_predict(cur)
        # the first step allocates state (and may compile): leave it out of the median
        step_s[b] = float(np.median(times[1:])) if steps > 1 else float(times[0])
    ref = losses[names[0]]
    diff = max(float(np.max(np.abs(c - ref))) for c in losses.values())
    return XORResult(steps=steps, lr=lr, weight_decay=weight_decay, hidden=hidden, seed=seed,
                     losses=losses, final_loss=final, predictions=preds, step_seconds=step_s,
                     max_loss_diff=diff)


# ============================================================== 7. source coding

def huffman_code_lengths(p) -> list[int]:
    """Code length of each symbol in a binary Huffman code for probabilities (or counts) p."""
    probs = [float(x) for x in p]
    if len(probs) < 2:
        return [1] * len(probs)  # one symbol still needs one bit to be sent
    lengths = [0] * len(probs)
    tie = itertools.count()
    heap = [(w, next(tie), [i]) for i, w in enumerate(probs)]
    heapq.heapify(heap)
    while len(heap) > 1:
        w1, _, s1 = heapq.heappop(heap)
        w2, _, s2 = heapq.heappop(heap)
        for i in s1 + s2:
            lengths[i] += 1
        heapq.heappush(heap, (w1 + w2, next(tie), s1 + s2))
    return lengths


DISTRIBUTIONS = {
    "uniform 4": [0.25, 0.25, 0.25, 0.25],
    "dyadic": [0.5, 0.25, 0.125, 0.125],
    "skewed": [0.9, 0.05, 0.03, 0.02],
    "coin 0.99": [0.99, 0.01],
    "uniform 5": [0.2] * 5,
    "geometric 8": [2.0 ** -k for k in range(1, 8)] + [2.0 ** -7],
    "English-like": [0.127, 0.091, 0.082, 0.075, 0.070, 0.067, 0.063, 0.061, 0.060, 0.043,
                     0.040, 0.028, 0.028, 0.024, 0.024, 0.022, 0.020, 0.020, 0.019, 0.015,
                     0.010, 0.008, 0.002, 0.002, 0.001, 0.001],
}


@dataclass
class SourceCodingResult:
    rows: list   # dicts: name, p, lengths, entropy_bits, mean_length, kraft, bound_holds
    backend: str

    @property
    def all_bounds_hold(self) -> bool:
        return all(r["bound_holds"] for r in self.rows)


def source_coding_experiment(distributions=None, seed: int = 0,
                             backend: str | None = None) -> SourceCodingResult:
    """Huffman code lengths against H(X) <= L < H(X) + 1 (bits) for several distributions,
    plus one seeded random distribution over 10 symbols."""
    b = backend or default_backend()
    dists = dict(DISTRIBUTIONS if distributions is None else distributions)
    if distributions is None:
        dists["random 10"] = list(np.random.default_rng(seed).dirichlet(np.ones(10)))
    rows = []
    for name, p in dists.items():
        p = np.asarray(p, dtype=np.float64)
        p = p / p.sum()
        lengths = huffman_code_lengths(p)
        h = float(info.entropy(p, base=2, backend=b))
        mean_len = float(np.dot(p, lengths))
        kraft = float(np.sum(2.0 ** -np.asarray(lengths, dtype=np.float64)))
        rows.append(dict(name=name, p=p, lengths=lengths, entropy_bits=h, mean_length=mean_len,
                         kraft=kraft, bound_holds=bool(h - 1e-12 <= mean_len < h + 1.0)))
    return SourceCodingResult(rows=rows, backend=b)


# ============================================================== 8. gradient clipping

@dataclass
class ClippingResult:
    example_grad: np.ndarray       # [6, 8]
    example_norm: float            # returned by clip_grad_norm: 10
    example_clipped: np.ndarray    # ~[0.6, 0.8]
    example_clipped_norm: float    # ~1
    kappa: float
    lr: float
    max_norm: float
    steps: int
    pre_norms: np.ndarray          # per step, before clipping
    post_norms: np.ndarray         # per step, after clipping
    losses: np.ndarray             # clipped run, (steps+1,)
    unclipped_losses: np.ndarray   # same lr without clipping, (steps+1,), inf once diverged
    backend: str


def clipping_experiment(kappa: float = 1000.0, lr: float = 0.0015, max_norm: float = 10.0,
                        steps: int = 400, backend: str | None = None) -> ClippingResult:
    """The lecture's example (grad [6, 8], max_norm 1) and SGD on the kappa quadratic with
    clipping. The default lr is past the stability limit 1/kappa: unclipped, the run diverges;
    clipped, every step is at most lr * max_norm long: theta2 oscillates with a bounded amplitude
    (the loss it leaves is set by lr and max_norm) while theta1 still converges."""
    b = backend or default_backend()
    g = np.array([6.0, 8.0])
    norm = clip_grad_norm([g], 1.0, backend=b)
    example_clipped_norm = float(np.linalg.norm(g))

    theta = np.array([1.0, 1.0])
    opt = SGD([theta], lr=lr, backend=b)
    cur = theta.copy()
    pre, post = np.empty(steps), np.empty(steps)
    losses = np.empty(steps + 1)
    losses[0] = quadratic_loss(cur, kappa)
    for k in range(steps):
        grad = quadratic_grad(cur, kappa)
        pre[k] = clip_grad_norm([grad], max_norm, backend=b)
        post[k] = float(np.linalg.norm(grad))
        opt.step([grad])
        cur = _current(opt).copy()
        losses[k + 1] = quadratic_loss(cur, kappa)

    theta = np.array([1.0, 1.0])
    opt = SGD([theta], lr=lr, backend=b)
    cur = theta.copy()
    free = np.full(steps + 1, np.inf)
    free[0] = quadratic_loss(cur, kappa)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps):
            opt.step([quadratic_grad(cur, kappa)])
            cur = _current(opt).copy()
            loss = quadratic_loss(cur, kappa)
            if not math.isfinite(loss) or loss > 1e300:
                break
            free[k + 1] = loss
    return ClippingResult(example_grad=np.array([6.0, 8.0]), example_norm=float(norm),
                          example_clipped=g, example_clipped_norm=example_clipped_norm,
                          kappa=kappa, lr=lr, max_norm=max_norm, steps=steps, pre_norms=pre,
                          post_norms=post, losses=losses, unclipped_losses=free, backend=b)
