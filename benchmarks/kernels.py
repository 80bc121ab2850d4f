"""asv benchmarks: thin adapters over kernbench's workload records.

One class per kernel, generated from :data:`kernbench.bench.workloads.WORKLOADS`, so a new
kernel is benchmarked the moment it has a record:

* ``<Kernel>.time_<kernel>``: one call per sample, parametrized by (backend, size, dtype); the
  JIT is warmed (and optimizer state allocated) once in ``setup``, and a kernel that writes its
  inputs gets them back in ``setup``, which asv runs before every sample (``number = 1``), so
  the reset is never timed. A combination that cannot run here raises NotImplementedError in
  ``setup`` and shows as n/a.
* ``<Kernel>Relative.track_<kernel>_vs_numpy``: time relative to the numpy backend measured side
  by side in one process (a ratio, lower is better, as asv reads every ``track_``).
* ``Compile<Kernel>.timeraw_compile_<kernel>``: the numba backend's cold compile and first call,
  timed by asv in a fresh interpreter with an empty numba cache (imports and inputs untimed).

Every benchmark's ``version`` is a hash of its workload record (fields, shapes, input maker
and case class: :func:`benchmarks._adapters.workload_version`), so a changed workload starts a
new history. The backends come from one list, ``benchmarks._adapters.BACKENDS``.

The python backend runs only at the smallest size. A full ``asv run`` of one commit (with a
numba-plain backend as well) was 62% done after 15 minutes on a 2-core machine running other
work (about 24 minutes in all): the 20-minute budget on 2 cores needs a quiet machine or
fewer parameters. ``benchmarks/history.py`` is the small suite every commit since
the numba backend can run (reports/asv/).
"""

from __future__ import annotations

from benchmarks._adapters import compile_benchmark_classes, kernel_benchmark_classes

globals().update(kernel_benchmark_classes())
globals().update(compile_benchmark_classes())
