"""The benchmark runner: workloads, honest timing, machine probe, results files and reports.

``kernbench run`` measures, ``kernbench report`` renders, ``kernbench compare`` checks two
runs against each other. :mod:`kernbench.bench.workloads` is the single source of truth that
the runner, the asv suite and the pytest-benchmark suite share.
"""
