"""The task grid shared by the ``numba`` backend's row kernels (:mod:`_numba_kernels`) and its
softmax family (:mod:`_numba_softmax`): which rows and columns a task covers, how many tasks a
shape makes, the in-order sum of the tasks' partial sums, and the two vectorized reductions
every row kernel starts from (the nan-ignoring max and the float64 sum of a span).

A row kernel runs over a grid of tasks. Rows of n <= ch elements: a task is a block of
``rows_per_task`` whole rows and writes final values. Longer rows: a task is one chunk of ``ch``
elements of one row and writes partial sums to ``part[r, c]``; a second loop combines them in
chunk order. The host picks ``ch`` from the shape alone, so serial and parallel runs give the
same bits.
"""

from __future__ import annotations

import math

import numpy as np

from kernbench.backends._numba_math import _cast_like, _fmax
from kernbench.backends._numba_runtime import OPTS as _OPTS
from kernbench.backends._numba_runtime import linked as _linked

#: The fused reduction loops add fastmath's reassociation flag and nothing else: LLVM may then
#: split a sum into vector lanes (a reordering of the additions, as NumPy's pairwise sum also
#: makes), while no-nans/no-infs stay off, so inf and nan propagate exactly. The log and exp
#: they call are separate functions compiled without the flag; LLVM inlines them with their
#: own instructions' flags, so their rounding is the tested one.
_SUM_OPTS = dict(_OPTS, fastmath={"reassoc"})

_INF = math.inf


@_linked(**_OPTS)
def _nanmax(a):
    """Largest entry of a 1-D array as float64, ignoring nan; -inf when there is none.

    A ``maxnum`` reduction, which LLVM vectorizes without fast-math flags (a compare-and-select
    reduction needs no-nans): sixteen float32 lanes, measured 3.5 us against 13 us for eight
    scalar accumulators over a 50257-element float32 row in L2.
    """
    m = _cast_like(a, -_INF)
    for i in range(a.size):
        m = _fmax(m, a[i])
    return np.float64(m)


@_linked(**_SUM_OPTS)
def _sum_span(x):
    """float64 sum of a span, vectorized."""
    s = 0.0
    for j in range(x.size):
        s += np.float64(x[j])
    return s


@_linked(**_OPTS)
def _span_task(t, rows_per_task, nch, ch, rows, n):
    """(first row, last row + 1, chunk index, first column, last column + 1) of task t: whole
    rows in groups of ``rows_per_task`` when a row is one chunk (nch == 1), else one chunk of
    ``ch`` columns of one row."""
    r0 = (t // nch) * rows_per_task
    c = t % nch
    a0 = c * ch
    return r0, min(rows, r0 + rows_per_task), c, a0, min(n, a0 + ch)


@_linked(**_OPTS)
def _task_count(rows, n, rows_per_task, ch):
    """(tasks, chunks per row) of a row kernel; rows_per_task must be 1 when rows are cut."""
    nch = (n + ch - 1) // ch if n > ch else 1
    return ((rows + rows_per_task - 1) // rows_per_task) * nch, nch


@_linked(**_OPTS)
def _totals(part):
    """(R, K) sums over the chunks of a row kernel's (R, nch, K) partial sums, chunk by chunk
    in order (the same order for every row and every quantity)."""
    R, nch, K = part.shape
    tot = np.zeros((R, K))
    for r in range(R):
        for c in range(nch):
            for k in range(K):
                tot[r, k] += part[r, c, k]
    return tot
