"""One lock for the parallel regions of both numba backends, where numba's threading layer
needs it.

numba's ``workqueue`` layer (its fallback where neither OpenMP nor TBB is found) aborts the
whole process when two Python threads run parallel code at once ("Concurrent access has been
detected"). Where it is the layer, every parallel call of the ``numba`` and ``numba-plain``
backends holds :data:`PARALLEL_LOCK`, one lock for both, so their regions never overlap. The
``omp`` and ``tbb`` layers are thread-safe and nothing is locked there; ``pip install tbb`` and
``NUMBA_THREADING_LAYER=tbb`` choose TBB where no OpenMP runtime is found.
"""

from __future__ import annotations

import threading

import numba

#: Held while a parallel call runs, where the threading layer is not thread-safe.
PARALLEL_LOCK = threading.Lock()

_SAFE: list = []  # [bool] once known: the layer is fixed for the life of the process


def threading_layer_is_thread_safe() -> bool:
    """Whether numba's threading layer (started here if need be) lets several Python threads
    run parallel regions at once: ``omp`` and ``tbb`` do, ``workqueue`` does not."""
    if not _SAFE:
        numba.get_num_threads()  # launches numba's threads, which fixes the layer
        _SAFE.append(numba.threading_layer() in ("omp", "tbb"))
    return _SAFE[0]
