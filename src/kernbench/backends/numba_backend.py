"""The ``numba`` backend: ``@njit`` CPU kernels, one fused pass over memory each.

This module is the host side: it casts scalars to the array dtype, walks n-D and strided arrays
as aligned 1-D pieces, allocates outputs and decides whether a kernel runs on numba's threads
by size. The compiled kernels live in :mod:`kernbench.backends._numba_kernels` (which also
names the elementwise ones of :mod:`kernbench.backends._numba_elementwise`), on the task
runtime of :mod:`kernbench.backends._numba_runtime` (``tuned`` or ``plain``, see
:func:`runtime_name`; ``KERNBENCH_NUMBA_RUNTIME`` forces either).

Under numba's ``workqueue`` threading layer, which is not thread-safe, the kernels' parallel
calls take one lock, so calls from several Python threads never run two parallel regions at
once; the ``tbb`` layer (numba's first choice, installed with this package where the ``tbb``
wheel exists) and the ``omp`` layer run them side by side.
"""

from __future__ import annotations

import weakref

import numba
import numpy as np

from kernbench._arrays import memory_order_pieces
from kernbench._hyper import adam_kernel_args, adam_step_scalars
from kernbench.backends import _finals, _numba_kernels, _numba_runtime
from kernbench.backends.interface import Backend

#: The compiled kernels, their parallel calls serialized where the threading layer needs it.
K = _numba_runtime.serialize_parallel_calls(_numba_kernels)


def runtime_name() -> str:
    """The task runtime the kernels use: ``"tuned"`` or ``"plain"``."""
    return _numba_runtime.RUNTIME


#: Elementwise kernels (optimizer steps, scale_, sum_squares) run in parallel from this many
#: bytes of one param piece. Measured on the 2-core machine, Adam step, serial/parallel median
#: in us with threads warm: float64 8e3 elements 10.5/10.3, 1.6e4 19.9/14.7, 3.2e4 41/27;
#: float32 1.6e4 7.2/8.5, 3.2e4 13.4/11.7, 6.4e4 26/19. Both cross near 64-100 KiB per
#: array; 128 KiB (16384 float64, 32768 float32) keeps a parallel launch a clear win.
PARALLEL_MIN_BYTES = 128 * 1024
#: Row kernels (entropy, KL, softmax, cross-entropy from logits, ...) run in parallel from
#: this many elements in all. Measured serial/parallel median in us: entropy of one row
#: 8e3 13/16, 1.6e4 27/20, 3.2e4 62/29; rows of 500 (entropy, float32 softmax and
#: cross-entropy from logits alike) 1.6e4 27/30, 3.2e4 54/33. Crossing near 2e4.
PARALLEL_MIN_ROW_ELEMENTS = 32_768
#: Tasks per thread for short-row kernels: several, so uneven rows still balance.
_TASKS_PER_THREAD = 8
#: Longest chunk of one row that a task handles: a 1e7 entropy (one row) makes 153 tasks,
#: enough to balance the threads, few enough that the per-task call and scratch vanish.
_CHUNK_MAX = 65_536
#: A row of a short table (fewer than _FEW_ROWS rows) longer than _SPLIT_MIN is cut into at
#: least _MIN_CHUNKS chunks of at least _CHUNK_MIN elements, so one long row still uses
#: every thread.
_FEW_ROWS = 8
#: Adam over this many tensors or more goes through the one-call multi-tensor kernel. Measured
#: per step, 1e3-element float32 tensors, multi-tensor call / one adam_step each (us): 1 tensor
#: 9.3 / 7.2, 2 tensors 10.4 / 13.0, 4 tensors 13.4 / 26.0, 8 tensors 19.4 / 51.7.
_MULTI_MIN_TENSORS = 2
_SPLIT_MIN = 8_192
_MIN_CHUNKS = 8
_CHUNK_MIN = 4_096




_EMPTY: dict = {}
_INT64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)


def _empty(dtype) -> np.ndarray:
    """A zero-length stand-in for an absent state array (momentum buffer, max_exp_avg_sq)."""
    key = np.dtype(dtype)
    a = _EMPTY.get(key)
    if a is None:
        a = _EMPTY[key] = np.empty(0, dtype=key)
    return a


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _multi_plan(sizes: list[int], chunk: int):
    """(segments, task_start, total) for :func:`_numba_elementwise.adam_multi`: the tensors laid
    end to end and cut at every multiple of ``chunk`` elements, so every task but the last
    covers exactly ``chunk`` elements, whichever tensors they belong to."""
    segments = []
    task_of = []
    done = 0
    for i, n in enumerate(sizes):
        a = 0
        while a < n:
            task = (done + a) // chunk
            b = min(n, (task + 1) * chunk - done)
            segments.append((i, a, b - a))
            task_of.append(task)
            a = b
        done += n
    ntasks = -(-done // chunk)
    task_start = np.searchsorted(np.asarray(task_of, dtype=np.int64),
                                 np.arange(ntasks + 1)).astype(np.int64)
    return np.asarray(segments, dtype=np.int64).reshape(-1, 3), task_start, done


def _operand(piece: np.ndarray):
    """A piece broadcast along its one axis (stride 0) as its scalar, else the piece: the
    elementwise kernels take either, and a stride-0 array would keep their loop scalar."""
    if piece.size > 1 and piece.strides[0] == 0:
        return piece[0]
    return piece


def _elementwise(piece: np.ndarray):
    """(chunk length, parallel) of an elementwise kernel over a 1-D piece: one chunk below
    the parallel threshold, else chunks of at most _CHUNK_MAX elements, at least one per
    thread, in whole cache lines."""
    n = piece.size
    if piece.nbytes < PARALLEL_MIN_BYTES:
        return max(n, 1), False
    per = -(-n // numba.get_num_threads())
    return min(_CHUNK_MAX, -(-per // 64) * 64), True


def _chunk_length(rows: int, n: int) -> int:
    """Elements of one row per task; >= n means whole rows. Depends on the shape alone."""
    if rows < _FEW_ROWS and n > _SPLIT_MIN:
        per = -(-n // _MIN_CHUNKS)
        per = -(-per // 512) * 512  # whole scratch blocks
        return min(_CHUNK_MAX, max(_CHUNK_MIN, per))
    return max(n, 1) if n <= _CHUNK_MAX else _CHUNK_MAX


def _row_plan(x: np.ndarray):
    """(rows_per_task, chunk_length, parallel) for a row kernel over a 2-D (R, n) input."""
    rows, n = x.shape
    ch = _chunk_length(rows, n)
    if x.size < PARALLEL_MIN_ROW_ELEMENTS:
        return max(rows, 1), ch, False
    tasks = _TASKS_PER_THREAD * numba.get_num_threads()
    per_task = max(1, min(_CHUNK_MAX // max(n, 1), -(-rows // tasks)))
    return per_task, ch, True


class NumbaBackend(Backend):
    name = "numba"

    # ------------------------------------------------------------------ optimizers
    def sgd_step(self, param, grad, momentum_buffer, *, lr, weight_decay, momentum,
                 dampening, nesterov, maximize, first_step) -> tuple:
        dt = param.dtype.type
        has_mom = momentum != 0
        args = (dt(lr), dt(weight_decay), dt(momentum), dt(1.0 - dampening),
                weight_decay != 0, has_mom, bool(nesterov), bool(maximize), bool(first_step))
        if has_mom:
            for p, g, b in memory_order_pieces(param, grad, momentum_buffer):
                K.sgd(p, g, b, *_elementwise(p), *args)
        else:
            empty = _empty(param.dtype)
            for p, g in memory_order_pieces(param, grad):
                K.sgd(p, g, empty, *_elementwise(p), *args)
        return param, momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2,
                  eps, weight_decay, decoupled, amsgrad, maximize, step) -> tuple:
        dt = param.dtype.type
        scalars, flags = adam_kernel_args(lr, beta1, beta2, eps, weight_decay, decoupled,
                                          amsgrad, maximize, step)
        args = tuple(dt(x) for x in scalars) + flags
        if amsgrad:
            for p, g, m, v, vmax in memory_order_pieces(param, grad, exp_avg, exp_avg_sq,
                                                        max_exp_avg_sq):
                K.adam(p, g, m, v, vmax, *_elementwise(p), *args)
        else:
            empty = _empty(param.dtype)
            for p, g, m, v in memory_order_pieces(param, grad, exp_avg, exp_avg_sq):
                K.adam(p, g, m, v, empty, *_elementwise(p), *args)
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    def adam_steps(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1,
                   beta2, eps, weight_decay, decoupled, amsgrad, maximize, steps, cache=None):
        """Adam over many tensors: C-contiguous ones of one dtype in one compiled call (one
        parallel region for the whole model), any others one by one through adam_step."""
        if len(params) == 1 and params[0].ndim == 1 and cache is not None:
            self._adam_one(params[0], grads[0], exp_avgs[0], exp_avg_sqs[0],
                           max_exp_avg_sqs[0] if amsgrad else _empty(params[0].dtype), lr,
                           beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize,
                           steps[0], cache)
            return [(params[0], exp_avgs[0], exp_avg_sqs[0],
                     max_exp_avg_sqs[0] if amsgrad else None)]
        if len(params) < _MULTI_MIN_TENSORS:
            return super().adam_steps(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                                      lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                      weight_decay=weight_decay, decoupled=decoupled,
                                      amsgrad=amsgrad, maximize=maximize, steps=steps)
        groups: dict = {}
        for k, p in enumerate(params):
            arrays = (p, grads[k], exp_avgs[k], exp_avg_sqs[k])
            if amsgrad:
                arrays += (max_exp_avg_sqs[k],)
            if p.size and all(a.flags.c_contiguous for a in arrays):
                groups.setdefault(p.dtype, []).append(k)
            else:
                self.adam_step(p, grads[k], exp_avgs[k], exp_avg_sqs[k],
                               max_exp_avg_sqs[k] if amsgrad else None, lr=lr, beta1=beta1,
                               beta2=beta2, eps=eps, weight_decay=weight_decay,
                               decoupled=decoupled, amsgrad=amsgrad, maximize=maximize,
                               step=steps[k])
        cache = {} if cache is None else cache
        for dtype, ks in groups.items():
            self._adam_group(dtype, ks, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                             lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize,
                             steps, cache.setdefault(("adam", dtype), {}))
        return [(p, m, v, vm if amsgrad else None)
                for p, m, v, vm in zip(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)]

    def _adam_one(self, p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled,
                  amsgrad, maximize, step, cache) -> None:
        """adam_step of one 1-D tensor (its one piece), the scalars that stay the same from
        step to step cast to its dtype once and kept in ``cache`` while the caller passes
        the very same hyperparameter objects (compared by identity: 0.0 and -0.0 are equal
        but not the same scalar)."""
        memo = cache.get("adam_one")
        if (memo is None or memo[0] is not lr or memo[1] is not beta1 or memo[2] is not beta2
                or memo[3] is not eps or memo[4] is not weight_decay
                or memo[5] is not decoupled or memo[6] is not amsgrad
                or memo[7] is not maximize or memo[8] is not p.dtype):
            scalars, flags = adam_kernel_args(lr, beta1, beta2, eps, weight_decay, decoupled,
                                              amsgrad, maximize, step)
            if p.dtype == np.float64:  # Python floats are float64 to numba, and cheaper
                fixed, buffer = tuple(float(x) for x in scalars[2:]), None
            else:  # cast once here; the two per-step scalars through a buffer of the dtype,
                # cheaper than a NumPy scalar's constructor (the same C cast)
                fixed = tuple(p.dtype.type(x) for x in scalars[2:])
                buffer = np.empty(2, dtype=p.dtype)
            # a small tensor's kernel takes the scalars packed (see K.adam_packed): cast to the
            # dtype by the same C cast, the two per-step ones written at every step
            packed = np.array(scalars, dtype=p.dtype)
            packed_flags = np.array(flags, dtype=np.uint8)
            memo = cache["adam_one"] = (lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
                                        maximize, p.dtype, fixed + flags, buffer, packed,
                                        packed_flags)
        step_size, bc2_sqrt = adam_step_scalars(lr, beta1, beta2, step)
        if p.nbytes < PARALLEL_MIN_BYTES:  # serial, as _elementwise would choose
            packed = memo[11]
            packed[0] = step_size
            packed[1] = bc2_sqrt
            K.adam_packed(p, g, m, v, vmax, packed, memo[12])
            return
        buffer = memo[10]
        if buffer is not None:
            buffer[0] = step_size
            buffer[1] = bc2_sqrt
            step_size, bc2_sqrt = buffer[0], buffer[1]
        K.adam(p, g, m, v, vmax, *_elementwise(p), step_size, bc2_sqrt, *memo[9])

    def _adam_group(self, dtype, ks, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, lr,
                    beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize, steps, memo):
        dt = dtype.type
        state = [params[k] for k in ks] + [exp_avgs[k] for k in ks] \
            + [exp_avg_sqs[k] for k in ks] + ([max_exp_avg_sqs[k] for k in ks] if amsgrad else [])
        known = memo.get("state")
        if known is None or len(known) != len(state) or any(a is not b for a, b in
                                                            zip(known, state)):
            n = len(ks)
            addresses = np.zeros((n, 5), dtype=np.int64)
            for col, arrays in enumerate((state[:n], None, state[n:2 * n], state[2 * n:3 * n],
                                          state[3 * n:] if amsgrad else None)):
                if arrays is not None:
                    addresses[:, col] = [_address(a) for a in arrays]
            memo.clear()
            memo.update(state=state, addresses=addresses,
                        plan=_multi_plan([params[k].size for k in ks], _CHUNK_MAX))
        addresses = memo["addresses"]
        glist = [grads[k] for k in ks]
        known = memo.get("grads")  # weak: the memo must not keep last step's grads alive
        if known is None or any(r() is not g for r, g in zip(known, glist)):
            addresses[:, 1] = [_address(g) for g in glist]
            memo["grads"] = [weakref.ref(g) for g in glist]
        per_step = {}
        step_sizes = np.empty(len(ks), dtype=dtype)
        bc2_sqrts = np.empty(len(ks), dtype=dtype)
        for j, k in enumerate(ks):
            args = per_step.get(steps[k])
            if args is None:
                args = per_step[steps[k]] = adam_kernel_args(lr, beta1, beta2, eps, weight_decay,
                                                             decoupled, amsgrad, maximize,
                                                             steps[k])
            step_sizes[j], bc2_sqrts[j] = args[0][:2]
        segments, task_start, total = memo["plan"]
        scalars, flags = args  # all but the first two scalars are the same at every step
        K.adam_multi(segments, task_start, addresses, step_sizes, bc2_sqrts, _empty(dtype),
                     total * dtype.itemsize >= PARALLEL_MIN_BYTES,
                     *(dt(x) for x in scalars[2:]), *flags)

    def sum_squares(self, x) -> float:
        total = 0.0
        for (piece,) in memory_order_pieces(x):
            if piece.size:
                total += K.sum_squares(piece, _chunk_length(1, piece.size),
                                       _elementwise(piece)[1])
        return float(total)

    def scale_(self, x, factor):
        f = x.dtype.type(factor)
        for (piece,) in memory_order_pieces(x):
            K.scale(piece, *_elementwise(piece), f)
        return x

    def cosine_schedule(self, steps, total_steps, lr_max, lr_min) -> np.ndarray:
        steps = np.ascontiguousarray(steps, dtype=np.float64).reshape(-1)
        return K.cosine_schedule(steps, float(total_steps), float(lr_max), float(lr_min))

    # ------------------------------------------------------------------ information
    def entropy_rows(self, p):
        values = np.empty(p.shape[0])
        status = np.empty(p.shape[0], dtype=np.int8)
        K.entropy_rows(p, values, status, *_row_plan(p))
        return values, status

    def _pq_rows(self, p, q, kl: bool):
        values = np.empty(p.shape[0])
        status = np.empty(p.shape[0], dtype=np.int8)
        per_task, ch, parallel = _row_plan(p)
        K.pq_rows(p, q, values, status, per_task, ch, kl, parallel)
        return values, status

    def cross_entropy_rows(self, p, q):
        return self._pq_rows(p, q, False)

    def kl_divergence_rows(self, p, q):
        return self._pq_rows(p, q, True)

    def js_divergence_rows(self, p, q):
        values = np.empty(p.shape[0])
        status = np.empty(p.shape[0], dtype=np.int8)
        K.js_rows(p, q, values, status, *_row_plan(p))
        return values, status

    def _joint_terms(self, joint):
        """(S, A, R, C, status) of a joint table."""
        if joint.size < PARALLEL_MIN_ROW_ELEMENTS or joint.shape[0] < 2:
            s, a, rr, cc, neg = K.joint_terms(joint, 1, False)
        else:
            s, a, rr, cc, neg = K.joint_terms(
                joint, min(joint.shape[0], 2 * numba.get_num_threads()), True)
        return s, a, rr, cc, _finals.joint_status(neg, s)

    def mutual_information(self, joint):
        s, a, rr, cc, status = self._joint_terms(joint)
        return _finals.mutual_information(s, a, rr, cc, status,
                                          lambda: K.joint_scaled_terms(joint, s))

    def conditional_entropy(self, joint):
        s, a, rr, _, status = self._joint_terms(joint)
        return _finals.conditional_entropy(s, a, rr, status,
                                           lambda: K.joint_scaled_terms(joint, s))

    def softmax_rows(self, x, temperature, out) -> None:
        per_task, ch, parallel = _row_plan(x)
        K.softmax_rows(x, float(temperature), out, per_task, ch, False, parallel)

    def log_softmax_rows(self, x, temperature, out) -> None:
        per_task, ch, parallel = _row_plan(x)
        K.softmax_rows(x, float(temperature), out, per_task, ch, True, parallel)

    def cross_entropy_logits_rows(self, logits, targets, ignore_index,
                                  label_smoothing) -> np.ndarray:
        losses = np.empty(logits.shape[0])
        if not (type(targets) is np.ndarray and targets.dtype == _INT64
                and targets.flags.c_contiguous):  # as_targets gives that: no call needed
            targets = np.ascontiguousarray(targets, dtype=np.int64)
        if logits.size < PARALLEL_MIN_ROW_ELEMENTS:  # _row_plan's answer, in one test
            per_task, parallel = max(logits.shape[0], 1), False
        else:
            per_task, _, parallel = _row_plan(logits)
        K.ce_logits_rows(logits, targets, int(ignore_index), float(label_smoothing), losses,
                         per_task, parallel)
        return losses

    def first_not_positive(self, a):
        """The base's answer from one compiled scan (a NumPy comparison and count cost about
        0.9 us on a few elements, the call into numba a third of that)."""
        if type(a) is np.ndarray and (a.dtype == _F64 or a.dtype == _F32):
            i = K.first_not_positive(a if a.ndim == 1 else a.reshape(-1))
            return None if i < 0 else float(a.reshape(-1)[i])
        return super().first_not_positive(a)

    def gaussian_kl(self, mu1, sigma1, mu2, sigma2, out) -> None:
        if out.ndim == 1:  # one piece: what memory_order_pieces gives, without the generator
            K.gaussian_kl(_operand(mu1), _operand(sigma1), _operand(mu2), _operand(sigma2), out,
                          *_elementwise(out))
            return
        for o, *operands in memory_order_pieces(out, mu1, sigma1, mu2, sigma2):
            K.gaussian_kl(*map(_operand, operands), o, *_elementwise(o))

    def gaussian_entropy(self, sigma, out) -> None:
        if out.ndim == 1:  # one piece, as in gaussian_kl
            K.gaussian_entropy(_operand(sigma), out, *_elementwise(out))
            return
        for o, s in memory_order_pieces(out, sigma):
            K.gaussian_entropy(_operand(s), o, *_elementwise(o))
