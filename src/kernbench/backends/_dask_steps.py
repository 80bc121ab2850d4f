"""Optimizer steps on the dask backend: the graph of one step, sending steps, checkpoints.

A step of one param is one task per chunk: the task calls a compiled chunk kernel (see
:mod:`kernbench.backends._dask_kernels`) on the aligned chunks of param, grad and state and
returns the chunk's whole new state as one tuple (the *shard*). The arrays the optimizer holds
(param and state) are persisted *views* of that tuple, one per entry; the next step's task
reads the shard itself when it is handed exactly those views, so a steady step is one round of
tasks. What the backend remembers about a view (its shard, its place in it, how many steps of
lineage lie behind it) and which state arrays are the zeros of ``zeros_like`` live in side
tables keyed by the arrays' identity (dask arrays are not hashable), never on the arrays.

NumPy entries (a param, or state handed to a kernel directly) are updated in place: the new
values are gathered into them after the step, and the caller's own array is handed back.
"""

from __future__ import annotations

import dataclasses
import operator
import uuid
import warnings
import weakref

import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph
from distributed import futures_of

from kernbench.backends._dask_cluster import failure


class IdentityTable:
    """obj -> value by identity, for weak-referenceable objects that are not hashable (dask
    arrays); an entry goes when its object does, so the table keeps nothing alive."""

    def __init__(self):
        self._entries: dict = {}

    def get(self, obj):
        if obj is None:
            return None
        entry = self._entries.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1]

    def set(self, obj, value) -> None:
        key, entries = id(obj), self._entries

        def drop(ref, key=key, entries=entries):
            entry = entries.get(key)
            if entry is not None and entry[0] is ref:
                del entries[key]

        entries[key] = (weakref.ref(obj, drop), value)

    def __len__(self) -> int:
        return len(self._entries)


@dataclasses.dataclass(frozen=True)
class ViewRecord:
    """What a step made of one array the optimizer holds."""

    #: The persisted shard the array is a view of (None after a checkpoint).
    shard: object
    #: Its entry in the shard's tuples: 0 the param, then the state in argument order.
    index: int
    #: Which entries of the shard's tuples are present (an absent state entry is None).
    present: tuple
    #: Steps of lineage behind the array since it last entered the cluster as data.
    depth: int


#: A view the optimizer holds -> its ViewRecord.
_views = IdentityTable()
#: State arrays from ``zeros_like`` -> True: a step's task makes these zeros beside the param.
_zeros = IdentityTable()


def mark_zeros(a) -> None:
    """Note that ``a`` is a zero state array, to be born inside the first step's tasks."""
    _zeros.set(a, True)


def shard_of(view):
    """The persisted shard a view the optimizer holds was cut from, or None."""
    rec = _views.get(view)
    return None if rec is None else rec.shard


def offsets(chunks) -> list:
    return [np.concatenate([[0], np.cumsum(c)]).astype(int) for c in chunks]


@dataclasses.dataclass
class StepPlan:
    """One param's step before it is sent: its chunk tasks (``shard``), the arrays the step
    was given (``entries``: param and state, None where a state entry is absent) and the
    arrays the optimizer adopts (``views``)."""

    entries: list
    shard: object
    views: list
    depth: int


def _chunk_ref(be, a, chunks, deps):
    """idx -> what a step task gets for array ``a`` at block idx (a key, data or None)."""
    if a is None:
        return lambda idx: None
    if isinstance(a, np.ndarray):
        # NumPy data goes into the task itself: no task of its own that the scheduler
        # could place on another worker than the param chunk's.
        offs = offsets(chunks)

        def data(idx):
            return a[tuple(slice(o[i], o[i + 1]) for o, i in zip(offs, idx))]

        return data
    if _zeros.get(a) and a.chunks == tuple(chunks):
        from kernbench.backends._dask_kernels import ZEROS

        return lambda idx: ZEROS
    a = be._dask(a, chunks)
    deps.append(a)
    return lambda idx: (a.name,) + idx


def _state_source(entries):
    """The previous step's shard when ``entries`` (param, *state) are exactly its views."""
    first = _views.get(entries[0])
    if first is None or first.shard is None or len(entries) != len(first.present):
        return None
    for k, (a, here) in enumerate(zip(entries, first.present)):
        if (a is not None) != here:
            return None
        if a is not None:
            rec = _views.get(a)
            if rec is None or rec.shard is not first.shard or rec.index != k:
                return None
    return first.shard


def plan_step(be, func, prefix, param, grad, state, args) -> StepPlan:
    """The graph of one step of ``param``: one task per chunk, state in, state out."""
    entries = [param, *state]
    depth = 1 + max((rec.depth for rec in map(_views.get, entries) if rec is not None),
                    default=0)
    chunks = be._chunks_of(param)
    token = uuid.uuid4().hex
    name = f"{prefix}-{token}"
    deps = []
    source = _state_source(entries)
    if source is not None:  # the steady state: one input key per chunk
        deps.append(source)

        def state_arg(idx):
            return (source.name,) + idx
    else:
        refs = [_chunk_ref(be, a, chunks, deps) for a in entries]

        def state_arg(idx):
            return [ref(idx) for ref in refs]
    grad_ref = _chunk_ref(be, grad, chunks, deps)
    blocks = list(np.ndindex(*(len(c) for c in chunks)))
    dsk = {(name,) + idx: (func, state_arg(idx), grad_ref(idx), *args) for idx in blocks}
    meta = np.empty((0,) * len(chunks), dtype=param.dtype)
    # Its blocks are tuples of arrays: a collection to persist, never to compute.
    shard = da.Array(HighLevelGraph.from_collections(name, dsk, dependencies=deps), name,
                     chunks, meta=meta)
    views = []
    for k, a in enumerate(entries):
        if a is None:
            views.append(None)
            continue
        vname = f"{prefix}-out{k}-{token}"
        vdsk = {(vname,) + idx: (operator.getitem, (name,) + idx, k) for idx in blocks}
        views.append(da.Array(HighLevelGraph.from_collections(vname, vdsk, [shard]), vname,
                              chunks, meta=meta))
    return StepPlan(entries, shard, views, depth)


def run_steps(be, plans) -> list:
    """Send every planned step as one graph and wait for the new state of all of them.

    Returns, per plan, the new (param, *state): NumPy entries updated in place and handed back
    themselves, dask ones as new persisted views. If any task fails, this raises and nothing is
    returned or written: the optimizer keeps its state. The views are persisted too but not
    waited for: the next step reads the shard, so a step costs one round of tasks.
    """
    collections = []
    for plan in plans:
        collections += [plan.shard] + [v for v in plan.views if v is not None]
    be.submissions += 1
    persisted = iter(be.client.persist(collections, optimize_graph=False))
    results = []
    for plan in plans:
        shard = next(persisted)
        views = [None if v is None else next(persisted) for v in plan.views]
        results.append((shard, views))
    error = failure([f for shard, _ in results for f in futures_of(shard)])
    if error is not None:
        del persisted, results  # the failed step's tasks are released before it raises
        try:
            raise error
        finally:
            del error  # no frame-traceback cycle left for the garbage collector
    out = []
    for plan, (shard, views) in zip(plans, results):
        present = tuple(v is not None for v in views)
        host = [isinstance(a, np.ndarray) for a in plan.entries]
        for k, a in enumerate(plan.entries):
            if host[k]:
                a[...] = be._gather(views[k])
                views[k] = a
        kept = [k for k, v in enumerate(views) if v is not None and not host[k]]
        depth, source = plan.depth, shard
        if be.checkpoint_every and depth >= be.checkpoint_every:
            for k, a in zip(kept, checkpoint(be, [views[k] for k in kept])):
                views[k] = a
            depth, source = 0, None
        for k in kept:
            _views.set(views[k], ViewRecord(source, k, present, depth))
        out.append(tuple(views))
    return out


def checkpoint(be, arrays) -> list:
    """The same arrays re-entered from the client, so the scheduler forgets their history.

    Dask recovers lost chunks from lineage, so without this the scheduler would keep the
    records of every step (and the NumPy grads embedded in them) for ever. The copy costs
    one round trip of the state through the client every ``checkpoint_every`` steps.
    """
    host = [be._gather(a) for a in arrays]
    fresh = [da.from_array(h, chunks=a.chunks) for h, a in zip(host, arrays)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*large graph.*")
        return be._persist(fresh)


__all__ = ["IdentityTable", "StepPlan", "ViewRecord", "checkpoint", "mark_zeros", "offsets",
           "plan_step", "run_steps", "shard_of"]
