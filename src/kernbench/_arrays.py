"""Helpers for walking arbitrary (strided, n-D) arrays as 1-D pieces without copying."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def flat_view(a: np.ndarray) -> np.ndarray | None:
    """A 1-D view of every element of ``a`` in C order, or None when only a copy could give one."""
    if a.ndim == 1:
        return a
    try:
        return np.reshape(a, -1, copy=False)
    except ValueError:
        return None


def flat_pieces(*arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield tuples of aligned 1-D views that together cover every element of same-shape arrays.

    One tuple when every array flattens without a copy (the common case: contiguous arrays and
    1-D strided views); otherwise one tuple per index of the leading dimensions. Writing into the
    views writes into the arrays.
    """
    views = [flat_view(a) for a in arrays]
    if all(v is not None for v in views):
        yield tuple(views)
        return
    shape = arrays[0].shape
    for index in np.ndindex(*shape[:-1]):
        yield tuple(a[index] for a in arrays)


def memory_order_pieces(*arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """:func:`flat_pieces` of same-shape arrays, an n-D array that is not C-ordered (a
    transpose, a Fortran array) first viewed with its axes in memory order, so that a
    contiguous Fortran array is one piece, not one per row."""
    first = arrays[0]
    if first.ndim > 1 and not first.flags.c_contiguous:
        order = np.argsort([-abs(s) for s in first.strides], kind="stable")
        if np.any(order != np.arange(first.ndim)):
            arrays = tuple(a.transpose(order) for a in arrays)
    return flat_pieces(*arrays)
