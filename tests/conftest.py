"""Shared test inputs: dtypes, shapes, memory layouts, special values, and the kernel paths."""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import strategies as st

import fastact._core.threads as threads

FLOATS = [np.float32, np.float64]
SHAPES = [(), (0,), (1,), (7,), (100, 50), (3, 0, 2), (2, 3, 4, 5), (2, 3, 2, 3, 2), (4, 30, 24, 24)]
UINT = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}


def float_arrays():
    """Hypothesis: float32/float64 arrays of 0 to 4 dims, any values (NaN, inf, subnormals)."""
    return hnp.arrays(
        st.sampled_from(FLOATS),
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9),
        elements={"allow_nan": True, "allow_infinity": True, "allow_subnormal": True},
    )


def special_values(dtype):
    """NaNs (quiet, signalling, negative, with payload), ±0, ±inf, subnormals, ±max, ..."""
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    u = UINT[dtype]
    nans = {
        np.float32: [0x7FC00000, 0xFFC00000, 0x7FC00123, 0x7F800001, 0xFF800001],
        np.float64: [
            0x7FF8000000000000,
            0xFFF8000000000000,
            0x7FF8000000000123,
            0x7FF0000000000001,
            0xFFF0000000000001,
        ],
    }[dtype.type]
    finite = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        fi.max,
        -fi.max,
        fi.tiny,
        -fi.tiny,
        fi.smallest_subnormal,
        -fi.smallest_subnormal,
        fi.tiny / 3,
        -fi.tiny / 3,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1e-3,
        -1e-3,
        20.0,
        -20.0,
        88.7,
        -88.7,
        103.9,
        -103.9,
        709.7,
        -709.7,
        745.2,
        -745.2,
        800.0,
        -800.0,
    ]
    with np.errstate(over="ignore"):
        values = np.array(finite, dtype=np.float64).astype(dtype)
    return np.concatenate([np.array(nans, dtype=u).view(dtype), values])


def sample(dtype, shape, rng):
    """Random values of every magnitude, with every special value mixed in."""
    n = int(np.prod(shape))
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 3, n)).astype(dtype)
    specials = special_values(dtype)
    picks = rng.random(n) < 0.2
    x[picks] = rng.choice(specials, picks.sum())
    return x.reshape(shape)


def layouts(x):
    """(name, view) pairs holding x's values in different memory layouts."""
    yield "C", x
    if x.ndim == 0:
        return
    yield "F", np.asfortranarray(x)
    yield "transposed", np.ascontiguousarray(x.T).T
    yield "reversed", np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    big = np.zeros(tuple(2 * n + 1 for n in x.shape), x.dtype)
    view = big[tuple(slice(1, None, 2) for _ in x.shape)]
    view[...] = x
    yield "strided", view
    if x.ndim == 4:  # the book's conv activations: reshape(N, H, W, C).transpose(0, 3, 1, 2)
        yield "conv", np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def bits(a):
    """a's values as unsigned integers: equal bits, not just equal values (-0.0 != +0.0)."""
    a = np.array(a, order="C")  # keeps 0-d arrays 0-d
    return a.view(UINT[a.dtype]) if a.dtype in UINT else a


def assert_same_bits(actual, expected, context="", nan_payloads=True):
    """Equal bits everywhere. With ``nan_payloads=False``, a NaN result only has to be NaN:
    when two NaNs meet in arithmetic, IEEE 754 leaves open whose payload survives, and the
    operand order a compiler picks for a * b decides it."""
    assert actual.dtype == expected.dtype, f"{context}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{context}: shape {actual.shape} != {expected.shape}"
    diff = bits(actual) != bits(expected)
    if not nan_payloads and actual.dtype.kind == "f":
        diff &= ~(np.isnan(actual) & np.isnan(expected))
    if diff.any():
        i = np.argwhere(diff)[0]
        raise AssertionError(
            f"{context}: {diff.sum()} of {diff.size} elements differ, first at {tuple(i)}: "
            f"{np.asarray(actual)[tuple(i)]!r} != {np.asarray(expected)[tuple(i)]!r}"
        )


@pytest.fixture(params=["ufunc", "serial", "parallel"])
def path(request):
    """Send every call through the tiny-array ufunc path, the serial or the parallel build."""
    with threads.forced(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261127)
