"""A small asv suite that every commit since the numba backend can run: the history tracks.

The workload records (:mod:`kernbench.bench.workloads`) arrived after the numba backend, and
their API has changed since; asv takes the benchmark files from the current checkout but imports
the ``kernbench`` of the commit under test. This module therefore uses only the public API that
every commit from the numba backend on has (``kernbench.info.entropy``,
``kernbench.info.softmax``, ``kernbench.optim.Adam(...).step``), with inputs made here.

``History.time_<kernel>`` times one call per backend at one size: the loop (python), vector
(numpy) and compiled (numba) tracks whose ratios reports/asv/README.md plots over the commits.
Each benchmark's ``version`` is a hash of its workload definition (size, dtype, seed and the
source of its input maker and call), so a changed workload starts a new history.
"""

from __future__ import annotations

import hashlib
import inspect

import numpy as np

#: The three tracks, in the contract's order. A backend added later has no history to show.
HISTORY_BACKENDS = ["python", "numpy", "numba"]
#: One size for every track: the python loops take ~0.5 us per element and pass.
HISTORY_ELEMENTS = 100_000
HISTORY_DTYPE = "float64"
HISTORY_SEED = 0


def _entropy_inputs(rng):
    p = rng.random(HISTORY_ELEMENTS) + 0.01
    return {"p": (p / p.sum()).astype(HISTORY_DTYPE)}


def _entropy_call(kb, inputs, backend):
    p = inputs["p"]
    return lambda: kb.info.entropy(p, backend=backend)


def _softmax_inputs(rng):
    # 16 rows, as a batch of logits: a row reduction, then an elementwise pass.
    rows = 16
    logits = rng.standard_normal((rows, HISTORY_ELEMENTS // rows)).astype(HISTORY_DTYPE)
    return {"logits": logits}


def _softmax_call(kb, inputs, backend):
    logits = inputs["logits"]
    return lambda: kb.info.softmax(logits, backend=backend)


def _adam_inputs(rng):
    return {"param": rng.standard_normal(HISTORY_ELEMENTS).astype(HISTORY_DTYPE),
            "grad": rng.standard_normal(HISTORY_ELEMENTS).astype(HISTORY_DTYPE)}


def _adam_call(kb, inputs, backend):
    # The params drift by lr per step: the work per step does not depend on their values.
    opt = kb.optim.Adam([inputs["param"].copy()], lr=1e-3, backend=backend)
    grads = [inputs["grad"]]
    return lambda: opt.step(grads)


#: kernel -> (input maker, call builder): the workload definitions the versions hash.
HISTORY_WORKLOADS = {
    "entropy": (_entropy_inputs, _entropy_call),
    "softmax": (_softmax_inputs, _softmax_call),
    "adam_step": (_adam_inputs, _adam_call),
}


def workload_version(kernel: str) -> str:
    """A hash of everything that defines the kernel's workload here."""
    maker, caller = HISTORY_WORKLOADS[kernel]
    record = "\n".join([kernel, str(HISTORY_ELEMENTS), HISTORY_DTYPE, str(HISTORY_SEED),
                        inspect.getsource(maker), inspect.getsource(caller)])
    return hashlib.sha256(record.encode()).hexdigest()[:16]


def _class_name(kernel: str) -> str:
    return "History" + "".join(part.capitalize() for part in kernel.split("_"))


def _history_class(kernel: str):
    """``History<Kernel>.time_<kernel>``: one call per backend (lower is better)."""
    maker, caller = HISTORY_WORKLOADS[kernel]

    def setup(self, backend):
        import kernbench as kb
        import kernbench.info  # the submodules, imported explicitly: old commits may not
        import kernbench.optim

        if backend not in kb.available_backends():
            raise NotImplementedError(f"backend {backend!r} is not available here")
        self.fn = caller(kb, maker(np.random.default_rng(HISTORY_SEED)), backend)
        self.fn()  # compiles the numba kernel outside the timing

    def time_kernel(self, backend):
        self.fn()

    time_kernel.version = workload_version(kernel)
    return type(_class_name(kernel), (), {
        "__doc__": f"One {kernel} call of {HISTORY_ELEMENTS} {HISTORY_DTYPE} elements",
        "params": [HISTORY_BACKENDS],
        "param_names": ["backend"],
        "setup": setup,
        f"time_{kernel}": time_kernel,
        # one process per benchmark, a few samples: the history run covers many commits
        "rounds": 1,
        "repeat": (3, 10, 20.0),
        "warmup_time": 0.1,
        "timeout": 300,
    })


globals().update({_class_name(k): _history_class(k) for k in HISTORY_WORKLOADS})
