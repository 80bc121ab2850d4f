"""The lecture report: the figures and README.md of a run of every lecture experiment.

:func:`kernbench.lecture.cli.run_all` runs the experiments; :func:`write_figures` draws one PNG
per figure of :data:`FIGURES` and :func:`write_readme` writes the README around them, one
section per experiment with its numbers and what they show.
"""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path

import numpy as np

from kernbench.bench import markdown
from kernbench.lecture import experiments as ex
from kernbench.lecture import plots

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
    ]
    rows = []
    for m, loss in res.losses.items():
        hyper = ", ".join(f"{a}={b}" for a, b in res.hyper[m].items())
        diffs = ", ".join(f"{b}: {d:.1e}" for b, d in res.max_abs_diff[m].items()
                          if b != res.backend) or "(one backend)"
        rows.append([m, hyper, f"{loss[-1]:.3e}", diffs])
    lines += markdown.table_lines(["optimizer", "hyperparameters", f"loss after {res.steps} steps",
                                   f"max abs difference from `{res.backend}`"], rows)
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
    ]
    lines += markdown.table_lines(
        ["optimizer"] + [f"κ = {kk:g}" for kk in res.kappas],
        [[name] + [_fmt_steps(row[kk]) for kk in res.kappas]
         for name, row in res.steps_table.items()])
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
    ]
    slow = res.seconds.get("python")
    loop = res.seconds.get("lecture loop")
    rows = []
    for label, s in res.seconds.items():
        n = res.measured_steps[label]
        timed = f"{n} (scaled)" if n < res.steps else str(n)
        sp = _ratio(slow / s) if slow else "n/a"
        sl = _ratio(loop / s) if loop else "n/a"
        rows.append([label, f"{s:.4g}", f"{s / res.steps * 1e6:,.1f} µs", timed, sp, sl])
    lines += markdown.table_lines(
        ["implementation", f"seconds for {res.steps:,} steps", "per step", "steps timed",
         "speedup over `python` backend", "speedup over lecture loop"], rows)
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
    rows = [
        [f"{res.temperatures[0]:g}", f"{ent[0]:.3e}",
         "0 (T → 0: all mass on the largest logit)"],
        ["1", f"{float(np.interp(0.0, np.log10(res.temperatures), ent)):.4f}", ""],
        [f"{res.temperatures[-1]:g}", f"{ent[-1]:.6f}",
         f"ln {res.logits.size} = {res.high_limit:.6f} (T → ∞: uniform)"],
    ]
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
        *markdown.table_lines(["T", "H (nats)", "limit"], rows),
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
    ]
    rows = []
    for j, n in enumerate(res.ns):
        e = res.estimates[0, j]
        rows.append([f"{n:,}", f"{e:.5f}", f"{e - res.closed_form:+.5f}",
                     f"{res.rms_error[j]:.5f}", f"{res.predicted_error[j]:.5f}"])
    lines += markdown.table_lines(["N", "estimate (seed 0)", "error (seed 0)",
                                   "RMS error over seeds", "σ/√N"], rows)
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
    ]
    rows = [[n, f"{res.entropies[n]:.12f}", f"{math.log(n):.12f}",
             f"{res.max_deviation[n]:.1e}", res.iterations[n], res.success[n]] for n in res.ns]
    lines += markdown.table_lines(["n", "H found (nats)", "ln n", "max abs(p - 1/n)",
                                   "iterations", "success"], rows)
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
    ]
    rows = [[b, f"{res.final_loss[b]:.2e}", ", ".join(f"{x:.3f}" for x in res.predictions[b]),
             f"{res.step_seconds[b] * 1e6:.1f}"] for b in res.losses]
    lines += markdown.table_lines(
        ["backend", "final loss", "outputs for (0,0), (0,1), (1,0), (1,1)",
         "median µs per `opt.step` (4 params, 33 numbers)"], rows)
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
    ]
    rows = [[r["name"], len(r["p"]), f"{r['entropy_bits']:.4f}", f"{r['mean_length']:.4f}",
             f"{r['mean_length'] - r['entropy_bits']:.4f}", f"{r['kraft']:g}",
             "yes" if r["bound_holds"] else "NO"] for r in res.rows]
    lines += markdown.table_lines(["distribution", "symbols", "H(X) bits", "L bits", "L - H",
                                   "Kraft sum", "H ≤ L < H + 1"], rows)
    lines += ["", "Dyadic distributions (all probabilities powers of 1/2) meet the lower bound "
              "exactly; a very skewed coin is the worst case, near H + 1, because a symbol "
              "cannot take less than one bit.", ""]
    return lines


def _section_clipping(res) -> list[str]:
    ok = np.isfinite(res.unclipped_losses)
    last = int(np.flatnonzero(ok)[-1])
    shown = (0, res.steps // 4, res.steps // 2, res.steps - 1)
    table = markdown.table_lines(
        ["step", *shown],
        [["norm before clipping", *(f"{res.pre_norms[i]:.4g}" for i in shown)],
         ["norm after clipping", *(f"{res.post_norms[i]:.4g}" for i in shown)]])
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
        *table,
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
    ]
    fn_names = {"landscape": "landscape_experiment", "timing": "sgd_timing_experiment",
                "temperature": "temperature_experiment", "gaussian_kl": "gaussian_kl_experiment",
                "max_entropy": "max_entropy_experiment", "xor": "xor_experiment",
                "source_coding": "source_coding_experiment", "clipping": "clipping_experiment"}
    lines += markdown.table_lines(["experiment", "function", "seconds"],
                                  [[key, f"`{fn_names[key]}`", f"{s:.2f}"]
                                   for key, s in run["seconds"].items()])
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
