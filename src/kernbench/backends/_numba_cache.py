"""Where the numba backend's compiled code is cached, so that it is never stale.

numba keys a cached function on its own source file only: it does not notice a change in a
function that it calls from another file. The numba backend's kernels call helpers in
:mod:`_numba_math` and :mod:`_numba_runtime`, the dask backend's kernels
(:mod:`_dask_kernels`) call helpers in :mod:`_numba_kernels`, and the machine code of a kernel
depends on the runtime in use (:mod:`_numba_runtime`: ``tuned`` or ``plain``). So every
compiled function of these modules is cached in a directory of its own, named after

* this checkout (a hash of this directory's path, so that checkouts sharing a
  ``NUMBA_CACHE_DIR`` keep their caches apart),
* the runtime,
* a hash of numba's version and of the bytes of every file in :data:`SOURCES` (the kernels'
  own files, the helpers they call, and the modules whose constants they freeze: the status
  codes of :mod:`interface`, the constants of :mod:`_finals`).

An edited source gives a new directory: old machine code is never loaded. The directories of
older sources of this checkout and runtime are removed when a new one is made; a process
still running old sources then merely compiles again. Processes running the same sources (a
Dask cluster's workers) share one directory and numba's own rules for concurrent writers.

The cuda backend's kernels (:mod:`_cuda_kernels`) are cached the same way, as runtime
``cuda`` with sources of their own.

The directory is chosen by giving numba's ``config.CACHE_DIR`` (the ``NUMBA_CACHE_DIR``
setting) the keyed path while a dispatcher is created (:func:`keyed`): numba fixes a
function's cache location when it is decorated. The keyed directories live under the
``NUMBA_CACHE_DIR`` the user set, else in this package's ``__pycache__``, else in the user's
cache directory; where none is writable the functions are not cached.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import tempfile
import threading

import numba

_HERE = os.path.dirname(os.path.abspath(__file__))

#: The files whose compiled code is cached here, and that code's dependencies: a change in
#: any of them changes the key. A new module with ``cache=True`` functions calling these
#: helpers must be listed (and must decorate them with :func:`_numba_runtime.njit`).
SOURCES = ("_numba_cache.py", "_numba_runtime.py", "_numba_math.py", "_numba_kernels.py",
           "_numba_tasks.py", "_numba_softmax.py", "_dask_kernels.py", "_numba_elementwise.py",
           "_updates.py", "_finals.py", "interface.py")

_lock = threading.RLock()
_dirs: dict = {}


def source_key(runtime: str, sources: tuple = SOURCES) -> str:
    """Hash of numba's version, the runtime's name and the bytes of ``sources`` (file names
    in this directory)."""
    h = hashlib.sha256(f"numba {numba.__version__} runtime {runtime}".encode())
    for name in sources:
        h.update(name.encode())
        try:
            with open(os.path.join(_HERE, name), "rb") as f:
                h.update(f.read())
        except OSError:  # not a plain file (a zipped package): its path stands for it
            h.update(b"\0unreadable")
    return h.hexdigest()[:20]


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _bases() -> list[str]:
    user = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    bases = [numba.config.CACHE_DIR] if numba.config.CACHE_DIR else []
    return bases + [os.path.join(_HERE, "__pycache__"), os.path.join(user, "kernbench")]


def cache_dir(runtime: str, sources: tuple = SOURCES) -> str | None:
    """The directory caching this checkout's compiled code for ``runtime`` and the current
    ``sources`` (created, and older sources' directories removed, on first use in a process);
    None where no candidate directory is writable."""
    with _lock:
        if runtime in _dirs:
            return _dirs[runtime]
        checkout = hashlib.sha1(_HERE.encode()).hexdigest()[:8]
        prefix = f"kernbench-numba-{checkout}-{runtime}-"
        found = None
        for base in _bases():
            path = os.path.join(base, prefix + source_key(runtime, sources))
            if _writable(path):
                found = path
                for old in glob.glob(os.path.join(glob.escape(base), prefix + "*")):
                    if old != path:
                        shutil.rmtree(old, ignore_errors=True)
                break
        _dirs[runtime] = found
        return found


@contextlib.contextmanager
def keyed(runtime: str, sources: tuple = SOURCES, config=None):
    """While open, numba functions decorated with ``cache=True`` are cached in
    :func:`cache_dir`; yields that directory (None: do not cache). ``config`` is the module
    whose ``CACHE_DIR`` the compiler reads: numba's own by default, numba-cuda keeps its own
    (``numba.cuda.core.config``)."""
    config = numba.config if config is None else config
    path = cache_dir(runtime, sources)
    with _lock:
        saved = config.CACHE_DIR
        if path is not None:
            config.CACHE_DIR = path
        try:
            yield path
        finally:
            config.CACHE_DIR = saved
