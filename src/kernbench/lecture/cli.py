"""``kernbench lecture --out DIR``: run every lecture experiment, write the figures and README.md.

``python -m kernbench.lecture --out DIR`` does the same. ``--quick`` runs small settings (a few
seconds; used by the tests); the committed report in ``reports/lecture/`` is the full run.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import kernbench as kb
from kernbench.lecture import experiments as ex
from kernbench.lecture import plots

#: settings per mode: experiment -> keyword arguments
SETTINGS = {
    "full": {
        "landscape": dict(kappa=100.0, steps=100, kappas=(1, 10, 100, 1000), max_steps=5000),
        "timing": dict(d=10_000, steps=1000, python_steps=20, repeats=3),
        "temperature": dict(num=81),
        "gaussian_kl": dict(repeats=10),
        "max_entropy": dict(ns=(2, 4, 16)),
        "xor": dict(steps=1000),
        "source_coding": dict(),
        "clipping": dict(steps=400),
    },
    "quick": {
        "landscape": dict(kappa=100.0, steps=100, kappas=(1, 100), max_steps=1000),
        "timing": dict(d=1000, steps=50, python_steps=5, repeats=1),
        "temperature": dict(num=21),
        "gaussian_kl": dict(ns=(100, 1000, 10_000), repeats=2),
        "max_entropy": dict(ns=(2, 4)),
        "xor": dict(steps=300),
        "source_coding": dict(),
        "clipping": dict(steps=100),
    },
}

FIGURES = {
    "landscape": "landscape.png",
    "steps": "steps_to_target.png",
    "timing": "sgd_timing.png",
    "temperature": "temperature.png",
    "gaussian_kl": "gaussian_kl.png",
    "max_entropy": "max_entropy.png",
    "xor": "xor_adamw.png",
    "source_coding": "source_coding.png",
    "clipping": "clipping.png",
}


def run_all(quick: bool = False, backends=None, log=print) -> dict:
    """Run the eight experiments in order; a dict of their results and seconds taken."""
    cfg = SETTINGS["quick" if quick else "full"]
    names = ex._backends(backends)
    b = ex.default_backend() if ex.default_backend() in names else names[0]
    results, seconds = {}, {}
    steps = [
        ("landscape", lambda: ex.landscape_experiment(backends=names, backend=b,
                                                     **cfg["landscape"])),
        ("timing", lambda: ex.sgd_timing_experiment(backends=names, **cfg["timing"])),
        ("temperature", lambda: ex.temperature_experiment(backend=b, **cfg["temperature"])),
        ("gaussian_kl", lambda: ex.gaussian_kl_experiment(backend=b, **cfg["gaussian_kl"])),
        ("max_entropy", lambda: ex.max_entropy_experiment(backend=b, **cfg["max_entropy"])),
        ("xor", lambda: ex.xor_experiment(backends=names, **cfg["xor"])),
        ("source_coding", lambda: ex.source_coding_experiment(backend=b,
                                                             **cfg["source_coding"])),
        ("clipping", lambda: ex.clipping_experiment(backend=b, **cfg["clipping"])),
    ]
    for i, (name, fn) in enumerate(steps, 1):
        start = time.perf_counter()
        results[name] = fn()
        seconds[name] = time.perf_counter() - start
        log(f"[{i}/{len(steps)}] {name}: {seconds[name]:.2f} s")
    return {"results": results, "seconds": seconds, "backends": names, "backend": b,
            "quick": quick}


def write_figures(run: dict, out: Path) -> dict:
    r = run["results"]
    makers = {
        "landscape": (plots.plot_landscape, r["landscape"]),
        "steps": (plots.plot_steps_table, r["landscape"]),
        "timing": (plots.plot_timing, r["timing"]),
        "temperature": (plots.plot_temperature, r["temperature"]),
        "gaussian_kl": (plots.plot_gaussian_kl, r["gaussian_kl"]),
        "max_entropy": (plots.plot_max_entropy, r["max_entropy"]),
        "xor": (plots.plot_xor, r["xor"]),
        "source_coding": (plots.plot_source_coding, r["source_coding"]),
        "clipping": (plots.plot_clipping, r["clipping"]),
    }
    paths = {}
    for key, (fn, res) in makers.items():
        paths[key] = out / FIGURES[key]
        fn(res, paths[key])
    return paths


# ------------------------------------------------------------------------------ README

def _fmt_steps(entry) -> str:
    steps, status = entry
    return str(steps) if steps is not None else status


def _section_landscape(res) -> list[str]:
    k = res.kappa
    lines = [
        "## 1. Optimization landscape",
        "",
        f"L(θ) = θ1² + κ·θ2² from (1, 1), float64, {res.steps} steps, κ = {k:g}. "
        f"Momentum and Nesterov use lr {ex.MOMENTUM_LR} (momentum 0.9): the largest curvature "
        f"is 2κ = {2 * k:g}, heavy-ball momentum is stable for lr·{2 * k:g} < 2(1 + μ) = 3.8 "
        f"(lr < {3.8 / (2 * k):.4g}) and Nesterov only for lr·{2 * k:g} < 2(1 + μ)/(1 + 2μ) "
        f"≈ 1.36 (lr < {2 * 1.9 / 2.8 / (2 * k):.4g}); {ex.MOMENTUM_LR} is inside both.",
        "",
        f"![trajectories and loss]({FIGURES['landscape']})",
        "",
        "| optimizer | hyperparameters | loss after "
        f"{res.steps} steps | max abs difference from `{res.backend}` |",
        "|---|---|---|---|",
    ]
    for m, loss in res.losses.items():
        hyper = ", ".join(f"{a}={b}" for a, b in res.hyper[m].items())
        diffs = ", ".join(f"{b}: {d:.1e}" for b, d in res.max_abs_diff[m].items()
                          if b != res.backend) or "(one backend)"
        lines.append(f"| {m} | {hyper} | {loss[-1]:.3e} | {diffs} |")
    worst = max(d for row in res.max_abs_diff.values() for d in row.values())
    lines += [
        "",
        f"Backends compared: {', '.join(res.backends)}. Largest difference between any two "
        f"backends' trajectories over all optimizers and steps: **{worst:.1e}** "
        "(float64; the tests require allclose to 1e-12).",
        "",
        f"### Steps until the loss is below {res.target:g} (at most {res.max_steps} steps, "
        f"`{res.backend}` backend)",
        "",
        "| optimizer | " + " | ".join(f"κ = {kk:g}" for kk in res.kappas) + " |",
        "|---|" + "---|" * len(res.kappas),
    ]
    for name, row in res.steps_table.items():
        lines.append(f"| {name} | " + " | ".join(_fmt_steps(row[kk]) for kk in res.kappas)
                     + " |")
    lines += [
        "",
        "SGD at the lecture's lr 0.009 is stable only while lr·2κ < 2 (κ < 111): at κ = 1000 it "
        "diverges. The row with lr = 1/(1+κ) (the best constant lr on this quadratic, "
        "2/(λmin + λmax)) shows the condition number at work: its error shrinks by (κ-1)/(κ+1) "
        "per step, so the steps grow about linearly with κ. Adam rescales each coordinate by "
        "its own gradient scale, so its step count hardly depends on κ.",
        "",
        f"![steps to target]({FIGURES['steps']})",
        "",
    ]
    return lines


def _section_timing(res) -> list[str]:
    lines = [
        "## 2. Loops vs NumPy vs Numba",
        "",
        f"The lecture's measurement: a plain SGD update p -= lr·g over d = {res.d:,} float64 "
        f"parameters for {res.steps:,} steps, through `kernbench.optim.SGD(backend=...)`. "
        "The first step of each backend is a warm-up (Numba compiles or loads its cache) and is "
        f"not timed; times are the best of {res.repeats}. Rows marked *scaled* timed fewer "
        f"steps and were multiplied up to {res.steps:,}. The two `lecture` rows are the "
        "lecture's own snippets, timed the same way: `for i in range(d): p[i] -= lr * g[i]` "
        "and `p -= lr * g`.",
        "",
        f"![timing]({FIGURES['timing']})",
        "",
        f"| implementation | seconds for {res.steps:,} steps | per step | steps timed | "
        "speedup over `python` backend | speedup over lecture loop |",
        "|---|---|---|---|---|---|",
    ]
    slow = res.seconds.get("python")
    loop = res.seconds.get("lecture loop")
    for label, s in res.seconds.items():
        n = res.measured_steps[label]
        timed = f"{n} (scaled)" if n < res.steps else str(n)
        sp = _ratio(slow / s) if slow else "n/a"
        sl = _ratio(loop / s) if loop else "n/a"
        lines.append(f"| {label} | {s:.4g} | {s / res.steps * 1e6:,.1f} µs | {timed} | {sp} | "
                     f"{sl} |")
    first = ", ".join(f"{b} {t * 1e3:.2f} ms" for b, t in res.first_step_seconds.items())
    lines += ["", f"First (untimed) step of each backend: {first}.", ""]
    if slow and "numpy" in res.seconds:
        parts = [f"the `numpy` backend is {slow / res.seconds['numpy']:,.0f}x faster than the "
                 "`python` backend"]
        if "numba" in res.seconds:
            parts.append(f"the `numba` backend {slow / res.seconds['numba']:,.0f}x")
        else:
            parts.append("(the `numba` backend is not available here)")
        if loop and "lecture numpy" in res.seconds:
            parts.append(f"the lecture's own `p -= lr * g` is "
                         f"{loop / res.seconds['lecture numpy']:,.0f}x faster than its loop")
        lines.append(f"**Lecture's claim: {res.claim}.** Measured here: " + "; ".join(parts)
                     + ". The kernbench backends pay a fixed per-call cost (argument checks, "
                     "state lookup, dispatch) of several µs per step that the bare snippets do "
                     f"not; at d = {res.d:,} that cost is a large part of a vectorized step.")
    lines.append("")
    return lines


def _section_temperature(res) -> list[str]:
    ent = res.entropies
    return [
        "## 3. Temperature",
        "",
        f"Entropy of softmax(z / T) for logits z = {[float(x) for x in res.logits]}, "
        f"{res.temperatures.size} "
        f"temperatures log-spaced from {res.temperatures[0]:g} to {res.temperatures[-1]:g} "
        f"(`info.softmax(z, temperature=T)` and `info.entropy`, `{res.backend}` backend).",
        "",
        f"![temperature]({FIGURES['temperature']})",
        "",
        "| T | H (nats) | limit |",
        "|---|---|---|",
        f"| {res.temperatures[0]:g} | {ent[0]:.3e} | 0 (T → 0: all mass on the largest logit) |",
        f"| 1 | {float(np.interp(0.0, np.log10(res.temperatures), ent)):.4f} | |",
        f"| {res.temperatures[-1]:g} | {ent[-1]:.6f} | ln {res.logits.size} = "
        f"{res.high_limit:.6f} (T → ∞: uniform) |",
        "",
    ]


def _section_kl(res) -> list[str]:
    lines = [
        "## 4. Gaussian KL by Monte Carlo",
        "",
        f"KL(N({res.mu1:g}, {res.sigma1:g}²) ‖ N({res.mu2:g}, {res.sigma2:g}²)): closed form "
        f"`info.gaussian_kl({res.mu1:g}, {res.sigma1:g}, {res.mu2:g}, {res.sigma2:g})` = "
        f"**{res.closed_form:.10f}**; by hand log(1/2) + (4 + 1)/2 - 1/2 = 2 - ln 2 = "
        f"{2 - math.log(2):.10f}. Monte Carlo: the mean of log p(x) - log q(x) over x ~ p, "
        f"{res.estimates.shape[0]} seeds (`default_rng([{res.seed}, r])`). "
        f"σ = std of log p(x) - log q(x) = {res.log_ratio_std:.4f}.",
        "",
        f"![gaussian kl]({FIGURES['gaussian_kl']})",
        "",
        "| N | estimate (seed 0) | error (seed 0) | RMS error over seeds | σ/√N |",
        "|---|---|---|---|---|",
    ]
    for j, n in enumerate(res.ns):
        e = res.estimates[0, j]
        lines.append(f"| {n:,} | {e:.5f} | {e - res.closed_form:+.5f} | "
                     f"{res.rms_error[j]:.5f} | {res.predicted_error[j]:.5f} |")
    lines.append("")
    return lines


def _section_maxent(res) -> list[str]:
    lines = [
        "## 5. Maximum entropy",
        "",
        "`scipy.optimize.minimize(method='SLSQP')` of -`info.entropy(p)` with gradient "
        "log p + 1 (the negated entropy gradient -(log p + 1)), subject to sum p = 1 and "
        f"bounds [1e-12, 1], from a seeded random start (`{res.backend}` backend).",
        "",
        f"![max entropy]({FIGURES['max_entropy']})",
        "",
        "| n | H found (nats) | ln n | max abs(p - 1/n) | iterations | success |",
        "|---|---|---|---|---|---|",
    ]
    for n in res.ns:
        lines.append(f"| {n} | {res.entropies[n]:.12f} | {math.log(n):.12f} | "
                     f"{res.max_deviation[n]:.1e} | {res.iterations[n]} | {res.success[n]} |")
    lines.append("")
    return lines


def _section_xor(res) -> list[str]:
    lines = [
        "## 6. XOR with AdamW",
        "",
        f"A 2-{res.hidden}-1 network (tanh hidden layer, sigmoid output, binary cross-entropy; "
        f"NumPy forward and backward; init seed {res.seed}) trained on the four XOR points for "
        f"{res.steps} full-batch steps of `AdamW(lr={res.lr:g}, weight_decay="
        f"{res.weight_decay:g}, backend=...)`. Every backend starts from the same init; the "
        f"largest difference between backends' loss curves is {res.max_loss_diff:.1e}.",
        "",
        f"![xor]({FIGURES['xor']})",
        "",
        "| backend | final loss | outputs for (0,0), (0,1), (1,0), (1,1) | median µs per "
        "`opt.step` (4 params, 33 numbers) |",
        "|---|---|---|---|",
    ]
    for b in res.losses:
        outs = ", ".join(f"{x:.3f}" for x in res.predictions[b])
        lines.append(f"| {b} | {res.final_loss[b]:.2e} | {outs} | "
                     f"{res.step_seconds[b] * 1e6:.1f} |")
    lines += ["", "At 33 numbers the step time is the per-call overhead (checks, four kernel "
              "calls), not arithmetic: the backends are about equal here.", ""]
    return lines


def _section_source(res) -> list[str]:
    lines = [
        "## 7. Source coding",
        "",
        "Binary Huffman code lengths (built with `heapq`) against the entropy in bits "
        f"(`info.entropy(p, base=2)`, `{res.backend}` backend): the source coding theorem says "
        "H(X) ≤ L < H(X) + 1 for the mean length L of an optimal prefix code.",
        "",
        f"![source coding]({FIGURES['source_coding']})",
        "",
        "| distribution | symbols | H(X) bits | L bits | L - H | Kraft sum | H ≤ L < H + 1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res.rows:
        lines.append(f"| {r['name']} | {len(r['p'])} | {r['entropy_bits']:.4f} | "
                     f"{r['mean_length']:.4f} | {r['mean_length'] - r['entropy_bits']:.4f} | "
                     f"{r['kraft']:g} | {'yes' if r['bound_holds'] else 'NO'} |")
    lines += ["", "Dyadic distributions (all probabilities powers of 1/2) meet the lower bound "
              "exactly; a very skewed coin is the worst case, near H + 1, because a symbol "
              "cannot take less than one bit.", ""]
    return lines


def _section_clipping(res) -> list[str]:
    ok = np.isfinite(res.unclipped_losses)
    last = int(np.flatnonzero(ok)[-1])
    return [
        "## 8. Gradient clipping",
        "",
        f"The lecture's example: g = [6, 8] has norm {res.example_norm:g}; "
        f"`clip_grad_norm([g], max_norm=1)` returns {res.example_norm:g} and leaves "
        f"g = [{res.example_clipped[0]:.7f}, {res.example_clipped[1]:.7f}] (norm "
        f"{res.example_clipped_norm:.7f}: the coefficient is max_norm/(norm + 1e-6), as torch).",
        "",
        f"A clipped run: SGD with lr {res.lr:g} on θ1² + {res.kappa:g}·θ2² from (1, 1), "
        f"clip_grad_norm(max_norm={res.max_norm:g}) before every step, {res.steps} steps. "
        f"That lr is past the stability limit 1/κ = {1 / res.kappa:g}: unclipped, the loss "
        f"reaches {res.unclipped_losses[last]:.1e} by step {last}. Clipped, each step moves at "
        f"most lr·max_norm = {res.lr * res.max_norm:g}; θ2 ends in a bounded oscillation (the "
        "pre-clip norm hovers above max_norm) while θ1 keeps converging: loss "
        f"{res.losses[0]:g} → {res.losses[-1]:.3g}. Clipping bounds the damage of a bad step; "
        "it does not make an unstable lr converge.",
        "",
        f"![clipping]({FIGURES['clipping']})",
        "",
        f"| step | 0 | {res.steps // 4} | {res.steps // 2} | {res.steps - 1} |",
        "|---|---|---|---|---|",
        "| norm before clipping | " + " | ".join(f"{res.pre_norms[i]:.4g}" for i in
                                             (0, res.steps // 4, res.steps // 2, res.steps - 1))
        + " |",
        "| norm after clipping | " + " | ".join(f"{res.post_norms[i]:.4g}" for i in
                                            (0, res.steps // 4, res.steps // 2, res.steps - 1))
        + " |",
        "",
    ]


def _load_note(run: dict) -> str:
    load = run.get("load_average")
    if load is None:
        return ""
    return (f" Load average (1 min) when the run started: {load:.2f}; timings are wall-clock on "
            "a shared machine, so read the ratios, not the last digit.")


def write_readme(run: dict, out: Path, command: str, total_seconds: float) -> Path:
    r = run["results"]
    import numba

    lines = [
        "# kernbench lecture experiments",
        "",
        f"Produced by `{command}` in {total_seconds:.1f} s"
        + (" (**--quick**: small settings)" if run["quick"] else "") + ".",
        "",
        f"Backends here: {', '.join(run['backends'])} (from `kb.available_backends()`); "
        f"single-backend experiments use `{run['backend']}`. Python {platform.python_version()}, "
        f"NumPy {np.__version__}, Numba {numba.__version__}, {os.cpu_count()} CPU core(s). "
        "Each experiment is a function in `kernbench.lecture` returning a result object, with "
        "a `plot_*` function beside it." + _load_note(run),
        "",
        "Seconds per experiment include any Numba compilation it triggers (a cold cache).",
        "",
        "| experiment | function | seconds |",
        "|---|---|---|",
    ]
    fn_names = {"landscape": "landscape_experiment", "timing": "sgd_timing_experiment",
                "temperature": "temperature_experiment", "gaussian_kl": "gaussian_kl_experiment",
                "max_entropy": "max_entropy_experiment", "xor": "xor_experiment",
                "source_coding": "source_coding_experiment", "clipping": "clipping_experiment"}
    for key, s in run["seconds"].items():
        lines.append(f"| {key} | `{fn_names[key]}` | {s:.2f} |")
    lines.append("")
    lines += _section_landscape(r["landscape"])
    lines += _section_timing(r["timing"])
    lines += _section_temperature(r["temperature"])
    lines += _section_kl(r["gaussian_kl"])
    lines += _section_maxent(r["max_entropy"])
    lines += _section_xor(r["xor"])
    lines += _section_source(r["source_coding"])
    lines += _section_clipping(r["clipping"])
    path = out / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _ratio(r: float) -> str:
    """A speedup with the digits that matter: 235x, 1.3x, 0.05x."""
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2g}x"


# ------------------------------------------------------------------------------ entry point

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the lecture options to a parser (or a ``kernbench`` subparser); returns it."""
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true",
                        help="small settings (seconds), for tests and smoke runs")
    parser.add_argument("--backends", default=None,
                        help="comma-separated backends to compare (default: every available)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    return add_arguments(argparse.ArgumentParser(
        prog="kernbench lecture",
        description="Run the lecture experiments; write DIR/README.md and the PNG figures."))


def run(out, quick: bool = False, backends=None, command: str | None = None,
        log=print) -> dict:
    """Run everything and write ``out``/README.md and the figures; returns the run dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(backends, str):
        backends = [b.strip() for b in backends.split(",") if b.strip()]
    if backends is not None:
        for b in backends:
            kb.get_backend(b)  # a clear error for an unknown or unavailable backend
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    start = time.perf_counter()
    result = run_all(quick=quick, backends=backends, log=log)
    result["load_average"] = load
    figures = write_figures(result, out)
    total = time.perf_counter() - start
    if command is None:
        command = "kernbench lecture --out " + str(out) + (" --quick" if quick else "")
    readme = write_readme(result, out, command, total)
    result.update(figures=figures, readme=readme, total_seconds=total)
    log(f"wrote {readme} and {len(figures)} figures in {total:.1f} s")
    return result


def main(argv=None) -> int:
    """Entry point of ``kernbench lecture`` and ``python -m kernbench.lecture``."""
    return run_from_args(build_parser().parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    """Run from parsed arguments (``out``, ``quick``, ``backends``); the exit status."""
    try:
        run(args.out, quick=args.quick, backends=args.backends)
    except (ValueError, kb.BackendUnavailableError) as exc:
        print(f"kernbench lecture: error: {exc}", file=sys.stderr)
        return 2
    return 0
