"""asv benchmarks: thin adapters over kernbench's workload records.

One class per kernel, generated from :data:`kernbench.bench.workloads.WORKLOADS`, so a new
kernel is benchmarked the moment it has a record:

* ``<Kernel>.time_<kernel>``: one call, parametrized by (backend, size, dtype); the JIT is
  warmed (and optimizer state allocated) in ``setup``; a combination that cannot run here raises
  NotImplementedError in ``setup`` and shows as n/a.
* ``<Kernel>Relative.track_<kernel>_vs_numpy``: time relative to the numpy backend measured side
  by side in one process (a ratio, lower is better, as asv reads every ``track_``).
* ``Compile<Kernel>.time_compile_<kernel>``: the cold compile of each numba tier (``numba-plain``
  and ``numba``), in a fresh process with an empty cache (wall time of that process, interpreter
  start and imports included).

The python backend runs only at the smallest size: a full ``asv run`` of one commit stays
within about 20 minutes on 2 cores.
"""

from __future__ import annotations

from benchmarks._adapters import compile_benchmark_classes, kernel_benchmark_classes

globals().update(kernel_benchmark_classes())
globals().update(compile_benchmark_classes())
