"""The dask backend: arrays that live in the cluster, fault tolerance, cross-chunk reductions.

Runs on the backend's embedded LocalCluster (2 worker processes, 1 thread each), started on
the first kernel call. Inputs are small and cut into several chunks, so every reduction here
combines partial sums across chunks.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import kernbench as kb
from kernbench import info, optim
from tests.helpers import assert_same

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
from distributed import futures_of  # noqa: E402
from distributed.scheduler import KilledWorker  # noqa: E402

from kernbench.backends import _dask_cluster, _dask_kernels, _dask_steps, dask_backend  # noqa: E402


@pytest.fixture(scope="module")
def dask_be():
    return kb.get_backend("dask")


@pytest.fixture(scope="module")
def client(dask_be):
    c = dask_be.client
    c.wait_for_workers(2, timeout=60)
    return c


def _persisted(a) -> bool:
    keys = set(_flat_keys(a))
    futures = {f.key for f in futures_of(a)}
    return bool(keys) and keys <= futures


def _flat_keys(a):
    from dask.core import flatten

    return list(flatten(a.__dask_keys__()))


def _adam_keys(client):
    return set(client.run_on_scheduler(
        lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks if "kernbench-" in str(k)]))


# ---------------------------------------------------------------------------- optimizers

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls,kw", [(optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
                                    (optim.AdamW, dict(lr=0.01, weight_decay=0.05)),
                                    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True))],
                         ids=["adam", "adamw", "sgd"])
def test_dask_params_stay_persisted_and_follow_numpy(client, rng, dtype, cls, kw):
    start = [rng.normal(size=(6, 10)).astype(dtype), rng.normal(size=25).astype(dtype)]
    params = [da.from_array(start[0], chunks=(2, 5)), da.from_array(start[1], chunks=7)]
    ref_params = [p.copy() for p in start]
    opt = cls(params, backend="dask", **kw)
    ref = cls(ref_params, backend="numpy", **kw)
    for step in range(5):
        grads = [rng.normal(size=p.shape).astype(dtype) for p in start]
        # one grad as a dask array with other chunks (rechunked to the param's), one NumPy
        dgrads = [da.from_array(grads[0], chunks=(3, 10)), grads[1]]
        ref.step([g.copy() for g in grads])
        opt.step(dgrads)
        for i, (p, r) in enumerate(zip(opt.params, ref_params)):
            assert isinstance(p, da.Array) and p.chunks == params[i].chunks
            assert _persisted(p), f"param {i} is not persisted after step {step}"
            assert_same(p.compute(), r, exact_zeros=False, err_msg=f"param {i} step {step}")
        for st in opt.state:
            for name, a in st.items():
                if name != "step":
                    assert isinstance(a, da.Array) and _persisted(a), name
    # the caller's original arrays are untouched (dask arrays are immutable)
    np.testing.assert_array_equal(params[0].compute(), start[0])
    mine, theirs = opt.state_dict()["state"], ref.state_dict()["state"]
    for i in mine:
        for key in mine[i]:
            assert_same(mine[i][key], theirs[i][key], exact_zeros=False)


def _holders(client, a) -> list:
    """The workers holding each chunk of persisted array a, in block order."""
    from distributed import wait

    wait(futures_of(a))
    who = client.who_has(futures_of(a))
    return [set(who[k]) for k in _flat_keys(a)]


def test_scatter_places_chunks_in_turn(dask_be, client, rng):
    x = rng.normal(size=(6, 5))
    d = dask_be.scatter(x, chunks=(1, 5))
    assert _persisted(d)
    workers = sorted(client.scheduler_info()["workers"])
    assert _holders(client, d) == [{workers[i % len(workers)]} for i in range(6)]
    np.testing.assert_array_equal(d.compute(), x)


def test_state_is_born_beside_the_param_chunk_and_stays(dask_be, client, rng):
    """No chunk moves: the zero state is made inside the param chunk's task, and every step
    runs where param, state and (placed alike) grad already are."""
    p, g = rng.normal(size=400), rng.normal(size=400)
    params = dask_be.scatter(p, chunks=50)
    grads = dask_be.scatter(g, chunks=50)
    where = _holders(client, params)
    assert len({frozenset(w) for w in where}) == 2  # both workers hold chunks
    opt = optim.Adam([params], lr=0.01, amsgrad=True, backend="dask")
    ref_p = [p.copy()]
    ref = optim.Adam(ref_p, lr=0.01, amsgrad=True, backend="numpy")
    for _ in range(3):
        opt.step([grads])
        ref.step([g.copy()])
        assert _holders(client, opt.params[0]) == where
        for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert _holders(client, opt.state[0][name]) == where, name
    assert_same(opt.params[0].compute(), ref_p[0], exact_zeros=False)


def test_a_steady_step_is_one_round_of_tasks(client, rng):
    """From the second step on, a chunk's task reads the previous step's task output directly
    (not the per-array views the optimizer holds): one scheduler round trip per step."""
    x = rng.normal(size=300)
    grad = da.from_array(rng.normal(size=300), chunks=60).persist()
    opt = optim.Adam([da.from_array(x, chunks=60)], lr=0.01, backend="dask")
    for _ in range(3):
        opt.step([grad])
    shard = _dask_steps.shard_of(opt.params[0])
    keys = _flat_keys(shard)
    grad_keys = {str(k) for k in _flat_keys(grad)}

    def dependencies(dask_scheduler, keys=keys):
        return [sorted(str(d.key) for d in dask_scheduler.tasks[k].dependencies) for k in keys]

    for deps in client.run_on_scheduler(dependencies):
        assert len(deps) == 2, deps
        prev, = [d for d in deps if d not in grad_keys]
        assert "kernbench-adam-" in prev and "-out" not in prev, deps


def test_adam_step_is_all_or_nothing_across_params(client, rng):
    """A task failing for the second param leaves the first param, all state and the step
    counts as they were, and the retried step goes on."""
    start = [rng.normal(size=40), rng.normal(size=(6, 5))]
    grads = [rng.normal(size=40), rng.normal(size=(6, 5))]
    opt = optim.Adam([da.from_array(start[0], chunks=10), da.from_array(start[1], chunks=2)],
                     lr=0.05, backend="dask")
    ref_p = [a.copy() for a in start]
    ref = optim.Adam(ref_p, lr=0.05, backend="numpy")
    opt.step(grads)
    ref.step([g.copy() for g in grads])
    before = opt.state_dict()
    params_before = [p.compute() for p in opt.params]

    def fail(block):
        raise RuntimeError("this grad chunk cannot be computed")

    bad = da.from_array(grads[1], chunks=2).map_blocks(fail, dtype=np.float64)
    with pytest.raises(RuntimeError, match="cannot be computed"):
        opt.step([grads[0], bad])

    def failed(dask_scheduler):
        return [str(k) for k, ts in dask_scheduler.tasks.items() if ts.state == "erred"]

    deadline = time.time() + 10  # the failed step's tasks are released, not pinned
    while client.run_on_scheduler(failed) and time.time() < deadline:
        time.sleep(0.05)
    assert client.run_on_scheduler(failed) == []
    after = opt.state_dict()
    for i in (0, 1):
        np.testing.assert_array_equal(opt.params[i].compute(), params_before[i])
        assert after["state"][i]["step"] == before["state"][i]["step"] == 1
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(after["state"][i][key], before["state"][i][key])
    opt.step(grads)
    ref.step([g.copy() for g in grads])
    for p, r in zip(opt.params, ref_p):
        assert_same(p.compute(), r, exact_zeros=False)


def test_pool_keeps_as_many_idle_buffers_as_a_step_uses():
    """A worker writing k buffers of a size per step finds all k again at the next step: none
    is dropped and faulted in anew (k above the fixed minimum of idle buffers)."""
    import weakref

    _dask_kernels.clear_pool()
    k = _dask_kernels._MAX_FREE + 5
    older = [_dask_kernels._buffer(1000, np.float32) for _ in range(k)]  # step t-1's outputs
    newer = [_dask_kernels._buffer(1000, np.float32) for _ in range(k)]  # step t's, still held
    alive = [weakref.ref(a) for a in older]
    del older  # step t-1's keys were released
    again = [_dask_kernels._buffer(1000, np.float32) for _ in range(k)]  # step t+1's outputs
    assert all(r() is not None for r in alive), "idle buffers were dropped"
    assert {id(r()) for r in alive} == {id(a) for a in again}
    assert _dask_kernels.pool_stats() == {(np.dtype(np.float32).str, 1000): 2 * k}
    del again, newer
    _dask_kernels.clear_pool()


def test_compiled_chunk_functions_release_the_gil():
    """A worker with several task threads runs chunk tasks at the same time only if no
    compiled chunk function holds the GIL."""
    from numba.core.registry import CPUDispatcher

    compiled = {name: f for name, f in vars(_dask_kernels).items()
                if isinstance(f, CPUDispatcher) and f.__module__ == _dask_kernels.__name__}
    assert "_entropy_parts" in compiled
    for name, f in compiled.items():
        assert f.targetoptions.get("nogil"), name


def test_chunks_are_equal_and_a_multiple_of_the_threads(client):
    threads = sum(client.nthreads().values())
    assert dask_backend.DaskBackend().threads() == threads
    for chunk_bytes, shape, dtype in [(256 * 2**20, (10**8,), np.float32),
                                      (64 * 2**20, (10**8,), np.float32),
                                      (64 * 2**20, (10**8,), np.float64),
                                      (2**20, (1000,), np.float64),
                                      (2**20, (5000, 300), np.float32)]:
        chunks = dask_backend.DaskBackend(chunk_bytes=chunk_bytes).chunks_for(shape, dtype)
        assert [sum(c) for c in chunks] == list(shape)
        blocks = math.prod(len(c) for c in chunks)
        assert blocks % threads == 0, (shape, chunks)
        if math.prod(shape) * np.dtype(dtype).itemsize <= chunk_bytes:
            assert blocks >= dask_backend.DEFAULT_SPLIT, (shape, chunks)
        assert max(chunks[0]) - min(chunks[0]) <= 1, (shape, chunks)
        assert math.prod(max(c) for c in chunks) * np.dtype(dtype).itemsize <= chunk_bytes
    if threads == 2:  # the figure in chunks_for's docstring
        assert dask_backend.DaskBackend(chunk_bytes=256 * 2**20).chunks_for(
            (10**8,), np.float32) == ((50_000_000,) * 2,)


def test_a_reduction_is_one_task_per_block(dask_be, client, rng):
    """The rows' reshape and transpose are fused into the block tasks and the partial sums
    are fetched from them: one round of tasks, one task per block."""
    from distributed import get_task_stream

    x = dask_be.scatter(rng.random(4000), chunks=500)
    expected = info.entropy(x.compute(), backend="numpy")
    with get_task_stream(client) as stream:
        got = info.entropy(x, backend="dask")
    assert_same(got, expected)
    assert len(stream.data) == x.numblocks[0], [r["key"] for r in stream.data]


def test_state_moves_into_and_out_of_dask(client, rng):
    start = rng.normal(size=40)
    grads = [rng.normal(size=40) for _ in range(6)]
    a = optim.Adam([da.from_array(start, chunks=9)], lr=0.1, amsgrad=True, backend="dask")
    for g in grads[:3]:
        a.step([da.from_array(g, chunks=9)])
    p_mid = a.params[0].compute()
    b = optim.Adam([p_mid.copy()], lr=0.1, amsgrad=True, backend="numba")
    b.load_state_dict(a.state_dict())
    for g in grads[3:]:
        a.step([g])
        b.step([g.copy()])
    assert_same(a.params[0].compute(), b.params[0], exact_zeros=False)


def test_checkpoints_bound_the_schedulers_history(dask_be, client, rng):
    """Lineage would keep every step's task records (and NumPy grads) on the scheduler."""
    start = rng.normal(size=300)
    ref_p = [start.copy()]
    opt = optim.Adam([da.from_array(start, chunks=50)], lr=0.05, amsgrad=True, backend="dask")
    ref = optim.Adam(ref_p, lr=0.05, amsgrad=True, backend="numpy")
    old, dask_be.checkpoint_every = dask_be.checkpoint_every, 4
    try:
        counts = []
        for step in range(13):
            g = rng.normal(size=300)
            opt.step([g])
            ref.step([g.copy()])
            if step >= 8:
                time.sleep(0.1)
                counts.append(len(_adam_keys(client)))
    finally:
        dask_be.checkpoint_every = old
    # 6 chunks x 5 keys per step: at most 4 steps of history, not 13
    assert max(counts) <= 6 * 5 * 5 + 12, counts
    assert_same(opt.params[0].compute(), ref_p[0], exact_zeros=False)
    assert opt.state_dict()["state"][0]["step"] == 13


def test_bad_grads_raise_before_any_task_is_submitted(dask_be, client, rng):
    p = da.from_array(rng.normal(size=(4, 6)), chunks=(2, 3))
    opt = optim.Adam([p], lr=0.1, backend="dask")
    opt.step([np.ones((4, 6))])
    time.sleep(0.2)
    before_keys = _adam_keys(client)
    state = opt.state_dict()
    before = dask_be.submissions
    cases = [
        ([np.ones((6, 4))], ValueError, r"grads\[0\].*shape"),
        ([da.ones((4, 6), dtype=np.float32)], ValueError, r"grads\[0\].*dtype"),
        ([[[1.0] * 6] * 4], TypeError, r"grads\[0\]"),
        ([np.ones((4, 6)), np.ones(3)], ValueError, r"grads"),
    ]
    for grads, exc, match in cases:
        with pytest.raises(exc, match=match):
            opt.step(grads)
    assert dask_be.submissions == before
    assert _adam_keys(client) <= before_keys, "a failed step sent tasks to the scheduler"
    after = opt.state_dict()
    assert after["state"][0]["step"] == state["state"][0]["step"] == 1
    for key in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(after["state"][0][key], state["state"][0][key])


def _set_allowed_failures(client, n):
    def setter(dask_scheduler, n=n):
        old = dask_scheduler.allowed_failures
        dask_scheduler.allowed_failures = n
        return old

    return client.run_on_scheduler(setter)


# With allowed_failures=0 the kill can also catch the recomputation of a lost chunk of the
# previous state on the dying worker; the scheduler then gives that chunk up for good
# (KilledWorker when the old state is read back). A known limit of running without retries,
# timing-dependent on a loaded machine: recorded as xfail when it happens, never hidden.
_STEP_FAILS = pytest.param(0, id="step-fails", marks=pytest.mark.xfail(
    strict=False, raises=KilledWorker,
    reason="allowed_failures=0 can lose a chunk of the old state being recomputed"))


@pytest.mark.parametrize("allowed_failures",
                         [_STEP_FAILS, pytest.param(None, id="dask-recovers")])
def test_worker_killed_mid_step_keeps_state_and_step_retries(dask_be, client, rng,
                                                             allowed_failures):
    """With allowed_failures=0 the scheduler gives up on the killed worker's tasks: the step
    raises, the optimizer keeps its previous state (lost chunks are recomputed from their
    lineage) and the retried step gives the NumPy trajectory. With the default, Dask reruns the
    tasks and the step just completes."""
    if any(w.startswith("inproc") for w in client.scheduler_info()["workers"]):
        pytest.skip("workers run inside this process (KERNBENCH_DASK_PROCESSES=0)")
    n = 6000
    # name=False: random task keys. Hashed keys would repeat across the two variants (same
    # seeded data), and a key the scheduler gave up on in one would fail the other.
    start = rng.normal(size=n)
    grads = [rng.normal(size=n) for _ in range(3)]
    opt = optim.Adam([da.from_array(start, chunks=500, name=False)], lr=0.05, backend="dask")
    ref_p = [start.copy()]
    ref = optim.Adam(ref_p, lr=0.05, backend="numpy")
    for g in grads[:2]:
        opt.step([da.from_array(g, chunks=500, name=False)])
        ref.step([g.copy()])
    p_before = opt.params[0].compute()
    state_before = opt.state_dict()
    outcome = {}

    def run():
        try:
            opt.step([da.from_array(grads[2], chunks=500, name=False)])
            outcome["ok"] = True
        except Exception as exc:
            outcome["error"] = exc

    old_failures = None
    if allowed_failures is not None:
        old_failures = _set_allowed_failures(client, allowed_failures)
    client.run(_dask_kernels.set_chunk_delay, 0.3)
    try:
        worker = thread = None
        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.5)
        workers = list(client.scheduler_info()["workers"])
        worker = workers[0]
        try:
            client.run(_dask_kernels.exit_process, 1, workers=[worker])
        except Exception:
            pass
        thread.join(120)
        assert not thread.is_alive(), "the step hung after a worker died"
    finally:
        client.run(_dask_kernels.set_chunk_delay, 0.0)
        if old_failures is not None:
            _set_allowed_failures(client, old_failures)
    if allowed_failures == 0:
        assert "error" in outcome, "the step survived a worker loss with allowed_failures=0"
    print("step outcome after the kill:", "retried" if "error" in outcome else "recovered")
    if "error" in outcome:
        # the optimizer kept its previous state: params, moments and step count
        assert opt.state_dict()["state"][0]["step"] == state_before["state"][0]["step"]
        np.testing.assert_array_equal(opt.params[0].compute(), p_before)
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(opt.state_dict()["state"][0][key],
                                          state_before["state"][0][key])
        client.wait_for_workers(2, timeout=60)
        opt.step([da.from_array(grads[2], chunks=500, name=False)])  # the retry
    deadline = time.time() + 30
    while worker in client.scheduler_info()["workers"] and time.time() < deadline:
        time.sleep(0.1)
    assert worker not in client.scheduler_info()["workers"], "the worker was not killed"
    ref.step([grads[2].copy()])
    assert opt.state_dict()["state"][0]["step"] == 3
    assert_same(opt.params[0].compute(), ref_p[0], exact_zeros=False)
    client.wait_for_workers(2, timeout=60)


def test_clip_grad_norm_puts_scaled_dask_grads_into_the_list(dask_be, client, rng):
    """Dask arrays are immutable: the caller's list gets the scaled ones. A NumPy grad in the
    same list stays the caller's array, scaled in place."""
    host = [rng.normal(size=(5, 8)) * 3, rng.normal(size=17),
            (rng.normal(size=9) * 3).astype(np.float32)]
    grads = [da.from_array(host[0], chunks=(2, 3)), host[1], da.from_array(host[2], chunks=4)]
    mine = grads[1]
    ref = [g.copy() for g in host]
    norm = optim.clip_grad_norm(grads, 1.0, backend="dask")
    ref_norm = optim.clip_grad_norm(ref, 1.0, backend="numpy")
    assert isinstance(norm, float)
    assert_same(norm, ref_norm)
    assert grads[1] is mine
    for i in (0, 2):
        assert isinstance(grads[i], da.Array) and _persisted(grads[i])
        assert grads[i].dtype == host[i].dtype
    for g, r in zip(grads, ref):
        assert_same(np.asarray(g), r)


@pytest.mark.parametrize("max_norm", [1.0, 1e9], ids=["scales", "no-scaling-needed"])
@pytest.mark.parametrize("kind", ["tuple", "lone", "mixed-tuple"])
def test_clip_grad_norm_refuses_dask_grads_it_cannot_hand_back(dask_be, client, rng, kind,
                                                               max_norm):
    """A tuple or a lone dask array cannot receive the scaled arrays: a clear error naming
    grads, whether or not scaling was needed, raised before anything is computed."""
    host = [rng.normal(size=12) * 3, rng.normal(size=(3, 4)) * 3]
    d = da.from_array(host[1], chunks=(1, 4))
    grads = {"tuple": (da.from_array(host[0], chunks=5), d), "lone": d,
             "mixed-tuple": (host[0], d)}[kind]
    before = host[0].copy()
    submitted = dask_be.submissions
    with pytest.raises(TypeError, match=r"grads.*cannot be scaled in place.*pass a list"):
        optim.clip_grad_norm(grads, max_norm, backend="dask")
    assert dask_be.submissions == submitted
    np.testing.assert_array_equal(host[0], before)


def test_failed_clip_leaves_the_list_as_it_was(client, rng):
    host = rng.normal(size=10) * 3

    def fail(block):
        raise RuntimeError("this grad chunk cannot be computed")

    bad = da.from_array(rng.normal(size=8), chunks=4).map_blocks(fail, dtype=np.float64)
    grads = [host, bad]
    held = list(grads)
    before = host.copy()
    with pytest.raises(RuntimeError, match="cannot be computed"):
        optim.clip_grad_norm(grads, 1.0, backend="dask")
    assert all(a is b for a, b in zip(grads, held))
    np.testing.assert_array_equal(host, before)


def test_a_lone_dask_param_and_grad_are_one_tensor(client, rng):
    start = rng.normal(size=(6, 4))
    opt = optim.Adam(da.from_array(start, chunks=(2, 4)), lr=0.1, backend="dask")
    ref_p = start.copy()
    ref = optim.Adam(ref_p, lr=0.1, backend="numpy")
    assert len(opt.params) == 1
    for _ in range(2):
        g = rng.normal(size=(6, 4))
        opt.step(da.from_array(g, chunks=(3, 4)))
        ref.step(g.copy())
    assert opt.params[0].shape == (6, 4)
    assert_same(opt.params[0].compute(), ref_p, exact_zeros=False)


def test_numpy_params_stay_the_callers_arrays(client, rng):
    """NumPy params keep their meaning on dask: updated in place, while the state lives in
    the cluster."""
    p = rng.normal(size=30)
    ref_p = p.copy()
    opt = optim.SGD([p], lr=0.1, momentum=0.9, backend="dask")
    ref = optim.SGD([ref_p], lr=0.1, momentum=0.9, backend="numpy")
    for step in range(3):
        g = rng.normal(size=30)
        opt.step([g if step % 2 else da.from_array(g, chunks=7)])
        ref.step([g.copy()])
        assert opt.params[0] is p
        assert isinstance(opt.state[0]["momentum_buffer"], da.Array)
    assert_same(p, ref_p, exact_zeros=False)


def test_state_is_kept_beside_dask_objects_not_on_them(dask_be, client, rng):
    """What the backend remembers about arrays and clients is in side tables that let go of
    an array when it goes: no attribute is set on dask's objects."""
    import gc

    tracked = len(_dask_steps._views)
    opt = optim.Adam([da.from_array(rng.normal(size=40), chunks=10)], lr=0.1, amsgrad=True,
                     backend="dask")
    for _ in range(2):
        opt.step([rng.normal(size=40)])
    held = [opt.params[0]] + [a for k, a in opt.state[0].items() if k != "step"]
    assert _dask_steps.shard_of(opt.params[0]) is not None
    for a in held:
        assert not [k for k in vars(a) if "kernbench" in k], vars(a)
    assert not [k for k in vars(client) if "kernbench" in k]
    threads = dask_be.threads()
    assert _dask_cluster.record(client).threads == threads == sum(client.nthreads().values())
    assert len(_dask_steps._views) > tracked
    del opt, held, a
    gc.collect()
    assert len(_dask_steps._views) <= tracked


# ---------------------------------------------------------------------------- information

def test_reductions_over_many_chunks_equal_numpy(dask_be, client, rng):
    p = rng.random((5, 300))
    p[p < 0.2] = 0.0
    q = rng.random((5, 300))
    dp = da.from_array(p, chunks=(2, 70))   # 5 chunks along each row
    dq = da.from_array(q, chunks=(3, 45))   # other chunks: aligned to p's
    assert dp.numblocks[1] >= 3
    assert_same(info.entropy(dp, backend="dask"), info.entropy(p, backend="numpy"))
    assert_same(info.entropy(dp, axis=0, backend="dask"), info.entropy(p, axis=0, backend="numpy"))
    for name in ("kl_divergence", "cross_entropy", "js_divergence"):
        fn = getattr(info, name)
        assert_same(fn(dp, dq, backend="dask"), fn(p, q, backend="numpy"), err_msg=name)
    joint = rng.integers(0, 9, size=(40, 12)).astype(np.float64)
    dj = da.from_array(joint, chunks=(7, 5))
    for name in ("mutual_information", "conditional_entropy"):
        fn = getattr(info, name)
        assert_same(fn(dj, backend="dask"), fn(joint, backend="numpy"), err_msg=name)
    x = rng.normal(size=1000)
    assert_same(dask_be.sum_squares(da.from_array(x, chunks=90)), float(np.dot(x, x)),
                tol=(1e-12, 0))
    # a NumPy input is chunked by the backend: small arrays still cross chunks
    assert dask_be.as_array(p, "p").numblocks[1] >= 3


def test_reductions_with_more_blocks_per_row_than_the_fan_in(client, rng):
    """Past FAN_IN partial sums per row, they are combined on the cluster first."""
    nblocks = dask_backend.FAN_IN + 8
    p = rng.random((3, 10 * nblocks))
    p[p < 0.1] = 0.0
    q = rng.random((3, 10 * nblocks))
    dp, dq = da.from_array(p, chunks=(2, 10)), da.from_array(q, chunks=(2, 10))
    assert dp.numblocks[1] > dask_backend.FAN_IN
    assert_same(info.entropy(dp, backend="dask"), info.entropy(p, backend="numpy"))
    for name in ("kl_divergence", "js_divergence"):
        fn = getattr(info, name)
        assert_same(fn(dp, dq, backend="dask"), fn(p, q, backend="numpy"), err_msg=name)


def test_info_with_dask_inputs_gives_dask_rowwise_outputs(client, rng):
    x = rng.normal(size=(7, 30)).astype(np.float32)
    dx = da.from_array(x, chunks=(3, 8))
    for name in ("softmax", "log_softmax"):
        got = getattr(info, name)(dx, 2.0, backend="dask")
        assert isinstance(got, da.Array) and got.dtype == np.float32
        assert_same(got.compute(), getattr(info, name)(x, 2.0, backend="numpy"))
    t = rng.integers(0, 30, size=7)
    assert_same(info.cross_entropy_logits(dx, t, backend="dask"),
                info.cross_entropy_logits(x, t, backend="numpy"))
    s = rng.uniform(0.5, 2.0, size=(7, 30))
    got = info.gaussian_entropy(da.from_array(s, chunks=(4, 10)), backend="dask")
    assert isinstance(got, da.Array)
    assert_same(got.compute(), info.gaussian_entropy(s, backend="numpy"))
    with pytest.raises(ValueError, match=r"\bp\b"):
        info.entropy(da.from_array(np.array([[0.5, -0.5, 1.0]]), chunks=(1, 1)), backend="dask")


def test_check_grad_names_the_argument(dask_be):
    p = da.zeros((3,), chunks=2)
    with pytest.raises(TypeError, match=r"grads\[2\]"):
        dask_be.check_grad([1.0, 2.0, 3.0], p, "grads[2]", "params[2]")
    with pytest.raises(ValueError, match=r"grads\[0\].*dtype"):
        dask_be.check_grad(da.zeros((3,), dtype=np.float32), p, "grads[0]", "params[0]")
    dask_be.check_grad(np.zeros(3), p, "grads[0]", "params[0]")


def test_connect_to_an_existing_scheduler(client):
    address = client.scheduler.address
    try:
        other = dask_backend.DaskBackend.connect(address)
        assert dask_backend.get_client() is other
        assert_same(info.entropy([1.0, 2.0, 3.0, 4.0], backend="dask"),
                    info.entropy([1.0, 2.0, 3.0, 4.0], backend="numpy"))
    finally:
        dask_backend.use_client(client)
    other.close()


# ---------------------------------------------------------------------------- start-up

def _python(code: str) -> str:
    env = dict(os.environ)
    env.pop("KERNBENCH_DASK_SCHEDULER", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_no_cluster_at_import_or_get_backend():
    out = _python(
        "import kernbench as kb\n"
        "names = kb.available_backends()\n"
        "from kernbench.backends import _dask_cluster as m\n"
        "assert 'dask' in names and m.current_client() is None and not m.owned(), names\n"
        "print('lazy')\n")
    assert "lazy" in out


def test_unavailable_without_dask():
    out = _python(
        "import sys\n"
        "sys.modules['dask'] = None\n"
        "sys.modules['distributed'] = None\n"
        "import kernbench as kb\n"
        "from kernbench.backends.dask_backend import DaskBackend\n"
        "print(DaskBackend.unavailable_reason())\n"
        "assert 'dask' not in kb.available_backends()\n")
    assert 'pip install "kernbench[dask]"' in out
