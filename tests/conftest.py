"""Shared fixtures: the backends under test and seeded random generators."""

from __future__ import annotations

import numpy as np
import pytest

import kernbench as kb

BACKENDS = kb.available_backends()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each backend usable here, by name."""
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
