"""One plotting function per experiment: ``plot_<name>(result, path=None) -> Figure``.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``, rendered by Agg
when saved), so nothing here touches pyplot's global state or the user's interactive backend.
With ``path`` the figure is also written there as PNG.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "plot_clipping",
    "plot_gaussian_kl",
    "plot_landscape",
    "plot_max_entropy",
    "plot_source_coding",
    "plot_steps_table",
    "plot_temperature",
    "plot_timing",
    "plot_xor",
]

_DPI = 110
_COLORS = {"SGD": "tab:blue", "Momentum": "tab:orange", "Nesterov": "tab:green",
           "Adam": "tab:red"}


def _figure(width=8.0, height=4.5):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=_DPI)
    return fig


def plot_landscape(result, path=None):
    """Contour plot of the quadratic with each optimizer's trajectory, and loss against step."""
    fig = _figure(12.0, 5.0)
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.25, 1.0])
    k = result.kappa
    x = np.linspace(-1.3, 1.3, 301)
    y = np.linspace(-1.3, 1.3, 301)
    xx, yy = np.meshgrid(x, y)
    zz = xx ** 2 + k * yy ** 2
    levels = np.logspace(-3, math.log10(zz.max()), 18)
    ax.contour(xx, yy, zz, levels=levels, colors="0.75", linewidths=0.7)
    for m, traj in result.trajectories.items():
        kw = result.hyper.get(m, {})
        label = m + " (" + ", ".join(f"{a} {b}" for a, b in kw.items()
                                     if a != "nesterov") + ")"
        ax.plot(traj[:, 0], traj[:, 1], "-o", ms=2.2, lw=1.0, color=_COLORS.get(m),
                label=label)
    ax.plot([1.0], [1.0], "k*", ms=10, label="start (1, 1)")
    ax.plot([0.0], [0.0], "kx", ms=9, label="minimum")
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    ax.set_title(rf"$L = \theta_1^2 + {k:g}\,\theta_2^2$: {result.steps} steps "
                 f"({result.backend} backend)")
    ax.legend(fontsize=7.5, loc="upper left")
    for m, loss in result.losses.items():
        ax2.semilogy(np.arange(loss.size), np.maximum(loss, 1e-300), color=_COLORS.get(m),
                     label=m)
    ax2.axhline(result.target, color="k", ls=":", lw=0.8, label=f"loss {result.target:g}")
    ax2.set_xlabel("step")
    ax2.set_ylabel("loss (log scale)")
    ax2.set_title(rf"loss against step, $\kappa$ = {k:g}")
    ax2.legend(fontsize=8)
    ax2.grid(True, which="major", alpha=0.3)
    return _save(fig, path)


def plot_steps_table(result, path=None):
    """Steps to bring the loss below the target, against kappa (log-log); missing = not reached."""
    fig = _figure(7.0, 4.5)
    ax = fig.subplots()
    for i, (name, row) in enumerate(result.steps_table.items()):
        ks = [k for k in result.kappas if row[k][0] is not None]
        ax.loglog(ks, [row[k][0] for k in ks], "-o", label=name, color=f"C{i}")
        for k in result.kappas:
            if row[k][0] is None:
                ax.plot([k], [result.max_steps], "x", ms=10, color=f"C{i}")
                ax.annotate(row[k][1], (k, result.max_steps), textcoords="offset points",
                            xytext=(-8, -14 - 10 * i), ha="right", fontsize=7.5,
                            color=f"C{i}")
    ax.axhline(result.max_steps, color="0.5", ls=":", lw=0.8,
               label=f"max steps {result.max_steps}")
    ax.set_xlabel(r"condition number $\kappa$")
    ax.set_ylabel(f"steps until loss < {result.target:g}")
    ax.set_title("steps to converge on the quadratic (x: not reached)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return _save(fig, path)


def plot_timing(result, path=None):
    """Seconds for the SGD measurement per backend (log scale), with the speedup over loops."""
    fig = _figure(8.0, 4.2)
    ax = fig.subplots()
    labels = list(result.seconds)
    secs = [result.seconds[k] for k in labels]
    colors = ["tab:gray" if k.startswith("lecture") else "tab:blue" for k in labels]
    bars = ax.barh(labels, secs, color=colors)
    ax.set_xscale("log")
    for bar, k, s in zip(bars, labels, secs):
        text = f"{s:.3g} s"
        base = "lecture loop" if k.startswith("lecture") else "python"
        slow = result.seconds.get(base)
        if k in result.measured_steps and result.measured_steps[k] < result.steps:
            text += f" (scaled from {result.measured_steps[k]} steps)"
        elif slow and k != base:
            text += f"  {slow / s:,.0f}x faster than {base}"
        ax.text(s * 1.15, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(secs) / 3, max(secs) * 60)
    ax.set_xlabel(f"seconds for {result.steps:,} SGD steps over d = {result.d:,} (log)")
    ax.set_title("loops vs NumPy vs Numba (blue: kernbench backends, gray: lecture snippets)")
    return _save(fig, path)


def plot_temperature(result, path=None):
    fig = _figure(7.0, 4.2)
    ax = fig.subplots()
    ax.semilogx(result.temperatures, result.entropies, "-", color="tab:purple",
                label=r"$H(\mathrm{softmax}(z/T))$")
    ax.axhline(result.low_limit, color="tab:blue", ls="--", lw=1,
               label=r"$T \to 0$: one-hot, $H = 0$")
    n = result.logits.size
    ax.axhline(result.high_limit, color="tab:red", ls="--", lw=1,
               label=rf"$T \to \infty$: uniform, $H = \ln {n}$ = {result.high_limit:.4f}")
    ax.axvline(1.0, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("temperature T (log scale)")
    ax.set_ylabel("entropy (nats)")
    ax.set_title(f"entropy against temperature, logits {[float(x) for x in result.logits]}")
    ax.legend(fontsize=8, loc="center right")
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def plot_gaussian_kl(result, path=None):
    fig = _figure(11.0, 4.3)
    ax, ax2 = fig.subplots(1, 2)
    ns = result.ns
    for r in range(result.estimates.shape[0]):
        ax.semilogx(ns, result.estimates[r], "-", color="tab:blue", alpha=0.35, lw=0.8,
                    label="Monte Carlo (one seed each)" if r == 0 else None)
    ax.axhline(result.closed_form, color="k", lw=1.2,
               label=f"closed form {result.closed_form:.6f} = 2 - ln 2")
    ax.fill_between(ns, result.closed_form - result.predicted_error,
                    result.closed_form + result.predicted_error, color="tab:orange", alpha=0.2,
                    label=r"$\pm\,\sigma/\sqrt{N}$")
    ax.set_xlabel("samples N")
    ax.set_ylabel("KL estimate (nats)")
    ax.set_title(rf"KL(N({result.mu1:g}, {result.sigma1:g}$^2$) $\|$ "
                 rf"N({result.mu2:g}, {result.sigma2:g}$^2$))")
    ax.legend(fontsize=8)
    ax2.loglog(ns, result.rms_error, "o-", color="tab:blue",
               label=f"RMS error over {result.estimates.shape[0]} seeds")
    ax2.loglog(ns, result.predicted_error, "--", color="tab:orange",
               label=rf"$\sigma/\sqrt{{N}}$, $\sigma$ = {result.log_ratio_std:.3f}")
    ax2.set_xlabel("samples N")
    ax2.set_ylabel("|estimate - closed form|")
    ax2.set_title(r"error falls as $1/\sqrt{N}$")
    ax2.legend(fontsize=8)
    ax2.grid(True, which="major", alpha=0.3)
    return _save(fig, path)


def plot_max_entropy(result, path=None):
    fig = _figure(11.0, 4.2)
    ax, ax2 = fig.subplots(1, 2)
    for i, n in enumerate(result.ns):
        h = result.histories[n]
        ax.plot(np.arange(h.size), h, "o-", ms=3, color=f"C{i}", label=f"n = {n}")
        ax.axhline(math.log(n), color=f"C{i}", ls="--", lw=0.8)
    ax.set_xlabel("SLSQP iteration")
    ax.set_ylabel("H(p) (nats); dashed: ln n")
    ax.set_title("maximizing entropy on the simplex")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    for i, n in enumerate(result.ns):
        p = result.distributions[n]
        xs = np.arange(n) / (n - 1) if n > 1 else np.zeros(1)
        ax2.plot(xs, result.starts[n], "x", color=f"C{i}", ms=5, alpha=0.6)
        ax2.plot(xs, p, "o", color=f"C{i}", ms=4, label=f"n = {n}: final p (x: start)")
        ax2.axhline(1.0 / n, color=f"C{i}", ls="--", lw=0.8)
    ax2.set_xlabel("symbol (scaled to [0, 1])")
    ax2.set_ylabel("probability; dashed: 1/n")
    ax2.set_title("the maximizer is the uniform distribution")
    ax2.legend(fontsize=8)
    return _save(fig, path)


def plot_xor(result, path=None):
    fig = _figure(8.0, 4.3)
    ax = fig.subplots()
    styles = ["-", "--", ":", "-.", (0, (5, 1))]
    for i, (b, curve) in enumerate(result.losses.items()):
        ax.semilogy(np.arange(curve.size), curve, ls=styles[i % len(styles)], lw=1.6,
                    label=f"{b}: final {result.final_loss[b]:.2e}, "
                          f"{result.step_seconds[b] * 1e6:.0f} us/step")
    ax.axhline(0.05, color="k", ls=":", lw=0.8, label="0.05")
    ax.set_xlabel("step")
    ax.set_ylabel("binary cross-entropy (log scale)")
    ax.set_title(f"XOR, 2-{result.hidden}-1 tanh/sigmoid, AdamW lr {result.lr:g}, "
                 f"wd {result.weight_decay:g}"
                 + (" (curves coincide)" if result.max_loss_diff < 1e-9 else ""))
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def plot_source_coding(result, path=None):
    fig = _figure(9.0, 4.3)
    ax = fig.subplots()
    names = [r["name"] for r in result.rows]
    xs = np.arange(len(names))
    h = np.array([r["entropy_bits"] for r in result.rows])
    lens = np.array([r["mean_length"] for r in result.rows])
    ax.bar(xs - 0.2, h, width=0.4, color="tab:blue", label="H(X) (bits)")
    ax.bar(xs + 0.2, lens, width=0.4, color="tab:green", label="Huffman mean length L")
    ax.errorbar(xs, h + 0.5, yerr=0.5, fmt="none", ecolor="k", capsize=4,
                label="[H, H + 1)")
    ax.set_xticks(xs, names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("bits per symbol")
    ax.set_title(r"source coding theorem: $H(X) \leq L < H(X) + 1$")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_clipping(result, path=None):
    fig = _figure(11.0, 4.3)
    ax, ax2 = fig.subplots(1, 2)
    steps = np.arange(result.steps)
    ax.semilogy(steps, result.pre_norms, color="tab:red", lw=1, label="norm before clipping")
    ax.semilogy(steps, result.post_norms, color="tab:blue", lw=1.5, label="norm after clipping")
    ax.axhline(result.max_norm, color="k", ls=":", lw=0.8, label=f"max_norm {result.max_norm:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient 2-norm (log)")
    ax.set_title(rf"SGD lr {result.lr:g} on $\kappa$ = {result.kappa:g}, clipped")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    s = np.arange(result.steps + 1)
    ax2.semilogy(s, result.losses, color="tab:blue", label="clipped")
    free = np.where(np.isfinite(result.unclipped_losses), result.unclipped_losses, np.nan)
    ax2.semilogy(s, free, color="tab:red", ls="--", label="unclipped (diverges)")
    ax2.set_ylim(max(1e-4, np.nanmin(result.losses) / 10), 1e8)
    ax2.set_xlabel("step")
    ax2.set_ylabel("loss (log)")
    ax2.set_title(rf"lr {result.lr:g} > 1/$\kappa$: clipping keeps it bounded")
    ax2.legend(fontsize=8)
    ax2.grid(True, alpha=0.3)
    return _save(fig, path)
