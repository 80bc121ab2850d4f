"""Views of device arrays (``_cuda_views``): the stride algebra (pure functions, tested
everywhere) and the views themselves, on a GPU or under the simulator
(``NUMBA_ENABLE_CUDASIM=1``; they skip otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

import kernbench as kb
from kernbench.backends import _cuda_views as V


@pytest.fixture
def cuda():
    try:
        kb.get_backend("cuda")
    except kb.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return V.cuda


def _host_cases():
    """NumPy arrays whose elements one stride does or does not walk in C order."""
    base = np.arange(24.0).reshape(2, 3, 4)
    return [
        (base, 8),
        (base[:, :, ::2], 16),
        (base[:1], 8),  # a length-1 axis has no say
        (base.transpose(2, 1, 0), None),
        (base[:, ::2], None),
        (base[:, :, :0], "default"),
        (base[0, 0, :1], "default"),
    ]


@pytest.mark.parametrize(("a", "want"), _host_cases())
def test_one_stride(a, want):
    got = V.one_stride(a.shape, a.strides, -1)
    assert got == (-1 if want == "default" else want)
    if want not in (None, "default"):  # the stride does walk every element in C order
        walked = np.lib.stride_tricks.as_strided(a, (a.size,), (want,))
        np.testing.assert_array_equal(walked, a.ravel())


@pytest.mark.parametrize("shape", [(2, 3, 4), (5,), (3, 0, 2), ()])
def test_c_strides_are_numpys(shape):
    for dtype in (np.float32, np.float64):
        a = np.empty(shape, dtype=dtype)
        if a.size:
            assert V.c_strides(shape, a.itemsize) == a.strides
        else:  # NumPy's strides of an empty array are as if its empty axes had length 1
            assert V.c_strides(shape, a.itemsize) == np.empty(
                tuple(max(n, 1) for n in shape), dtype=dtype).strides


def test_host_arrays_are_not_device_arrays():
    assert not V.is_device_array(np.zeros(3))
    assert V.shape_dtype(np.zeros((2, 3), np.float32)) == ((2, 3), np.dtype(np.float32))


def test_view_and_flat_read_the_same_memory(cuda):
    host = np.arange(24.0).reshape(4, 6)
    d = cuda.to_device(host)
    assert V.is_device_array(d) and V.device_view(d) is d
    t = V.view(d, (6, 4), (8, 48))  # the transpose, no copy
    np.testing.assert_array_equal(t.copy_to_host(), host.T)
    cols = V.view(d, (4, 3), (48, 16))  # every other column
    np.testing.assert_array_equal(cols.copy_to_host(), host[:, ::2])
    flat = V.flat(d)
    assert flat.shape == (24,)
    np.testing.assert_array_equal(flat.copy_to_host(), host.ravel())
    assert V.like_input(d, d) is d  # a Numba device input: the output stays one


def test_flat_pieces_cover_every_element_in_order(cuda):
    host = np.arange(24.0).reshape(2, 3, 4)
    d = cuda.to_device(host)
    (whole,) = V.flat_pieces(d)
    np.testing.assert_array_equal(whole[0].copy_to_host(), host.ravel())
    strided = V.view(d, (2, 3, 2), (96, 32, 16))  # host[:, :, ::2]: a piece per leading index
    pieces = V.flat_pieces(strided, strided)
    assert len(pieces) == 6
    got = np.concatenate([p[0].copy_to_host() for p in pieces])
    np.testing.assert_array_equal(got, host[:, :, ::2].ravel())


def test_staged_numpy_view_is_updated_where_it_looks(cuda):
    theta = np.arange(10.0)
    view = theta[::2]
    staged = V.Staged(view)
    staged.device[:] = cuda.to_device(np.full(5, -1.0))
    staged.finish()
    np.testing.assert_array_equal(theta, [-1, 1, -1, 3, -1, 5, -1, 7, -1, 9])
    d = cuda.to_device(np.ones(3))
    assert V.Staged(d).device is d  # a device param is used in place, nothing to copy back
