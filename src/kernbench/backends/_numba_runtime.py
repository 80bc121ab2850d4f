"""The task runtime of the ``numba`` backend: how a kernel runs its tasks and how its helpers
are compiled, in two interchangeable versions.

The kernels (:mod:`_numba_kernels`, :mod:`_numba_math`, :mod:`_dask_kernels`) use these
names, and nothing else, from here:

* :data:`OPTS`: the ``njit`` options of every compiled function of the backend;
* :func:`njit` and :func:`vectorize`: numba's, caching where :mod:`_numba_cache` keys the
  cache on the backend's sources and the runtime in use;
* :func:`linked`: the decorator of helpers (functions that compiled code calls);
* :func:`run`: ``run(task, ntasks, args, parallel)`` calls ``task(t, *args)`` for t in
  0..ntasks-1, over numba's threads if ``parallel``; serial and parallel runs execute the same
  task code on the same tasks, so they give the same bits;
* :func:`by_precision`: one helper or another, chosen by the precision of the argument.

**The tuned runtime** (``tuned``) is built on numba internals. It makes a cold compile of the
whole backend several times shorter than the plain runtime's (``reports/numba-tuning/``); it
buys no steady-state speed. Two things make the difference:

* Helpers (``linked``) are compiled, with their own fastmath flags, into a subclass of numba's
  ``JITCodeLibrary`` that is only ever linked into the kernels using them: numba would
  otherwise optimize and emit machine code for each helper on its own before optimizing it
  again inside every caller.
* ``run`` calls each task's code through a pointer, from a plain loop or from ``_par_run``,
  the one ``prange`` loop of the backend, compiled once per process and published to LLVM's
  linker under a C symbol. A ``prange`` copy of each kernel would compile every task body once
  more, through numba's parallel pipeline, per kernel and dtype.

**The plain runtime** (``plain``) is what numba's documentation teaches: helpers are ordinary
``@njit`` functions, and ``run`` is a ``range`` loop or a ``prange`` loop (``parallel=True``),
compiled for each task.

**Which one.** ``KERNBENCH_NUMBA_RUNTIME=tuned`` or ``plain`` forces either (a tuned runtime
that does not build is then an error). Unset, the tuned runtime is used where numba is in the
series it is tested on (:data:`TESTED_SERIES`) and it builds: numba's internals import, its
parallel loop compiles and is published, and a small kernel using it runs and is right.
Otherwise the plain runtime is used, with one :class:`NumbaRuntimeWarning` saying why.
:data:`RUNTIME` names the one in use.

**Threads.** numba's ``workqueue`` threading layer (its fallback where neither OpenMP nor TBB
is found) aborts the process when two Python threads run parallel regions at once. Where the
layer is not thread-safe, :func:`serialize_parallel_calls` makes the parallel calls of a
kernel module take one lock. The ``tbb`` layer is thread-safe: ``pip install tbb`` and set
``NUMBA_THREADING_LAYER=tbb`` (or ``threadsafe``) to run parallel regions from several Python
threads at once without OpenMP.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from types import SimpleNamespace

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic, is_jitted, overload

from kernbench.backends import _numba_cache
from kernbench.backends._numba_threads import PARALLEL_LOCK, threading_layer_is_thread_safe

try:  # numba internals of the tuned runtime; without them only the plain runtime exists
    from numba.core import cgutils, compiler
    from numba.core.codegen import JITCodeLibrary
    from numba.core.cpu_options import ParallelOptions
    from numba.core.registry import cpu_target
except ImportError as exc:  # pragma: no cover - a numba other than the tested one
    _INTERNALS_ERROR: Exception | None = exc
    JITCodeLibrary = object
else:
    _INTERNALS_ERROR = None

#: The environment variable that forces a runtime: ``tuned`` or ``plain``.
ENV_VAR = "KERNBENCH_NUMBA_RUNTIME"
RUNTIMES = ("tuned", "plain")
#: numba's (major, minor) series on which the tuned runtime is tested.
TESTED_SERIES = (0, 68)

# nogil: a dask worker running chunk tasks on threads keeps them in parallel.
#: The options of every compiled function of the numba backend.
OPTS = dict(cache=True, error_model="numpy", nogil=True)


class NumbaRuntimeWarning(RuntimeWarning):
    """The numba backend fell back to its plain runtime (the message says why)."""


def _jit(runtime: str, **options):
    """``numba.njit(**options)``, caching in the directory of ``runtime`` and the current
    sources (see :mod:`_numba_cache`)."""

    def decorate(fn):
        if not options.get("cache"):
            return numba.njit(**options)(fn)
        with _numba_cache.keyed(runtime) as path:
            return numba.njit(**dict(options, cache=path is not None))(fn)

    return decorate


# ---------------------------------------------------------------------------- tuned runtime

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


def linked_libraries() -> list:
    """The code libraries of the tuned runtime's helpers and tasks compiled in this process
    (none under the plain runtime): each is only ever linked, never finalized on its own."""
    return [cres.library for cres in _LINKED.values()]


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


def _tuned_linked(**options):
    """Decorator: a helper for jitted code, compiled with ``options`` like ``njit`` but into a
    :class:`_LinkOnlyLibrary` (an intrinsic typed by compiling it). Callable from jitted code
    only."""
    options = {k: v for k, v in options.items() if k != "cache"}  # never compiled on its own

    def decorate(fn):
        disp = numba.njit(**options)(fn)
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


def _tuned_by_precision(f32_fn, f64_fn, doc: str):
    """An intrinsic calling the linked ``f32_fn`` on a float32 argument and ``f64_fn`` on
    anything else, chosen at compile time."""

    def typer(typingctx, x):
        return _linked_call((f32_fn if x == types.float32 else f64_fn)._kb_dispatcher, (x,))

    typer.__doc__ = doc
    return intrinsic(typer)


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


def _par_run_loop(entry, ntasks, args):
    """Tasks 0..ntasks-1 of a task entry over numba's threads (a static split: the tasks of a
    kernel are of equal size). Compiled as :data:`_par_run` by :func:`_build_tuned`."""
    for t in prange(ntasks):
        _call_entry(entry, np.int64(t), args)


_par_run = None

#: The symbol under which :func:`_par_run`'s C entry point is published to LLVM's linker.
_PAR_RUN_SYMBOL = "kernbench_numba_par_run"


def _publish_par_run():
    """Compile (or load from numba's cache) :func:`_par_run` and publish its C entry point.

    Kernels call it by that name (:func:`_call_par_run`) instead of linking a copy: each copy
    would be optimized and emitted again in every kernel. The symbol must exist before any
    kernel's machine code is linked, freshly compiled or loaded from the cache, so this runs
    when the module is imported.
    """
    global _par_run
    # Only the explicit prange loop runs in parallel. An options object, not a dict: numba
    # pops the keys of a dict on the first compile.
    parallel = ParallelOptions(dict(prange=True, comprehension=False, reduction=False,
                                    inplace_binop=False, setitem=False, numpy=False,
                                    stencil=False, fusion=False))
    _par_run = _jit("tuned", parallel=parallel, **OPTS)(_par_run_loop)
    sig = (types.int64, types.int64, types.int64)
    _par_run.compile(sig)
    cres = _par_run.overloads[sig]
    llvm.add_symbol(_PAR_RUN_SYMBOL,
                    cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name))


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


def _tuned_run_loop(task, ntasks, args, parallel):
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


def _check_task(t, out, base):
    out[t] = base + t


def _check_kernel(out, base, parallel):
    _check_run(_check_task, out.size, (out, base), parallel)


def _build_tuned():
    """Build the tuned runtime: publish :func:`_par_run`, then compile (or load from the
    cache) and run a kernel of one linked task, serially and on the threads (a small kernel:
    it adds to every cold compile of the backend). Raises whatever fails; returns ``run``."""
    global _check_task, _check_run
    if _INTERNALS_ERROR is not None:
        raise _INTERNALS_ERROR
    _publish_par_run()
    run = _jit("tuned", inline="always", **OPTS)(_tuned_run_loop)
    _check_task = _jit("tuned", **OPTS)(_check_task)
    _check_run = run
    kernel = _jit("tuned", **OPTS)(_check_kernel)
    for parallel in (False, True):
        out = np.zeros(4 * numba.get_num_threads(), dtype=np.int64)
        kernel(out, np.int64(7), parallel)
        if not np.array_equal(out, np.arange(7, 7 + out.size)):
            raise RuntimeError(f"a tuned test kernel computed {out.tolist()}")
    return run


# ---------------------------------------------------------------------------- plain runtime

def _plain_linked(**options):
    """Decorator: a helper for jitted code, an ordinary ``njit`` function."""
    return _jit("plain", **options)


def _plain_loop(task):
    """The task loop of ``task``: ``loop(ntasks, args, parallel)`` calls ``task(t, *args)`` for
    t in 0..ntasks-1, in a ``prange`` loop if ``parallel``; the serial loop calls the same
    compiled task as the threads.

    One loop per task, with the task a constant of the loop: a task passed into a ``prange``
    loop as a value would be a pointer to a Python object in the machine code, which numba
    cannot cache. Not cached on its own: it is part of every kernel that runs it."""

    def loop(ntasks, args, parallel):
        if parallel and ntasks > 1:
            for t in prange(ntasks):
                task(np.int64(t), *args)
        else:
            for t in range(ntasks):
                task(np.int64(t), *args)

    return numba.njit(parallel=True, **dict(OPTS, cache=False))(loop)


_PLAIN_LOOPS: dict = {}


def _plain_run(task, ntasks, args, parallel):
    """``task(t, *args)`` for t in 0..ntasks-1, over numba's threads if ``parallel`` (the
    plain runtime's :func:`run`)."""
    raise TypeError("run is callable from jitted code only")


@overload(_plain_run, inline="always")
def _plain_run_impl(task, ntasks, args, parallel):
    if not isinstance(task, types.Dispatcher):
        return None
    disp = task.dispatcher
    loop = _PLAIN_LOOPS.get(disp)
    if loop is None:
        loop = _PLAIN_LOOPS[disp] = _plain_loop(disp)

    def impl(task, ntasks, args, parallel):
        loop(ntasks, args, parallel)

    return impl


def _plain_by_precision(f32_fn, f64_fn, doc: str):
    """A function for jitted code calling ``f32_fn`` on a float32 argument and ``f64_fn`` on
    anything else, chosen at compile time (an ``overload``, inlined into the caller)."""

    def dispatch(x):
        raise TypeError("callable from jitted code only")

    dispatch.__doc__ = doc

    @overload(dispatch, inline="always")
    def _impl(x):
        fn = f32_fn if x == types.float32 else f64_fn
        return lambda x: fn(x)

    return dispatch


# ---------------------------------------------------------------------------- selection

def _requested() -> str | None:
    """The runtime that :data:`ENV_VAR` forces, or None."""
    raw = os.environ.get(ENV_VAR, "")
    value = raw.strip().lower()
    if not value:
        return None
    if value not in RUNTIMES:
        raise ValueError(f"{ENV_VAR} must be 'tuned' or 'plain' (or unset to choose "
                         f"automatically); got {raw!r}")
    return value


def _numba_series() -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in numba.__version__.split(".")[:2])
    except ValueError:  # a development version string
        return ()


def _select():
    """(name, run) of the runtime to use (see the module's docstring)."""
    requested = _requested()
    if requested == "plain":
        return "plain", None
    if requested is None and _numba_series() != TESTED_SERIES:
        why = (f"numba {numba.__version__} is outside the series the tuned runtime is tested "
               f"on ({TESTED_SERIES[0]}.{TESTED_SERIES[1]}.x)")
    else:
        try:
            return "tuned", _build_tuned()
        except Exception as exc:
            if requested == "tuned":
                raise RuntimeError(f"{ENV_VAR}=tuned, but the numba backend's tuned runtime "
                                   f"does not build with numba {numba.__version__}: "
                                   f"{type(exc).__name__}: {exc}") from exc
            why = (f"its tuned runtime does not build with numba {numba.__version__} "
                   f"({type(exc).__name__}: {exc})")
    warnings.warn(f"the numba backend uses its plain runtime: {why}. Set {ENV_VAR}=plain "
                  "to silence this warning.", NumbaRuntimeWarning, stacklevel=2)
    return "plain", None


#: The runtime in use: ``"tuned"`` or ``"plain"``.
RUNTIME, run = _select()
if run is None:
    run = _plain_run


def linked(**options):
    """Decorator of helpers for jitted code: ``@linked(**options)`` compiles like
    ``njit(**options)``; the tuned runtime links the helper into its callers only."""
    return (_tuned_linked if RUNTIME == "tuned" else _plain_linked)(**options)


def by_precision(f32_fn, f64_fn, doc: str):
    """A function for jitted code that calls the helper ``f32_fn`` on a float32 argument and
    ``f64_fn`` on anything else, chosen at compile time; ``doc`` is its docstring."""
    return (_tuned_by_precision if RUNTIME == "tuned" else _plain_by_precision)(
        f32_fn, f64_fn, doc)


def njit(*args, **options):
    """``numba.njit``; with ``cache=True`` the cache lives in the directory that
    :mod:`_numba_cache` keys on the backend's sources and :data:`RUNTIME`."""
    if len(args) == 1 and callable(args[0]) and not options:
        return _jit(RUNTIME)(args[0])
    if args:
        raise TypeError("njit takes options only (signatures are not used here)")
    return _jit(RUNTIME, **options)


def vectorize(signatures, **options):
    """``numba.vectorize(signatures, **options)``, caching like :func:`njit`."""

    def decorate(fn):
        if not options.get("cache"):
            return numba.vectorize(signatures, **options)(fn)
        with _numba_cache.keyed(RUNTIME) as path:
            return numba.vectorize(signatures, **dict(options, cache=path is not None))(fn)

    return decorate


# ---------------------------------------------------------------------------- threads

def _serialized(fn, index: int):
    @functools.wraps(fn)
    def call(*args):
        if args[index]:
            with PARALLEL_LOCK:
                return fn(*args)
        return fn(*args)

    return call


def serialize_parallel_calls(module):
    """``module`` itself where the threading layer is thread-safe; else a namespace of its
    attributes in which each compiled function with a ``parallel`` parameter holds
    :data:`PARALLEL_LOCK` while a call with ``parallel`` true runs (callers pass every
    argument by position). So the kernels' parallel regions never overlap there, whichever
    Python threads call them; serial calls still run side by side."""
    if threading_layer_is_thread_safe():
        return module
    names = {}
    for name, obj in vars(module).items():
        if is_jitted(obj) and "parallel" in inspect.signature(obj.py_func).parameters:
            index = list(inspect.signature(obj.py_func).parameters).index("parallel")
            obj = _serialized(obj, index)
        names[name] = obj
    return SimpleNamespace(**names)
