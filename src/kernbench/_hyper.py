"""Hyperparameter arithmetic done once, on the host, in float64.

Bias corrections ``1 - beta**t`` lose most of their digits in float32 for small t, so they are
computed here at full precision and only then cast to the parameter dtype by the backend.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class AdamScalars(NamedTuple):
    step_size: float  # lr / (1 - beta1**t)
    bias_correction2_sqrt: float  # sqrt(1 - beta2**t)
    one_minus_beta1: float
    one_minus_beta2: float
    decay_factor: float  # 1 - lr*wd for AdamW, 1.0 otherwise


def adam_step_scalars(lr: float, beta1: float, beta2: float, step: int) -> tuple:
    """(lr / (1 - beta1**t), sqrt(1 - beta2**t)) in float64: the two Adam scalars that change
    at every step (the others are fixed by the hyperparameters)."""
    return lr / (1.0 - beta1**step), math.sqrt(1.0 - beta2**step)


def adam_scalars(lr: float, beta1: float, beta2: float, step: int, weight_decay: float,
                 decoupled: bool) -> AdamScalars:
    step_size, bias_correction2_sqrt = adam_step_scalars(lr, beta1, beta2, step)
    return AdamScalars(
        step_size=step_size,
        bias_correction2_sqrt=bias_correction2_sqrt,
        one_minus_beta1=1.0 - beta1,
        one_minus_beta2=1.0 - beta2,
        decay_factor=1.0 - lr * weight_decay if decoupled else 1.0,
    )


def adam_kernel_args(lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                     decoupled: bool, amsgrad: bool, maximize: bool, step: int):
    """(scalars, flags) of the compiled Adam loops, in their argument order.

    scalars: step_size, bias_correction2_sqrt, beta1, 1 - beta1, beta2, 1 - beta2, eps,
    weight_decay, decay_factor, as Python floats (the backend casts them to the param dtype);
    flags: coupled (L2 decay into the grad), decay_on (AdamW's decay of the param), amsgrad,
    maximize.
    """
    s = adam_scalars(lr, beta1, beta2, step, weight_decay, decoupled)
    scalars = (s.step_size, s.bias_correction2_sqrt, beta1, s.one_minus_beta1, beta2,
               s.one_minus_beta2, eps, weight_decay, s.decay_factor)
    flags = ((not decoupled) and weight_decay != 0, bool(decoupled) and s.decay_factor != 1.0,
             bool(amsgrad), bool(maximize))
    return scalars, flags
