"""kernbench: optimizer and information-theory kernels written four ways, measured side by side.

>>> import kernbench as kb
>>> kb.available_backends()          # doctest: +SKIP
['python', 'numpy', 'numba']
"""

from kernbench.backends import (
    KERNELS,
    BackendUnavailableError,
    available_backends,
    get_backend,
    known_backends,
)

__version__ = "0.1.0"

__all__ = ["KERNELS", "BackendUnavailableError", "__version__", "available_backends",
           "get_backend", "known_backends"]
