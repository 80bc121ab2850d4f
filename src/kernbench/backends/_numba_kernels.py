"""Compiled kernels of the ``numba`` backend; the host side is :mod:`numba_backend`.

Every kernel is compiled with ``cache=True`` and ``error_model="numpy"`` and without blanket
fastmath, so inf and nan survive exactly. Three techniques carry the speed:

* ``_log`` and ``_exp`` are fdlibm's algorithms (range reduction plus polynomial, < 1 ulp) on
  raw float bits, so a loop calling them vectorizes; libm's ``math.log`` is a scalar call.
  They (and the float32 ``_expf``) carry fastmath's ``contract`` flag alone: each multiply-add
  becomes one fused instruction, one rounding fewer, measured 20% off a 1e7 float64 entropy.
* Float reductions do not vectorize without reassociation. The fused reduction loops (one
  pass computing every sum a kernel needs) are compiled with fastmath's ``reassoc`` flag
  alone (``_SUM_OPTS``): lanes of partial sums, no assumption about inf or nan.
* Loop-invariant flags are plain arguments tested inside the loop: LLVM unswitches those loops
  (measured: no cost against a flag-free loop), so one loop body serves every option.

Every kernel that may use the threads is one compiled function over a grid of *tasks* (chunks
of elements, blocks of rows, chunks of a long row) with a ``parallel`` argument: :func:`_run`
calls each task's code through a pointer, either in a plain loop or from :func:`_par_run`, the
one ``prange`` loop of the module. A ``prange`` copy of each kernel would compile every task
body once more, through numba's parallel pipeline, per kernel and dtype (measured: half of a
cold compile of the backend). Serial and parallel runs of a kernel execute the same machine
code on the same chunks, so they give the same bits.

Only the kernels (the functions the host calls) are numba dispatchers with a cache entry of
their own. Tasks and helpers (``@_linked``) are compiled, with their own fastmath flags, into
code that is only linked into the kernels using them: numba would otherwise optimize and emit
machine code for each helper on its own before optimizing it again inside every caller. With
both changes the runner's cold compile of the backend went from 33.0 to 14.1 s
(``reports/numba-tuning/compile3.json``).
"""

from __future__ import annotations

import inspect
import math

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import carray, njit, prange, types, vectorize
from numba.core import cgutils, compiler
from numba.core.codegen import JITCodeLibrary
from numba.core.cpu_options import ParallelOptions
from numba.core.registry import cpu_target
from numba.extending import intrinsic, overload

# nogil: a dask worker running chunk tasks on threads keeps them in parallel.
_OPTS = dict(cache=True, error_model="numpy", nogil=True)
#: The fused reduction loops add fastmath's reassociation flag and nothing else: LLVM may then
#: split a sum into vector lanes (a reordering of the additions, as NumPy's pairwise sum also
#: makes), while no-nans/no-infs stay off, so inf and nan propagate exactly. The log and exp
#: they call are separate functions compiled without the flag; LLVM inlines them with their
#: own instructions' flags, so their rounding is the tested one.
_SUM_OPTS = dict(_OPTS, fastmath={"reassoc"})
#: log and exp: fused multiply-adds (one rounding fewer each), nothing else.
_EXP_LOG_OPTS = dict(_OPTS, fastmath={"contract"})

#: Elements per scratch block of the joint-table kernel: 4 KiB of float64, so the block stays
#: in L1 between the term loop and the summing loop.
_BLK = 512

_NAN = math.nan
_INF = math.inf
_LN2 = math.log(2.0)


# ---------------------------------------------------------------------------- tasks

#: A task as the threads call it: ``void entry(int64 t, void *args)``.
_ENTRY_TY = ir.FunctionType(ir.VoidType(), [ir.IntType(64), ir.IntType(8).as_pointer()])


class _LinkOnlyLibrary(JITCodeLibrary):
    """The code of a task or helper, only ever linked into the kernels that use it: never
    optimized or turned into machine code on its own. (numba finalizes every library that it
    links, then optimizes the linked copy once more in the caller.)"""

    def _ensure_finalized(self):
        pass

    def _get_module_for_linking(self):
        if self._shared_module is None:
            mod = self._final_module.clone()
            for library in self._linking_libraries:
                mod.link_in(library._get_module_for_linking(), preserve=True)
            for fn in mod.functions:
                if not fn.is_declaration and fn.linkage == llvm.Linkage.external:
                    fn.linkage = "linkonce_odr"
            self._shared_module = mod
        return self._shared_module


_LINKED: dict = {}


def _compile_linked(context, disp, args):
    """``disp.py_func`` compiled for the argument types ``args`` into a
    :class:`_LinkOnlyLibrary`, with the dispatcher's options (fastmath flags included); once
    per process and signature."""
    args = tuple(types.unliteral(a) for a in args)
    key = (disp.py_func, args)
    cres = _LINKED.get(key)
    if cres is None:
        flags = compiler.Flags()
        disp.targetdescr.options.parse_as_flags(flags, disp.targetoptions)
        flags.no_compile = True
        flags.no_cpython_wrapper = True
        flags.no_cfunc_wrapper = True
        library = _LinkOnlyLibrary(context.codegen(), disp.py_func.__qualname__)
        cres = _LINKED[key] = compiler.compile_internal(
            context.typing_context, context, library, disp.py_func, args, None, flags, {})
    return cres


def _linked_call(disp, args):
    """(signature, codegen) of an intrinsic calling ``disp.py_func`` compiled for ``args``
    into a :class:`_LinkOnlyLibrary`."""
    cres = _compile_linked(cpu_target.target_context, disp, args)

    def codegen(context, builder, signature, llargs):
        context.active_code_library.add_linking_library(cres.library)
        return context.call_internal(builder, cres.fndesc, cres.signature, llargs)

    return cres.signature, codegen


def _linked(**options):
    """Decorator: a helper for jitted code, compiled with ``options`` like ``njit`` but into a
    :class:`_LinkOnlyLibrary` (an intrinsic typed by compiling it). Callable from jitted code
    only."""

    def decorate(fn):
        disp = njit(**options)(fn)
        # The typer takes fn's own parameters (numba reads an intrinsic's signature from it).
        params = ", ".join(inspect.signature(fn).parameters)
        scope = {"_linked_call": _linked_call, "disp": disp}
        exec(f"def typer(typingctx, {params}):\n    return _linked_call(disp, ({params},))",
             scope)
        typer = scope["typer"]
        typer.__name__ = fn.__name__
        typer.__qualname__ = fn.__qualname__
        typer.__doc__ = fn.__doc__
        wrapped = intrinsic(typer)
        wrapped._kb_dispatcher = disp
        return wrapped

    return decorate


@intrinsic
def _task_entry(typingctx, task, args):
    """(address of ``entry``, address of ``args``): ``entry(t, a)`` is a function in the
    caller's module that calls the jitted ``task(t, *args)`` with the tuple packed at ``a``;
    ``args`` is packed into the caller's frame.

    The threads reach the task through that pointer, so the task's code is optimized and
    emitted once, in the caller's module, and the parallel loop that spreads the tasks over the
    threads (:func:`_par_run`) is one compiled function for every kernel and dtype.
    """
    if not isinstance(task, types.Dispatcher) or not isinstance(args, types.BaseTuple):
        return None
    task_sig = types.none(types.int64, *args.types)
    sig = types.UniTuple(types.int64, 2)(task, args)

    def codegen(context, builder, signature, llargs):
        # Linked into this module only: no machine code of its own.
        cres = _compile_linked(context, task.dispatcher, task_sig.args)
        context.active_code_library.add_linking_library(cres.library)
        module = builder.module
        packed = context.get_data_type(args)
        entry = cgutils.get_or_insert_function(module, _ENTRY_TY,
                                               cres.fndesc.mangled_name + "$task_entry")
        if entry.is_declaration:
            entry.linkage = "internal"
            entry.attributes.add("noinline")  # one copy of the task's code per module
            eb = ir.IRBuilder(entry.append_basic_block())
            t, a = entry.args
            tup = context.unpack_value(eb, args, eb.bitcast(a, packed.as_pointer()))
            vals = [context.cast(eb, v, ty, want) for v, ty, want in
                    zip(cgutils.unpack_tuple(eb, tup, len(args)), args.types,
                        cres.fndesc.argtypes[1:])]
            callee = context.declare_function(module, cres.fndesc)
            # A task returns nothing and raises nothing (error_model="numpy", no allocation
            # that could fail but a few KiB of scratch), so its status is not inspected.
            context.call_conv.call_function(eb, callee, cres.fndesc.restype,
                                            cres.fndesc.argtypes, [t, *vals])
            eb.ret_void()
        slot = cgutils.alloca_once(builder, packed)
        context.pack_value(builder, args, llargs[1], slot)
        i64 = ir.IntType(64)
        return context.make_tuple(builder, signature.return_type,
                                  [builder.ptrtoint(entry, i64), builder.ptrtoint(slot, i64)])

    return sig, codegen


@intrinsic
def _call_entry(typingctx, entry, t, args):
    """Call the task entry at address ``entry`` (see :func:`_task_entry`) for task ``t``."""
    sig = types.none(types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, llargs):
        fn = builder.inttoptr(llargs[0], _ENTRY_TY.as_pointer())
        builder.call(fn, [llargs[1], builder.inttoptr(llargs[2], _ENTRY_TY.args[1])])
        return context.get_dummy_value()

    return sig, codegen


# Only the explicit prange loop runs in parallel. An options object, not a dict: numba pops the
# keys of a dict on the first compile.
@njit(parallel=ParallelOptions(dict(prange=True, comprehension=False, reduction=False,
                                    inplace_binop=False, setitem=False, numpy=False,
                                    stencil=False, fusion=False)), **_OPTS)
def _par_run(entry, ntasks, args):
    """Tasks 0..ntasks-1 of a task entry over numba's threads (a static split: the tasks of a
    kernel are of equal size)."""
    for t in prange(ntasks):
        _call_entry(entry, np.int64(t), args)


#: The symbol under which :func:`_par_run`'s C entry point is published to LLVM's linker.
_PAR_RUN_SYMBOL = "kernbench_numba_par_run"


def _publish_par_run():
    """Compile (or load from numba's cache) :func:`_par_run` and publish its C entry point.

    Kernels call it by that name (:func:`_call_par_run`) instead of linking a copy: each copy
    would be optimized and emitted again in every kernel. The symbol must exist before any kernel's machine code is linked, freshly
    compiled or loaded from the cache, so this runs when the module is imported.
    """
    sig = (types.int64, types.int64, types.int64)
    _par_run.compile(sig)
    cres = _par_run.overloads[sig]
    llvm.add_symbol(_PAR_RUN_SYMBOL,
                    cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name))


_publish_par_run()


@intrinsic
def _call_par_run(typingctx, entry, ntasks, args):
    """``_par_run(entry, ntasks, args)`` through its published C entry point."""
    sig = types.none(types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, llargs):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(context.get_value_type(types.none), [i64, i64, i64])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, _PAR_RUN_SYMBOL),
                     llargs)
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", **_OPTS)
def _run(task, ntasks, args, parallel):
    """``task(t, *args)`` for t in 0..ntasks-1, over the threads if ``parallel``.

    Every kernel is one compiled function whatever the size: ``parallel`` is an ordinary
    argument, and the serial loop calls the same entry as the threads, so serial and parallel
    runs compute the same bits. Inlined at numba's level, so the packed arguments live in the
    kernel's own frame.
    """
    entry, a = _task_entry(task, args)
    if parallel and ntasks > 1:
        _call_par_run(entry, ntasks, a)
    else:
        for t in range(ntasks):
            _call_entry(entry, np.int64(t), a)


@_linked(**_OPTS)
def _bounds(t, ch, n):
    """[first, last + 1) of chunk t of ``ch`` elements out of n."""
    a = t * ch
    return a, min(n, a + ch)


@_linked(**_OPTS)
def _chunks(n, ch):
    return (n + ch - 1) // ch


# ---------------------------------------------------------------------------- bit casts

@intrinsic
def _f64_bits(typingctx, x):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _bits_f64(typingctx, i):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _f32_bits(typingctx, x):
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def _bits_f32(typingctx, i):
    """The float32 whose bits are the low 32 bits of the integer ``i``."""
    sig = types.float32(i)

    def codegen(context, builder, signature, args):
        v = args[0]
        if v.type.width != 32:
            v = builder.trunc(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return sig, codegen


@intrinsic
def _ldexp(typingctx, y, k):
    """y * 2**k (k an int32) in one rounding: LLVM's ``ldexp``, exact for subnormal results and
    overflow alike, and vectorizable (AVX-512's ``vscalef``; integer operations on AVX2)."""
    sig = y(y, types.int32)

    def codegen(context, builder, signature, args):
        fty = context.get_value_type(signature.return_type)
        fnty = ir.FunctionType(fty, [fty, ir.IntType(32)])
        fn = builder.module.declare_intrinsic("llvm.ldexp", [fty, ir.IntType(32)], fnty)
        return builder.call(fn, args)

    return sig, codegen


# ---------------------------------------------------------------------------- log and exp

_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_MIN_NORMAL = 2.2250738585072014e-308
_F32_HALF = np.float32(0.5)
_F32_ONE = np.float32(1.0)
_F32_TWO = np.float32(2.0)


@_linked(**_EXP_LOG_OPTS)
def _log(x):
    """Natural log of a float64 (fdlibm ``__ieee754_log``), branch-free so that loops vectorize.

    log(0) = -inf, log(inf) = inf, log(x < 0) = log(nan) = nan; subnormals are exact.
    """
    # A subnormal x is (its bits) * 2**-1074 exactly. Scaling by a float power of two instead
    # would be a multiply that LLVM computes for every x, raising a spurious overflow flag
    # (numpy warns) for large x; int-to-float raises nothing worse than inexact.
    bits = _f64_bits(x)
    sub = x < _MIN_NORMAL
    xs = float(bits) if sub else x
    ix = _f64_bits(xs) + (0x95F62 << 32)  # move [sqrt(2)/2, sqrt(2)) onto one exponent
    k = (ix >> 52) - 1023
    if sub:
        k -= 1074
    ix = (ix & 0x000FFFFFFFFFFFFF) + (0x3FE6A09E << 32)
    f = _bits_f64(ix) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    dk = float(k)
    r = s * (hfsq + t2 + t1) + dk * _LN2_LO - hfsq + f + dk * _LN2_HI
    if x == 0.0:
        r = -_INF
    if x == _INF:
        r = _INF
    if not x >= 0.0:  # negative or nan
        r = _NAN
    return r


#: FreeBSD/musl ``logf``: ln 2 in two parts and the polynomial of (log(1+s) - log(1-s)) / s
#: (|error| < 2**-34.24) in float32.
_LG1_F = np.float32(0.66666662693)
_LG2_F = np.float32(0.40000972152)
_LG3_F = np.float32(0.28498786688)
_LG4_F = np.float32(0.24279078841)
_LN2_HI_F = np.float32(6.9313812256e-01)
_LN2_LO_F = np.float32(9.0580006145e-06)
_MIN_NORMAL_F = np.float32(1.17549435e-38)


@_linked(**_EXP_LOG_OPTS)
def _logf(x):
    """Natural log of a float32 in float32 arithmetic (musl ``logf``, the same steps as
    :func:`_log`): sixteen lanes per AVX-512 vector where the float64 log has eight. At most
    0.79 ulp measured; log(0) = -inf, log(inf) = inf, log(x < 0) = log(nan) = nan."""
    bits = _f32_bits(x)
    sub = x < _MIN_NORMAL_F
    xs = np.float32(bits) if sub else x  # a subnormal x is (its bits) * 2**-149 exactly
    ix = _f32_bits(xs) + np.int32(0x3F800000 - 0x3F3504F3)
    k = (ix >> 23) - 0x7F
    if sub:
        k -= 149
    ix = (ix & 0x007FFFFF) + 0x3F3504F3
    f = _bits_f32(ix) - _F32_ONE
    s = f / (_F32_TWO + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2_F + w * _LG4_F)
    t2 = z * (_LG1_F + w * _LG3_F)
    hfsq = _F32_HALF * f * f
    dk = np.float32(k)
    r = s * (hfsq + t2 + t1) + dk * _LN2_LO_F - hfsq + f + dk * _LN2_HI_F
    if x == 0.0:
        r = np.float32(-_INF)
    if x == _INF:
        r = np.float32(_INF)
    if not x >= 0.0:  # negative or nan
        r = np.float32(_NAN)
    return r


@_linked(**_EXP_LOG_OPTS)
def _exp(x):
    """exp of a float64 (fdlibm ``__ieee754_exp``), branch-free so that loops vectorize.

    exp(-inf) = 0, exp(inf) = inf, exp(nan) = nan; results in the subnormal range are exact
    to one rounding (2**k is applied by :func:`_ldexp`).
    """
    # Clamping keeps k in range; -1100 and 710 already under/overflow. Written as compare and
    # select in the order of the x86 max/min instructions (one each), which map nan to the
    # bound; the nan comes back at the end.
    xc = x if x > -1100.0 else -1100.0
    xc = xc if xc < 710.0 else 710.0
    kf = np.floor(xc * _INV_LN2 + 0.5)
    hi = xc - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    rr = r * r
    c = r - rr * (_P1 + rr * (_P2 + rr * (_P3 + rr * (_P4 + rr * _P5))))
    y = _ldexp(1.0 + (r * c / (2.0 - c) - lo + hi), np.int32(kf))
    return y if x == x else x


#: Cephes ``expf``: ln 2 in two parts (the first exact in float32, so kf * _C1_F is exact for
#: |kf| < 2**15) and the minimax polynomial of (exp(r) - 1 - r) / r**2 on [-ln2/2, ln2/2].
_C1_F = np.float32(0.693359375)
_C2_F = np.float32(-2.12194440e-4)
_Q0_F = np.float32(1.9875691500e-4)
_Q1_F = np.float32(1.3981999507e-3)
_Q2_F = np.float32(8.3334519073e-3)
_Q3_F = np.float32(4.1665795894e-2)
_Q4_F = np.float32(1.6666665459e-1)
_Q5_F = np.float32(5.0000001201e-1)
_INV_LN2_F = np.float32(1.4426950216e+00)
_F32_LO = np.float32(-104.0)
_F32_HI = np.float32(89.0)


@_linked(**_EXP_LOG_OPTS)
def _expf(x):
    """exp of a float32 in float32 arithmetic (Cephes ``expf``: at most 1.01 ulp measured).

    Sixteen lanes per AVX-512 vector instead of eight: float32 softmax and cross-entropy
    spend most of their time here. A polynomial rather than fdlibm's rational form (no
    divide), with fastmath's ``contract`` flag alone, so that each multiply-add is one fused
    instruction, and 2**k applied by :func:`_ldexp`: 16.8 against 20.3 us for the sum of the
    exps of a 50257-logit row in L2, and 24 us for fdlibm's form. Contraction only removes
    roundings; inf and nan are untouched.
    """
    xc = x if x > _F32_LO else _F32_LO  # as in _exp: x86 max and min, nan restored below
    xc = xc if xc < _F32_HI else _F32_HI
    kf = np.floor(xc * _INV_LN2_F + _F32_HALF)
    r = xc - kf * _C1_F
    r = r - kf * _C2_F
    y = ((((_Q0_F * r + _Q1_F) * r + _Q2_F) * r + _Q3_F) * r + _Q4_F) * r + _Q5_F
    y = _ldexp(y * (r * r) + r + _F32_ONE, np.int32(kf))
    return y if x == x else x


def _by_precision(f32_fn, f64_fn, doc: str):
    """A function for jitted code that calls the ``_linked`` function ``f32_fn`` on a float32
    argument and ``f64_fn`` on anything else, chosen at compile time."""

    def typer(typingctx, x):
        return _linked_call((f32_fn if x == types.float32 else f64_fn)._kb_dispatcher, (x,))

    typer.__doc__ = doc
    return intrinsic(typer)


_exp_native = _by_precision(_expf, _exp, "exp in the precision of ``x``.")
_log_native = _by_precision(_logf, _log, "log in the precision of ``x``.")


@intrinsic
def _cast_like(typingctx, a, v):
    """The float ``v`` in the precision of ``a``, an array (its dtype) or a float scalar:
    float32 gets float32 arithmetic."""
    to = types.float32 if getattr(a, "dtype", a) == types.float32 else types.float64
    sig = to(a, v)

    def codegen(context, builder, signature, args):
        return context.cast(builder, args[1], signature.args[1], to)

    return sig, codegen


# ---------------------------------------------------------------------------- block sums

@_linked(**_SUM_OPTS)
def _sumsq_span(x):
    """float64 sum of squares of a span, vectorized (reassociated into LLVM's lanes)."""
    s = 0.0
    for j in range(x.size):
        v = np.float64(x[j])
        s += v * v
    return s


@intrinsic
def _fmax(typingctx, a, b):
    """LLVM's ``maxnum`` of two floats of one type: the larger, or the one that is not nan."""
    sig = a(a, b)

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(signature.return_type)
        fn = builder.module.declare_intrinsic("llvm.maxnum", [ty], ir.FunctionType(ty, [ty, ty]))
        return builder.call(fn, args)

    return sig, codegen


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


# ---------------------------------------------------------------------------- optimizers

# Each step is one element function and two loops over it: in place (the numba backend) and
# into fresh output arrays (the dask backend, so that a failed step leaves the old state
# intact). They must be two loops: when an output is the very array an input is read from,
# LLVM's run-time overlap check fails and it runs the scalar loop, measured 7x slower at 1e4
# float32 elements.

@_linked(**_OPTS)
def _sgd_elem(gi, pi, bi, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov, maximize,
              first):
    """(new param, new momentum buffer) of one element of an SGD step."""
    if maximize:
        gi = -gi
    if has_wd:
        gi = gi + wd * pi
    if has_mom:
        if first:
            bi = gi
        else:
            bi = mu * bi + one_minus_damp * gi
        if nesterov:
            gi = gi + mu * bi
        else:
            gi = bi
    return pi - lr * gi, bi


@njit(**_OPTS)
def _sgd_task(t, p, g, b, ch, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov, maximize,
              first):
    """Chunk t of an SGD step in place (b is empty without momentum)."""
    a, e = _bounds(t, ch, p.size)
    ps = p[a:e]  # slices indexed from 0 (see _exp_sum)
    gs = g[a:e]
    bs = b[a:e]
    for i in range(ps.size):
        pn, bn = _sgd_elem(gs[i], ps[i], bs[i] if has_mom else ps[i], lr, wd, mu,
                           one_minus_damp, has_wd, has_mom, nesterov, maximize, first)
        ps[i] = pn
        if has_mom:
            bs[i] = bn


@njit(**_OPTS)
def sgd(p, g, b, ch, parallel, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov, maximize,
        first):
    """One SGD step in place, in chunks of ``ch`` elements."""
    _run(_sgd_task, _chunks(p.size, ch), (p, g, b, ch, lr, wd, mu, one_minus_damp, has_wd,
                                           has_mom, nesterov, maximize, first), parallel)


@njit(**_OPTS)
def sgd_into(p, g, b, p_out, b_out, lr, wd, mu, one_minus_damp, has_wd, has_mom, nesterov,
             maximize, first):
    """One SGD step written to p_out and b_out (serial: one dask chunk)."""
    for i in range(p.size):
        pn, bn = _sgd_elem(g[i], p[i], b[i] if has_mom else p[i], lr, wd, mu, one_minus_damp,
                           has_wd, has_mom, nesterov, maximize, first)
        p_out[i] = pn
        if has_mom:
            b_out[i] = bn



@_linked(**_OPTS)
def _adam_elem(gi, pi, mi, vi, vmi, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
               one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    """(param, exp_avg, exp_avg_sq, max_exp_avg_sq) of one element after an Adam/AdamW step."""
    if maximize:
        gi = -gi
    if coupled:
        gi = gi + wd * pi
    if decay_on:
        pi = pi * decay
    mi = beta1 * mi + one_minus_beta1 * gi
    vi = beta2 * vi + one_minus_beta2 * gi * gi
    vd = vi
    if amsgrad:
        if vi > vmi or vi != vi:  # torch.maximum: nan propagates
            vmi = vi
        vd = vmi
    return pi - step_size * (mi / (math.sqrt(vd) / bc2_sqrt + eps)), mi, vi, vmi


@_linked(**_OPTS)
def _adam_span(p, g, m, v, vmax, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
               one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    """One Adam/AdamW step in place over 1-D arrays (vmax is empty without AMSGrad)."""
    for i in range(p.size):
        pn, mn, vn, vmn = _adam_elem(g[i], p[i], m[i], v[i], vmax[i] if amsgrad else v[i],
                                     step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
                                     one_minus_beta2, eps, wd, decay, coupled, decay_on,
                                     amsgrad, maximize)
        p[i] = pn
        m[i] = mn
        v[i] = vn
        if amsgrad:
            vmax[i] = vmn


@njit(**_OPTS)
def _adam_task(t, p, g, m, v, vmax, ch, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
               one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    a, e = _bounds(t, ch, p.size)
    _adam_span(p[a:e], g[a:e], m[a:e], v[a:e], vmax[a:e], step_size, bc2_sqrt, beta1,
               one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on,
               amsgrad, maximize)


@njit(**_OPTS)
def adam(p, g, m, v, vmax, ch, parallel, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
         one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize):
    """One Adam/AdamW step in place, in chunks of ``ch`` elements."""
    _run(_adam_task, _chunks(p.size, ch),
         (p, g, m, v, vmax, ch, step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
          one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize), parallel)


@njit(**_OPTS)
def adam_into(p, g, m, v, vmax, p_out, m_out, v_out, vmax_out, step_size, bc2_sqrt, beta1,
              one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on,
              amsgrad, maximize):
    """One Adam/AdamW step written to the output arrays (serial: one dask chunk)."""
    for i in range(p.size):
        pn, mn, vn, vmn = _adam_elem(g[i], p[i], m[i], v[i], vmax[i] if amsgrad else v[i],
                                     step_size, bc2_sqrt, beta1, one_minus_beta1, beta2,
                                     one_minus_beta2, eps, wd, decay, coupled, decay_on,
                                     amsgrad, maximize)
        p_out[i] = pn
        m_out[i] = mn
        v_out[i] = vn
        if amsgrad:
            vmax_out[i] = vmn



@intrinsic
def _ptr_like(typingctx, address, like):
    """The integer ``address`` as a pointer to ``like``'s dtype (``like`` is an array)."""
    ptr = types.CPointer(like.dtype)
    sig = ptr(address, like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return sig, codegen


@njit(**_OPTS)
def _adam_multi_task(k, segments, task_start, addresses, step_sizes, bc2_sqrts, like, beta1,
                     one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on,
                     amsgrad, maximize):
    size = like.itemsize
    for j in range(task_start[k], task_start[k + 1]):
        i = segments[j, 0]
        off = segments[j, 1] * size
        n = segments[j, 2]
        p = carray(_ptr_like(addresses[i, 0] + off, like), n)
        g = carray(_ptr_like(addresses[i, 1] + off, like), n)
        m = carray(_ptr_like(addresses[i, 2] + off, like), n)
        v = carray(_ptr_like(addresses[i, 3] + off, like), n)
        vm = carray(_ptr_like(addresses[i, 4] + off, like), n if amsgrad else 0)
        _adam_span(p, g, m, v, vm, step_sizes[i], bc2_sqrts[i], beta1, one_minus_beta1, beta2,
                   one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize)


@njit(**_OPTS)
def adam_multi(segments, task_start, addresses, step_sizes, bc2_sqrts, like, parallel, beta1,
               one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on,
               amsgrad, maximize):
    """One Adam/AdamW step over many C-contiguous tensors of ``like``'s dtype, in place.

    ``addresses[i]`` holds the data addresses of tensor i's (param, grad, exp_avg, exp_avg_sq,
    max_exp_avg_sq) (the last 0 without AMSGrad); ``step_sizes[i]`` and ``bc2_sqrts[i]`` its
    bias corrections. Task k runs the segments ``task_start[k]:task_start[k + 1]`` of
    ``segments`` (rows of tensor, first element, length): tasks of equal element counts, so a
    static split over threads is balanced, and one parallel region covers the whole model.
    """
    _run(_adam_multi_task, task_start.size - 1,
         (segments, task_start, addresses, step_sizes, bc2_sqrts, like, beta1, one_minus_beta1,
          beta2, one_minus_beta2, eps, wd, decay, coupled, decay_on, amsgrad, maximize),
         parallel)


@njit(**_OPTS)
def _sum_squares_task(t, x, ch, part):
    a, e = _bounds(t, ch, x.size)
    part[t] = _sumsq_span(x[a:e])


@njit(**_OPTS)
def sum_squares(x, ch, parallel):
    """float64 sum of squares, in chunks of ``ch`` elements added in order (the bits depend on
    ``ch`` alone, not on the threads)."""
    nch = _chunks(x.size, ch)
    part = np.empty(nch)
    _run(_sum_squares_task, nch, (x, ch, part), parallel)
    total = 0.0
    for c in range(nch):
        total += part[c]
    return total


@njit(**_OPTS)
def _scale_task(t, x, ch, factor):
    a, e = _bounds(t, ch, x.size)
    xs = x[a:e]
    for i in range(xs.size):
        xs[i] = xs[i] * factor


@njit(**_OPTS)
def scale(x, ch, parallel, factor):
    _run(_scale_task, _chunks(x.size, ch), (x, ch, factor), parallel)


@njit(**_OPTS)
def cosine_schedule(steps, total, lr_max, lr_min):
    out = np.empty(steps.size)
    for i in range(steps.size):
        t = min(max(steps[i], 0.0), total)
        out[i] = lr_min + (lr_max - lr_min) * (1.0 + math.cos(math.pi * t / total)) / 2.0
    return out


# ---------------------------------------------------------------------------- row reductions
#
# A row kernel runs over a grid of tasks. Rows of n <= ch elements: a task is a block of
# ``rows_per_task`` whole rows and writes final values. Longer rows: a task is one chunk of ``ch``
# elements of one row and writes partial sums to ``part[r, c]``; a second loop combines them in
# chunk order. The host picks ``ch`` from the shape alone, so serial and parallel runs give the
# same bits.

@njit(**_OPTS)
def _status(neg, total):
    """1 (invalid: a negative entry, or a sum that is not finite), 2 (sums to zero) or 0 (ok):
    the contract's status of p; add 2 for q. Callers pass no constants: numba compiles a
    function once more for every distinct constant argument."""
    if neg > 0 or not np.isfinite(total):
        return 1
    if total == 0.0:
        return 2
    return 0


@_linked(**_OPTS)
def _clamp0(x):
    """max(x, 0) of a finite x; nan and -inf come through: a clamp must never turn a nan into a
    number, and a non-finite first-pass value is an overflow that the caller computes again
    (the contract's second pass)."""
    return 0.0 if -_INF < x < 0.0 else x


@_linked(**_OPTS)
def _xlogx_scaled_span(x, s):
    """sum of xn log xn over the span's xn = x / s > 0 (the contract's A', second pass).

    Sequential, without reassociation: the second pass runs only for rows whose first pass
    overflowed, and a fixed order keeps a diagonal table's R' - A' exactly 0.
    """
    a = 0.0
    for j in range(x.size):
        xn = np.float64(x[j]) / s
        if xn > 0.0:
            a += xn * _log(xn)
    return a


@_linked(**_OPTS)
def _pq_scaled_span(p, q, sp, sq, kl):
    """The span's part of B' (CE) or C' (KL) of the second pass over pn = p / sp: log q -
    log sq, never log(q / sq), which may underflow; p > 0 at q = 0 adds -inf (B'), +inf (C')."""
    lsp = _log(sp)
    lsq = _log(sq)
    acc = 0.0
    for j in range(p.size):
        pv = np.float64(p[j])
        if pv > 0.0:
            qv = np.float64(q[j])
            if qv == 0.0:
                acc += _INF if kl else -_INF
            else:
                lq = _log(qv) - lsq
                acc += (pv / sp) * (((_log(pv) - lsp) - lq) if kl else lq)
    return acc


@_linked(**_SUM_OPTS)
def _entropy_span(x):
    """(sum x, sum_{x>0} x log x, count of x < 0) over a 1-D span, in one vectorized pass."""
    s = 0.0
    a = 0.0
    neg = 0
    for j in range(x.size):
        v = np.float64(x[j])
        s += v
        neg += v < 0.0
        a += v * _log(v) if v > 0.0 else 0.0
    return s, a, neg


@_linked(**_OPTS)
def _entropy_final(s, a, neg):
    st = _status(neg, s)
    h = (s * _log(s) - a) / s
    return _clamp0(h), st


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


@njit(**_OPTS)
def _entropy_task(t, x, rows_per_task, nch, ch, part):
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, x.shape[0], x.shape[1])
    for r in range(r0, r1):
        s, a, neg = _entropy_span(x[r, a0:a1])
        part[r, c, 0] = s
        part[r, c, 1] = a
        part[r, c, 2] = neg


@njit(**_OPTS)
def entropy_rows(x, values, status, rows_per_task, ch, parallel):
    R, n = x.shape
    ntasks, nch = _task_count(R, n, rows_per_task, ch)
    part = np.empty((R, nch, 3))
    _run(_entropy_task, ntasks, (x, rows_per_task, nch, ch, part), parallel)
    tot = _totals(part)
    for r in range(R):
        values[r], status[r] = _entropy_final(tot[r, 0], tot[r, 1], tot[r, 2])
        if status[r] == 0 and not np.isfinite(values[r]):  # overflow: the second pass
            values[r] = _clamp0(0.0 - _xlogx_scaled_span(x[r], tot[r, 0]))


@_linked(**_SUM_OPTS)
def _pq_span(p, q, kl):
    """(sum p, sum q, negatives in p, in q, sum_{p>0} of p log q (CE) or p log(p/q) (KL))."""
    sp = 0.0
    sq = 0.0
    b = 0.0
    negp = 0
    negq = 0
    for j in range(p.size):
        pv = np.float64(p[j])
        qv = np.float64(q[j])
        sp += pv
        sq += qv
        negp += pv < 0.0
        negq += qv < 0.0
        # q = -0.0 is a zero: p / -0.0 = -inf, and |.| makes it the +inf of q = +0.0 (any other
        # negative ratio belongs to a row whose status is invalid). log(-0.0) = -inf already.
        t = pv * _log(abs(pv / qv) if kl else qv)
        b += t if pv > 0.0 else 0.0
    return sp, sq, negp, negq, b


@_linked(**_OPTS)
def _pq_status(sp, sq, negp, negq):
    st = _status(negp, sp)
    if st == 0:
        st = _status(negq, sq)
        if st != 0:
            st += 2
    return st


@_linked(**_OPTS)
def _pq_final(sp, sq, negp, negq, b, kl):
    st = _pq_status(sp, sq, negp, negq)
    if kl:
        val = b / sp + (_log(sq) - _log(sp))
        val = _clamp0(val)
    else:
        val = (sp * _log(sq) - b) / sp
    return val, st


@njit(**_OPTS)
def _pq_task(t, p, q, rows_per_task, nch, ch, part, kl):
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, p.shape[0], p.shape[1])
    for r in range(r0, r1):
        sp, sq, negp, negq, b = _pq_span(p[r, a0:a1], q[r, a0:a1], kl)
        part[r, c, 0] = sp
        part[r, c, 1] = sq
        part[r, c, 2] = negp
        part[r, c, 3] = negq
        part[r, c, 4] = b


@njit(**_OPTS)
def pq_rows(p, q, values, status, rows_per_task, ch, kl, parallel):
    R, n = p.shape
    ntasks, nch = _task_count(R, n, rows_per_task, ch)
    part = np.empty((R, nch, 5))
    _run(_pq_task, ntasks, (p, q, rows_per_task, nch, ch, part, kl), parallel)
    tot = _totals(part)
    for r in range(R):
        values[r], status[r] = _pq_final(tot[r, 0], tot[r, 1], tot[r, 2], tot[r, 3], tot[r, 4],
                                         kl)
        if status[r] == 0 and not np.isfinite(values[r]):  # overflow or +inf: second pass
            b = _pq_scaled_span(p[r], q[r], tot[r, 0], tot[r, 1], kl)
            values[r] = _clamp0(b) if kl else 0.0 - b


@_linked(**_SUM_OPTS)
def _js_sums(p, q):
    """(sum p, sum q, negatives in p, in q) over a span."""
    sp = 0.0
    sq = 0.0
    negp = 0
    negq = 0
    for j in range(p.size):
        pv = np.float64(p[j])
        qv = np.float64(q[j])
        sp += pv
        sq += qv
        negp += pv < 0.0
        negq += qv < 0.0
    return sp, sq, negp, negq


@_linked(**_SUM_OPTS)
def _js_span(p, q, sp, sq):
    """sum over the span of pn log(pn/m) [pn>0] + qn log(qn/m) [qn>0], m = pn/2 + qn/2."""
    acc = 0.0
    for j in range(p.size):
        pn = np.float64(p[j]) / sp
        qn = np.float64(q[j]) / sq
        mid = 0.5 * pn + 0.5 * qn
        tp = pn * _log(pn / mid)
        tq = qn * _log(qn / mid)
        acc += (tp if pn > 0.0 else 0.0) + (tq if qn > 0.0 else 0.0)
    return acc


@_linked(**_OPTS)
def _js_final(acc):
    js = 0.5 * acc
    if js < 0.0:
        js = 0.0
    if js > _LN2:
        js = _LN2
    return js


@njit(**_OPTS)
def _js_sums_task(t, p, q, rows_per_task, nch, ch, part):
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, p.shape[0], p.shape[1])
    for r in range(r0, r1):
        part[r, c, 0], part[r, c, 1], part[r, c, 2], part[r, c, 3] = \
            _js_sums(p[r, a0:a1], q[r, a0:a1])


@njit(**_OPTS)
def _js_terms_task(t, p, q, rows_per_task, nch, ch, part):
    """The terms of the task's spans, for rows whose status (part[r, 0, 5]) is 0."""
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, p.shape[0], p.shape[1])
    for r in range(r0, r1):
        if part[r, 0, 5] == 0.0:
            part[r, c, 4] = _js_span(p[r, a0:a1], q[r, a0:a1], part[r, 0, 6], part[r, 0, 7])


@njit(**_OPTS)
def js_rows(p, q, values, status, rows_per_task, ch, parallel):
    R, n = p.shape
    ntasks, nch = _task_count(R, n, rows_per_task, ch)
    part = np.zeros((R, nch, 8))  # per chunk: sums (4), terms; per row: status, sp, sq
    _run(_js_sums_task, ntasks, (p, q, rows_per_task, nch, ch, part), parallel)
    tot = _totals(part)
    for r in range(R):
        st = _pq_status(tot[r, 0], tot[r, 1], tot[r, 2], tot[r, 3])
        status[r] = st
        part[r, 0, 5] = st
        part[r, 0, 6] = tot[r, 0]
        part[r, 0, 7] = tot[r, 1]
    _run(_js_terms_task, ntasks, (p, q, rows_per_task, nch, ch, part), parallel)
    tot = _totals(part)
    for r in range(R):
        values[r] = _js_final(tot[r, 4]) if status[r] == 0 else _NAN


# ---------------------------------------------------------------------------- joint tables

@_linked(**_OPTS)
def _joint_task(x, r0, r1, col, part):
    """Rows r0..r1 of the table: add them into ``col`` and sum S, A, R-terms, negatives."""
    buf = np.empty(_BLK)
    n = x.shape[1]
    s_tot = 0.0
    a_tot = 0.0
    r_tot = 0.0
    neg = 0
    for r in range(r0, r1):
        row = x[r]
        s = 0.0
        for off in range(0, n, _BLK):
            m = min(_BLK, n - off)
            xb = row[off:off + m]
            cb = col[off:off + m]
            for j in range(m):
                v = np.float64(xb[j])
                neg += v < 0.0
                cb[j] += v
                buf[j] = v * _log(v) if v > 0.0 else 0.0
            s += _sum_span(xb)
            a_tot += _sum_span(buf[:m])
        s_tot += s
        if s > 0.0:
            r_tot += s * _log(s)
    part[0] = s_tot
    part[1] = a_tot
    part[2] = r_tot
    part[3] = neg


@njit(**_OPTS)
def _joint_rows_task(t, x, rows_per_task, cols, part):
    r0, r1 = _bounds(t, rows_per_task, x.shape[0])
    _joint_task(x, r0, r1, cols[t], part[t])


@njit(**_OPTS)
def joint_terms(x, ntasks, parallel):
    """(S, A, R, C, status) of a 2-D table: sum, sum j log j, the same over row and column sums."""
    R, C = x.shape
    rows_per_task = (R + ntasks - 1) // ntasks
    cols = np.zeros((ntasks, C))
    part = np.zeros((ntasks, 4))
    _run(_joint_rows_task, ntasks, (x, rows_per_task, cols, part), parallel)
    col = cols[0]
    for t in range(1, ntasks):
        other = cols[t]
        for j in range(C):
            col[j] += other[j]
    s = 0.0
    a = 0.0
    rr = 0.0
    neg = 0.0
    for t in range(ntasks):
        s += part[t, 0]
        a += part[t, 1]
        rr += part[t, 2]
        neg += part[t, 3]
    cc = _entropy_span(col)[1]
    return s, a, rr, cc, _status(neg, s)


@_linked(**_OPTS)
def _joint_scaled_rows(x, s):
    """(A', R') of the rows of a table for the second pass: sums of jn log jn over j / s and of
    rn log rn over the row sums / s, the row sums formed as :func:`_joint_task` forms them."""
    n = x.shape[1]
    a = 0.0
    rr = 0.0
    for r in range(x.shape[0]):
        row = x[r]
        sr = 0.0
        for off in range(0, n, _BLK):
            sr += _sum_span(row[off:off + min(_BLK, n - off)])
        a += _xlogx_scaled_span(row, s)
        rn = sr / s
        if rn > 0.0:
            rr += rn * _log(rn)
    return a, rr


@njit(**_OPTS)
def joint_scaled_terms(x, s):
    """(A', R', C') of a table whose first pass overflowed: the contract's second pass (serial)."""
    a, rr = _joint_scaled_rows(x, s)
    col = np.zeros(x.shape[1])
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            col[j] += x[r, j]
    return a, rr, _xlogx_scaled_span(col, s)


@njit(**_OPTS)
def mutual_information_value(s, a, rr, cc):
    i = (a + s * _log(s) - rr - cc) / s
    return _clamp0(i)


@njit(**_OPTS)
def conditional_entropy_value(s, a, rr):
    h = (rr - a) / s
    return _clamp0(h)


# ---------------------------------------------------------------------------- softmax family

@_linked(**_OPTS)
def _fill(out, value):
    v = _cast_like(out, value)
    for j in range(out.size):
        out[j] = v


#: Elements whose exps _exp_sum adds in x's own precision before adding that partial sum in
#: float64: float32 accumulators keep the loop at sixteen float32 lanes (float64 ones would
#: halve the lanes of the exps too, measured 1.8x slower), and 1024 terms spread over LLVM's
#: vector-lane accumulators lose nothing the float32 exps have not already rounded.
_EXP_BLK = 1024


@_linked(**_SUM_OPTS)
def _exp_sum(x, mx, inv_t, out):
    """float64 sum of exp((x - mx) * inv_t) over a span, in one vectorized pass; the exps are
    computed in x's precision and written to ``out`` unless it is empty (callers pass
    ``x[:0]``), so both uses share one signature.

    The temperature enters as its reciprocal: a multiply costs a cycle where a divide (or a
    second loop-invariant flag, which LLVM then no longer unswitches) costs the loop its
    speed. For T = 1 the multiply is exact.
    """
    store = out.size != 0
    mxt = _cast_like(x, mx)
    it = _cast_like(x, inv_t)
    s = 0.0
    n = x.size
    for off in range(0, n, _EXP_BLK):
        # slices, indexed from 0: an index that starts at ``off`` could be negative as far as
        # LLVM knows, and numba's wraparound for negative indexes then stops vectorization
        xb = x[off:min(n, off + _EXP_BLK)]
        ob = out[off:off + xb.size] if store else out[:0]
        bs = _cast_like(x, 0.0)
        for j in range(xb.size):
            e = _exp_native((xb[j] - mxt) * it)
            if store:
                ob[j] = e
            bs += e
        s += np.float64(bs)
    return s


@_linked(**_SUM_OPTS)
def _sum_span(x):
    """float64 sum of a span, vectorized."""
    s = 0.0
    for j in range(x.size):
        s += np.float64(x[j])
    return s


@_linked(**_OPTS)
def _scale_span(out, factor):
    f = _cast_like(out, factor)  # in out's precision: float32 keeps sixteen lanes
    for j in range(out.size):
        out[j] = out[j] * f


@_linked(**_OPTS)
def _log_softmax_span(x, mx, temperature, lse, out):
    if temperature == 1.0:
        for j in range(x.size):
            out[j] = (np.float64(x[j]) - mx) - lse
    else:
        for j in range(x.size):
            out[j] = (np.float64(x[j]) - mx) / temperature - lse


@_linked(**_OPTS)
def _has_nan(x):
    for j in range(x.size):
        if x[j] != x[j]:
            return True
    return False


@njit(**_OPTS)
def _softmax_task(t, x, temperature, out, rows_per_task, nch, ch, part, log):
    """First pass of task t of a softmax over rows (see :func:`_span_task`): a whole row is
    done at once (max, exps and their sum, then the division or the log form); a chunk of a
    long row stores its max, its sum of exp((x - max_c) / T) and (softmax) those exps, for
    :func:`_softmax_finish`."""
    r0, r1, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, x.shape[0], x.shape[1])
    for r in range(r0, r1):
        xs = x[r, a0:a1]
        os = out[r, a0:a1]
        mx = _nanmax(xs)  # nan ignored: a nan makes the sum nan below
        finite = mx != _INF and mx != -_INF
        total = _exp_sum(xs, mx, 1.0 / temperature, os[:0] if log else os) if finite else 0.0
        if nch == 1:
            if not finite or total != total:  # +inf logit, only -inf / nan, or a nan
                _fill(os, _NAN)
            elif log:
                _log_softmax_span(xs, mx, temperature, _log(total), os)
            else:
                _scale_span(os, 1.0 / total)
            continue
        part[r, c, 0] = mx
        if finite:
            part[r, c, 1] = total
        elif mx == -_INF:  # only -inf (exps of 0) or nan here
            part[r, c, 1] = _NAN if _has_nan(xs) else 0.0
            if not log:
                _fill(os, 0.0)
        else:
            part[r, c, 1] = _NAN


@njit(**_OPTS)
def _softmax_finish(t, x, temperature, out, rows_per_task, nch, ch, part, log):
    """Second pass over chunk t of a long row: rescale its stored exps by
    exp((max_c - M) / T) / S, or write the log form, from the row's max M and sum S in
    part[r, 0, 2:4] (S nan: the row comes out nan)."""
    r, _, c, a0, a1 = _span_task(t, rows_per_task, nch, ch, x.shape[0], x.shape[1])
    os = out[r, a0:a1]
    total = part[r, 0, 3]
    if total != total:
        _fill(os, _NAN)
    elif log:
        _log_softmax_span(x[r, a0:a1], part[r, 0, 2], temperature, _log(total), os)
    elif part[r, c, 0] != -_INF:
        _scale_span(os, _exp((part[r, c, 0] - part[r, 0, 2]) / temperature) / total)


@njit(**_OPTS)
def softmax_rows(x, temperature, out, rows_per_task, ch, log, parallel):
    R, n = x.shape
    ntasks, nch = _task_count(R, n, rows_per_task, ch)
    part = np.empty((R, nch, 4))  # per chunk: max, sum of exps; per row (chunk 0): M, S
    _run(_softmax_task, ntasks, (x, temperature, out, rows_per_task, nch, ch, part, log),
         parallel)
    if nch == 1:
        return
    for r in range(R):
        mx = -_INF
        for c in range(nch):
            if part[r, c, 0] > mx:
                mx = part[r, c, 0]
        total = 0.0
        for c in range(nch):
            sc = part[r, c, 1]
            if sc != 0.0 or sc != sc:
                total += sc * _exp((part[r, c, 0] - mx) / temperature)
        part[r, 0, 2] = mx
        part[r, 0, 3] = _NAN if (mx == _INF or mx == -_INF) else total
    _run(_softmax_finish, ntasks, (x, temperature, out, rows_per_task, nch, ch, part, log),
         parallel)


@_linked(**_OPTS)
def _ce_logits_row(x, y, eps):
    """Loss of one row: its max, then one vectorized pass for the sum of exps (and, with label
    smoothing only, one for the sum of the logits). A +inf or nan logit gives nan, as torch;
    so does a row of only -inf and nan. (A one-pass, block-online log-sum-exp measured no
    faster: a 50257-logit float32 row stays in L2 between the two passes.)"""
    mx = _nanmax(x)
    if mx == _INF or mx == -_INF:
        return _NAN
    s = _exp_sum(x, mx, 1.0, x[:0])
    if s != s:
        return _NAN
    lse = mx + _log(s)
    loss = lse - np.float64(x[y])
    if eps != 0.0:
        loss = (1.0 - eps) * loss + eps * (lse - _sum_span(x) / x.size)
    return loss


@njit(**_OPTS)
def _ce_logits_task(t, x, targets, ignore_index, eps, rows_per_task, losses):
    r0, r1 = _bounds(t, rows_per_task, x.shape[0])
    for r in range(r0, r1):
        y = targets[r]
        if y == ignore_index:
            losses[r] = 0.0
        else:
            losses[r] = _ce_logits_row(x[r], y, eps)


@njit(**_OPTS)
def ce_logits_rows(x, targets, ignore_index, eps, losses, rows_per_task, parallel):
    _run(_ce_logits_task, _chunks(x.shape[0], rows_per_task),
         (x, targets, ignore_index, eps, rows_per_task, losses), parallel)


# ---------------------------------------------------------------------------- Gaussians

_HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)


def _gaussian_kl_scalar(mu1, sigma1, mu2, sigma2):
    s1 = np.float64(sigma1)
    s2 = np.float64(sigma2)
    d = np.float64(mu1) - np.float64(mu2)
    r = s1 / s2
    t = d / s2
    # log s2 - log s1 and squared quotients: nothing overflows (contract)
    return ((_log(s2) - _log(s1)) + (r * r + t * t) / 2.0) - 0.5


def _gaussian_entropy_scalar(sigma):
    """In sigma's precision: one log and one add, so float32 gets float32's sixteen lanes."""
    return _cast_like(sigma, _HALF_LOG_2PI_E) + _log_native(sigma)


_gaussian_kl_elem = njit(inline="always", **_OPTS)(_gaussian_kl_scalar)
_gaussian_entropy_elem = _linked(**_OPTS)(_gaussian_entropy_scalar)


def _at(a, i):
    """a[i] for a 1-D array, a itself for a scalar (an operand broadcast along the loop)."""


@overload(_at)
def _at_impl(a, i):
    if isinstance(a, types.Array):
        return lambda a, i: a[i]
    return lambda a, i: a


def _part(a, lo, hi):
    """a[lo:hi] for a 1-D array, a itself for a scalar."""


@overload(_part)
def _part_impl(a, lo, hi):
    if isinstance(a, types.Array):
        return lambda a, lo, hi: a[lo:hi]
    return lambda a, lo, hi: a


@njit(**_OPTS)
def _gaussian_kl_task(t, mu1, sigma1, mu2, sigma2, out, ch):
    a, e = _bounds(t, ch, out.size)
    m1 = _part(mu1, a, e)
    s1 = _part(sigma1, a, e)
    m2 = _part(mu2, a, e)
    s2 = _part(sigma2, a, e)
    o = out[a:e]
    for i in range(o.size):
        o[i] = _gaussian_kl_elem(_at(m1, i), _at(s1, i), _at(m2, i), _at(s2, i))


@njit(**_OPTS)
def gaussian_kl(mu1, sigma1, mu2, sigma2, out, ch, parallel):
    """out[i] = KL of the i-th pair of Gaussians. Each operand is a 1-D array as long as out
    or a scalar: a broadcast operand passed as a stride-0 array would make the loop strided,
    and LLVM then leaves it scalar (measured 5x slower)."""
    _run(_gaussian_kl_task, _chunks(out.size, ch), (mu1, sigma1, mu2, sigma2, out, ch),
         parallel)


@njit(**_OPTS)
def _gaussian_entropy_task(t, sigma, out, ch):
    a, e = _bounds(t, ch, out.size)
    s = _part(sigma, a, e)
    o = out[a:e]
    for i in range(o.size):
        o[i] = _gaussian_entropy_elem(_at(s, i))


@njit(**_OPTS)
def gaussian_entropy(sigma, out, ch, parallel):
    _run(_gaussian_entropy_task, _chunks(out.size, ch), (sigma, out, ch), parallel)

_UFUNCS = {}


def gaussian_ufuncs():
    """(kl, entropy) ufuncs for float32 and float64, compiled (or loaded from cache) on first
    use: the dask backend's blocks, which may broadcast in any dimension."""
    if not _UFUNCS:
        _UFUNCS["kl"] = vectorize(
            ["float32(float32, float32, float32, float32)",
             "float64(float64, float64, float64, float64)"], cache=True)(_gaussian_kl_scalar)
        _UFUNCS["entropy"] = vectorize(
            ["float32(float32)", "float64(float64)"], cache=True)(_gaussian_entropy_scalar)
    return _UFUNCS["kl"], _UFUNCS["entropy"]
