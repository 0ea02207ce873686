"""Fixtures: the kernel paths and builds every call is sent through, and a seeded generator.
The helpers tests share live in fastact.testing."""

import numpy as np
import pytest

import fastact._core.threads as threads


@pytest.fixture(params=["ufunc", "serial", "parallel"])
def path(request):
    """Send every call through the tiny-array ufunc path, the serial or the parallel build."""
    with threads.forced(request.param):
        yield request.param


@pytest.fixture(params=["serial", "parallel"])
def build(request):
    """Send every call through the serial or the parallel build (ops with no ufunc path)."""
    with threads.forced(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261127)
