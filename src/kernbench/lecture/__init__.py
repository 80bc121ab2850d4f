"""The lecture's experiments on kernbench: optimizers on a quadratic landscape, loops vs NumPy vs
Numba, temperature, Monte Carlo KL, maximum entropy, XOR with AdamW, source coding, clipping.

Each experiment is one function returning a small result object, with a plotting function
beside it::

    from kernbench import lecture
    res = lecture.landscape_experiment()
    lecture.plot_landscape(res, "landscape.png")

``kernbench lecture --out DIR`` (or ``python -m kernbench.lecture --out DIR``, or
:func:`main`) runs them all and writes ``DIR/README.md`` with the figures and numbers.
"""

from kernbench.lecture.experiments import (
    LANDSCAPE_OPTIMIZERS,
    MOMENTUM_LR,
    ClippingResult,
    GaussianKLResult,
    LandscapeResult,
    MaxEntropyResult,
    SourceCodingResult,
    TemperatureResult,
    TimingResult,
    XORResult,
    clipping_experiment,
    default_backend,
    gaussian_kl_experiment,
    huffman_code_lengths,
    landscape_experiment,
    max_entropy_experiment,
    run_quadratic,
    sgd_timing_experiment,
    source_coding_experiment,
    steps_to_target,
    temperature_experiment,
    xor_experiment,
)
from kernbench.lecture.plots import (
    plot_clipping,
    plot_gaussian_kl,
    plot_landscape,
    plot_max_entropy,
    plot_source_coding,
    plot_steps_table,
    plot_temperature,
    plot_timing,
    plot_xor,
)


def main(argv=None) -> int:
    """``kernbench lecture --out DIR [--quick] [--backends a,b]``; returns the exit status."""
    from kernbench.lecture.cli import main as _main

    return _main(argv)


__all__ = [
    "LANDSCAPE_OPTIMIZERS", "MOMENTUM_LR", "ClippingResult", "GaussianKLResult",
    "LandscapeResult", "MaxEntropyResult", "SourceCodingResult", "TemperatureResult",
    "TimingResult", "XORResult", "clipping_experiment", "default_backend",
    "gaussian_kl_experiment", "huffman_code_lengths", "landscape_experiment", "main",
    "max_entropy_experiment", "plot_clipping", "plot_gaussian_kl", "plot_landscape",
    "plot_max_entropy", "plot_source_coding", "plot_steps_table", "plot_temperature",
    "plot_timing", "plot_xor", "run_quadratic", "sgd_timing_experiment",
    "source_coding_experiment", "steps_to_target", "temperature_experiment", "xor_experiment",
]
