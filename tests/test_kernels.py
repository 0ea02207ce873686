"""The compiled kernels themselves: vectorized, and actually taken on the paths they serve."""

import re

import numba
import numpy as np
import pytest

import fastact
from fastact._kernels import KERNELS

from conftest import sample

VECTOR = {np.float32: r"<(\d+) x float>", np.float64: r"<(\d+) x double>"}


def fresh_llvm_ir(dispatcher, args):
    """The LLVM IR of a fresh compile with the dispatcher's own options: code loaded from
    numba's cache cannot be inspected."""
    copy = numba.njit(**{k: v for k, v in dispatcher.targetoptions.items() if k != "nopython"})(
        dispatcher.py_func
    )
    copy(*args)
    return "\n".join(copy.inspect_llvm().values())


def kernel_args(name, direction, dtype):
    x = np.linspace(-3, 3, 4096).astype(dtype)
    out = np.empty_like(x)
    if direction == "forward":
        return (x, out, np.empty(x.shape, np.bool_)) if name == "relu" else (x, out)
    saved = np.zeros(x.shape, np.bool_) if name == "relu" else out
    if KERNELS[name].act.backward_in_place:
        return (x, saved)
    return (x, saved, np.empty_like(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("build", ["serial", "parallel"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_hot_loops_are_vectorized(name, direction, build, dtype):
    pair = getattr(KERNELS[name], direction)
    ir = fresh_llvm_ir(getattr(pair, build), kernel_args(name, direction, dtype))
    widths = [int(w) for w in re.findall(VECTOR[dtype], ir)]
    assert widths and max(widths) >= 4, f"{name} {direction} {build} {dtype}: no SIMD vectors in IR"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_element_formulas_vectorize_in_a_plain_loop(name, dtype):
    """What the ufuncs run: numba's ufunc loop around the formula, a plain strided loop."""
    formula = KERNELS[name].act.forward

    @numba.njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = formula(x[i])

    x = np.ones(1024, dtype)
    loop(x, np.empty_like(x))
    assert re.search(VECTOR[dtype], "\n".join(loop.inspect_llvm().values()))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_parallel_build_runs_above_the_threshold(name, monkeypatch, rng):
    """Forcing the threshold to 0 must make the parallel build compile and run."""
    import fastact._threads as threads

    monkeypatch.setattr(threads, "PARALLEL_MIN_BYTES", {"default": 0})
    monkeypatch.setattr(threads, "UFUNC_MAX_BYTES", dict.fromkeys(threads.UFUNC_MAX_BYTES, -1))
    calls = []
    pair = KERNELS[name].forward
    original = pair.parallel
    monkeypatch.setattr(pair, "parallel", lambda *a: (calls.append(a[0].size), original(*a))[1])
    layer = fastact.Relu() if name == "relu" else fastact.Sigmoid()
    layer.forward(sample(np.float64, (50, 20), rng))
    assert calls == [1000]


def test_serial_below_the_threshold_parallel_from_it(monkeypatch, rng):
    import fastact._threads as threads

    monkeypatch.setattr(threads, "_forced_parallel", True)  # ignore other processes' load
    pair = KERNELS["relu"].forward
    calls = []
    original = pair.parallel
    monkeypatch.setattr(pair, "parallel", lambda *a: (calls.append(a[0].size), original(*a))[1])
    for dtype in (np.float32, np.float64):  # the threshold is in bytes: twice the float32s
        n = threads.PARALLEL_MIN_BYTES["relu_forward"] // np.dtype(dtype).itemsize
        fastact.Relu().forward(sample(dtype, (n - 1,), rng))
        assert calls == []
        fastact.Relu().forward(sample(dtype, (n,), rng))
        assert calls == [n]
        calls.clear()
