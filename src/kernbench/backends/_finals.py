"""Host-side finals and constants shared by the compiled backends (numba-plain, numba, cuda,
dask).

A compiled backend sums a joint table in its own way (one fused pass on the CPU threads,
block reductions on a GPU, a task graph) and hands the sums here, as Python floats, for the
part that is the same everywhere: the table's status and the formulas of the contract
(:mod:`kernbench.backends.interface`), with the overflow-safe second pass when the first
value is not finite. The python and numpy backends keep their own copies: they are the
references the others are checked against.

Plain Python on floats: the numba and cuda kernels may import the constants (both compilers
freeze module globals), and the functions cost a few hundred nanoseconds per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kernbench.backends.interface import STATUS_OK, STATUS_P_INVALID, STATUS_P_ZERO_SUM

#: ln 2, the upper bound of the Jensen-Shannon divergence in nats.
LN2 = math.log(2.0)
#: log(2 pi e) / 2, the differential entropy of N(0, 1) in nats.
HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)

#: The second pass of a joint table: a zero-argument callable giving (A', R', C'), the sums of
#: the contract's second pass over j / S, the row sums / S and the column sums / S.
ScaledTerms = Callable[[], "tuple[float, float, float]"]


def joint_status(negatives: float, total: float) -> int:
    """The status of a joint table from its count of negative entries and its float64 sum:
    STATUS_P_INVALID (a negative entry, or a sum that is not finite: a NaN or infinite entry,
    or an overflow), STATUS_P_ZERO_SUM, else STATUS_OK."""
    if negatives > 0 or not math.isfinite(total):
        return STATUS_P_INVALID
    if total == 0.0:
        return STATUS_P_ZERO_SUM
    return STATUS_OK


def _clamp0(x: float) -> float:
    """max(x, 0) that lets NaN through (a clamp never turns a NaN into a number)."""
    return 0.0 if x < 0.0 else x


def mutual_information(s: float, a: float, rr: float, cc: float, status: int,
                       scaled_terms: ScaledTerms) -> tuple[float, int]:
    """(I(X;Y) in nats, status) of a table from its sums S, A, R, C (see the contract) and its
    status; (0.0, status) when the status is not STATUS_OK.

    I = max((A + S log S - R - C) / S, 0); when that is not finite (S log S or a sum of
    j log j past the float64 range), ``scaled_terms()`` is called once for (A', R', C') and
    I = max(A' - R' - C', 0).
    """
    if status != STATUS_OK:
        return 0.0, int(status)
    value = (a + s * math.log(s) - rr - cc) / s
    if not math.isfinite(value):  # an overflow: the contract's second pass
        a, rr, cc = scaled_terms()
        value = a - rr - cc
    return _clamp0(float(value)), STATUS_OK


def conditional_entropy(s: float, a: float, rr: float, status: int,
                        scaled_terms: ScaledTerms) -> tuple[float, int]:
    """(H(Y|X) in nats, status) of a table from its sums S, A, R and its status, as
    :func:`mutual_information`: max((R - A) / S, 0), else max(R' - A', 0) from the second
    pass."""
    if status != STATUS_OK:
        return 0.0, int(status)
    value = (rr - a) / s
    if not math.isfinite(value):  # an overflow: the contract's second pass
        a, rr, _ = scaled_terms()
        value = rr - a
    return _clamp0(float(value)), STATUS_OK
