"""Fixtures: the kernel paths and builds every call is sent through, and a seeded generator.
The helpers tests share live in fastact.testing."""

import os

import numpy as np
import pytest

import fastact._core.threads as threads
from fastact._core import jit
from fastact.testing.ir import require_vector_target

# Each test sends its calls down the build it means (by size, or ``threads.forced``), so a
# parallel build is compiled by the call that needs it, as numba does: not in the background
# with the serial build standing in (``jit.Background``, which test_cold_start checks in
# processes of its own). The processes tests start inherit the setting.
os.environ["FASTACT_BACKGROUND_COMPILE"] = "0"
jit.BACKGROUND.enabled = False


def pytest_runtest_setup(item):
    if item.get_closest_marker("vector_ir"):
        require_vector_target()


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
def spy_on(monkeypatch):
    """``spy_on(pair, build, note)``: ``note(arguments but part and parts)`` whenever the
    kernel pair's ``build`` ("serial" or "parallel") runs. threads.run calls the parallel build
    by its ``launch``."""

    def spy(pair, build, note):
        if build == "parallel":
            original = pair.parallel.launch
            monkeypatch.setattr(pair.parallel, "launch", lambda head, *a: (note(head), original(head, *a))[1])
        else:
            original = pair.serial
            monkeypatch.setattr(pair, "serial", lambda *a: (note(a[:-2]), original(*a))[1])

    return spy


@pytest.fixture
def rng():
    return np.random.default_rng(20261127)


#: Modules whose tests run Python in other processes (the entry-point matrix, dask's local
#: clusters, the CLI's workers, fork and thread-pool checks). They run last: by then this run's
#: workers have compiled and cached the kernels those processes need, and they load them
#: instead of compiling them again. Run in collection order, the entry-point matrix's `book`
#: group alone took 18.5 s (cold cache, Intel VM, 2 cores); run last, under 2.5 s. Tests that
#: give their processes an empty cache of their own compile either way.
_LAST = (
    "layouts_and_paths/test_output_layouts.py",
    "concurrency_and_processes/test_reliability.py",
    "concurrency_and_processes/test_openmp_pool.py",
    "contract/test_dask.py",
    "contract/test_dask_lazy.py",
    "tooling/test_cli.py",
)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.nodeid.startswith(tuple(f"tests/{m}" for m in _LAST)))  # stable
