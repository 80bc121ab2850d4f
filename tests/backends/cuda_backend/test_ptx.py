"""Every ``@cuda.jit`` kernel of the cuda backend compiles to PTX for a real GPU.

The simulator runs the kernels as Python, so it cannot catch what only the CUDA compiler
rejects (typing that unifies differently, shared memory, device-function calls). This test
compiles each kernel for compute capability 9.0 with the argument types the backend launches
it with, float32 and float64, through NVVM; no GPU is needed, the CUDA toolkit's NVVM and
NVRTC are (``pip install "numba-cuda[cu12]"`` brings them). It skips when they are missing
and under ``NUMBA_ENABLE_CUDASIM=1``, where ``numba.cuda`` is the simulator.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("numba_cuda")

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
    pytest.skip("NUMBA_ENABLE_CUDASIM=1: numba.cuda is the simulator, which compiles nothing",
                allow_module_level=True)

from numba import cuda, types
from numba.cuda import dispatcher as cuda_dispatcher
from numba.cuda.dispatcher import CUDADispatcher

from kernbench.backends import _cuda_kernels as kernels

#: Hopper (H100, H200); any recent compute capability would do.
COMPUTE_CAPABILITY = (9, 0)


class _TargetDevice:
    """Stands in for the current device when there is none: a kernel that calls a
    ``@cuda.jit(device=True)`` function has numba compile that function for the current
    device's compute capability, even inside ``compile_ptx``."""

    compute_capability = COMPUTE_CAPABILITY

f64 = types.float64
i64 = types.int64
boolean = types.boolean


def _vec(dt, layout="C"):
    return types.Array(dt, 1, layout)


def _mat(dt, layout="C"):
    return types.Array(dt, 2, layout)


# The argument types of each launch in cuda_backend, by the float dtype of the data and the
# layout of the arrays the caller gave. Scalars reach the optimizer kernels cast to the param
# dtype; Python ints and floats type as int64 and float64. 1-D views of C-contiguous params are
# C-contiguous, views of strided 1-D device params are not (layout "A"). Information inputs
# are C-contiguous copies of NumPy arrays, or views of the caller's device arrays: rows of a
# C-contiguous array ("C"), of a transposed one ("F"), of a slice or a broadcast scalar
# ("A"); the backend's own outputs and scratch are C-contiguous.
SIGNATURES = {
    "sgd_kernel": lambda dt, lay="C": (_vec(dt, lay),) * 3 + (dt,) * 4 + (boolean,) * 5,
    "adam_kernel": lambda dt, lay="C": (_vec(dt, lay),) * 5 + (dt,) * 9 + (boolean,) * 4,
    "scale_kernel": lambda dt, lay="C": (_vec(dt, lay), dt),
    "sum_squares_kernel": lambda dt, lay="C": (_vec(dt, lay), _vec(f64)),
    "count_not_positive_kernel": lambda dt, lay="C": (_vec(dt, lay), _vec(f64)),
    "targets_partials": lambda dt, lay="C": (_vec(i64, lay), i64, i64, _mat(f64)),
    "fill_kernel": lambda dt: (_vec(dt), dt),
    "sum_kernel": lambda dt: (_vec(f64), _vec(f64)),
    "cosine_kernel": lambda dt: (_vec(f64), f64, f64, f64, _vec(f64)),
    "rows_partials": lambda dt, lay="C": (_mat(dt, lay), _mat(dt, lay), _mat(f64), i64, i64,
                                          i64, types.Array(f64, 3, "C")),
    "rows_finish": lambda dt: (types.Array(f64, 3, "C"), i64, _mat(f64), _vec(f64),
                               _vec(types.int8)),
    "column_sums": lambda dt, lay="C": (_mat(dt, lay), _vec(f64)),
    "joint_finish": lambda dt: (_mat(f64), _vec(f64), f64, _vec(f64)),
    "softmax_kernel": lambda dt, lay="C": (_mat(dt, lay), f64, boolean, _mat(dt)),
    "ce_logits_kernel": lambda dt, lay="C": (_mat(dt, lay), _vec(i64, "A" if lay == "A" else "C"),
                                             i64, f64, _vec(f64)),
    "gaussian_kl_kernel": lambda dt, lay="C": (_vec(dt, lay),) * 4 + (_vec(dt),),
    "gaussian_entropy_kernel": lambda dt, lay="C": (_vec(dt, lay), _vec(dt)),
}
#: Kernels whose inputs may be strided 1-D device views: compiled for layout "A" as well.
STRIDED = ("sgd_kernel", "adam_kernel", "scale_kernel", "sum_squares_kernel",
           "count_not_positive_kernel", "targets_partials", "gaussian_kl_kernel",
           "gaussian_entropy_kernel")
#: Kernels reading rows of the caller's 2-D device arrays: compiled for "A" and "F" as well.
ROWS = ("rows_partials", "column_sums", "softmax_kernel", "ce_logits_kernel")


def _kernels() -> dict:
    return {name: obj for name, obj in vars(kernels).items()
            if isinstance(obj, CUDADispatcher) and not obj.targetoptions.get("device")}


@pytest.fixture(scope="module")
def toolkit():
    """Skip unless NVVM can compile a trivial kernel here; without a GPU, device functions
    are compiled for COMPUTE_CAPABILITY (with one, for the GPU's own, as at a launch)."""
    def trivial(x):
        x[0] = 1.0

    try:
        cuda.compile_ptx(trivial, (_vec(f64),), cc=COMPUTE_CAPABILITY)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        pytest.skip("the CUDA toolkit's NVVM/NVRTC cannot compile here "
                    f'(pip install "numba-cuda[cu12]" brings them): '
                    f"{type(exc).__name__}: {first_line[:200]}")
    if cuda.is_available():
        yield
        return
    patch = pytest.MonkeyPatch()
    patch.setattr(cuda_dispatcher, "get_current_device", _TargetDevice)
    yield
    patch.undo()


def test_every_kernel_has_its_launch_signature():
    assert set(_kernels()) == set(SIGNATURES)


CASES = ([(name, dt, "C") for name in SIGNATURES for dt in ("float32", "float64")]
         + [(name, dt, "A") for name in STRIDED + ROWS for dt in ("float32", "float64")]
         + [(name, dt, "F") for name in ROWS for dt in ("float32", "float64")])


@pytest.mark.parametrize("name,dtype,layout", CASES)
def test_kernel_compiles_to_ptx(toolkit, name, dtype, layout):
    dt = getattr(types, dtype)
    make = SIGNATURES[name]
    sig = make(dt, layout) if layout != "C" else make(dt)
    ptx, restype = cuda.compile_ptx(_kernels()[name].py_func, sig, cc=COMPUTE_CAPABILITY)
    assert restype == types.void
    assert f".target sm_{COMPUTE_CAPABILITY[0]}{COMPUTE_CAPABILITY[1]}" in ptx
    assert ".entry" in ptx  # a kernel entry point, not only device functions
    if name in ("sum_squares_kernel", "sum_kernel", "rows_partials", "joint_finish",
                "softmax_kernel", "ce_logits_kernel", "count_not_positive_kernel",
                "targets_partials"):
        assert ".extern .shared" in ptx  # the block scratch is dynamic shared memory
