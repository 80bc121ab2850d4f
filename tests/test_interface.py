"""The one interface: every backend offers every kernel with the contract's signature."""

from __future__ import annotations

import inspect

import pytest

import kernbench as kb
from kernbench.backends.interface import KERNELS, Kernels


def _parameters(fn):
    """Names, kinds and defaults of the parameters; annotations are documentation only."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_kernel_list_matches_contract():
    declared = {n for n, f in vars(Kernels).items() if callable(f) and not n.startswith("_")}
    assert declared == set(KERNELS)


@pytest.mark.parametrize("name", kb.known_backends())
def test_every_backend_implements_every_kernel(name):
    try:
        backend = kb.get_backend(name)
    except kb.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    assert backend.name == name
    for kernel in KERNELS:
        impl = getattr(type(backend), kernel, None)
        assert impl is not None and callable(impl), f"{name} lacks {kernel}"
        assert _parameters(impl) == _parameters(getattr(Kernels, kernel)), \
            f"{name}.{kernel} signature differs from the contract"


def test_available_backends_order_and_core_set():
    names = kb.available_backends()
    assert names[:4] == ["python", "numpy", "numba-plain", "numba"]
    assert names == [n for n in kb.known_backends() if n in names]


def test_unknown_backend_names_the_known_ones():
    known = "backend must be one of 'python', 'numpy', 'numba-plain', 'numba'"
    with pytest.raises(ValueError, match=known):
        kb.get_backend("fortran")


def test_get_backend_returns_one_object_per_name():
    assert kb.get_backend("numpy") is kb.get_backend("numpy")
