"""fastact.functions: a drop-in for the book's common/functions.py (twins: fastact.reference)."""

import numpy as np
import pytest
from hypothesis import given, settings

from fastact import functions as F
from fastact import reference as R
from fastact.testing.bits import assert_same_bits
from fastact.testing.sigmoid import SEED_ULP
from fastact.testing.ulp import max_ulp_error
from fastact.testing.values import float_arrays, layouts, sample, special_values

BOOK_NAMES = [
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "relu_grad",
    "softmax",
    "sum_squared_error",
    "cross_entropy_error",
    "softmax_loss",
]
ALL_DTYPES = [
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
]


def test_star_import_replaces_the_books():
    assert sorted(F.__all__) == sorted(BOOK_NAMES)
    namespace = {}
    exec("from fastact.functions import *", namespace)  # noqa: S102 (what a user writes)
    assert all(callable(namespace[name]) for name in BOOK_NAMES)


def inputs(dtype, rng):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        with np.errstate(all="ignore"):
            specials = special_values(dtype if dtype.itemsize >= 4 else np.float32).astype(dtype)
            x = np.concatenate([specials, sample(np.float64, (44,), rng).astype(dtype)])
        return x[:76]
    info = np.iinfo(dtype)
    return np.concatenate(
        [np.array([0, 1, info.max, info.min], dtype), rng.integers(info.min, info.max, 72, dtype=dtype, endpoint=True)]
    )


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("name", ["identity_function", "step_function", "relu", "relu_grad"])
def test_exact_functions_bit_for_bit(name, dtype, rng):
    x = inputs(dtype, rng)
    for label, view in layouts(x.reshape(4, -1)):
        got, expected = getattr(F, name)(view), getattr(R.functions, name)(view)
        assert type(got) is type(expected)
        if got.dtype == np.float16:  # fastact.testing's bits() has no float16 view
            got, expected = got.view(np.uint16), expected.view(np.uint16)
        assert_same_bits(got, expected, f"{name} {np.dtype(dtype)} {label}")
    assert F.identity_function(x) is x


def test_exact_functions_on_scalars_and_0d():
    for x in (np.float64(-0.0), np.array(2.5), np.float32(-1), 3, -2.0):
        for name in ("step_function", "relu", "relu_grad"):
            got, expected = getattr(F, name)(x), getattr(R.functions, name)(x)
            assert type(got) is type(expected) and np.array_equal(got, expected), (name, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_within_its_ulp_bound(dtype, rng):
    x = (rng.standard_normal(20000) * 10).astype(dtype)
    true = 1 / (1 + np.exp(-x.astype(np.longdouble)))
    y = F.sigmoid(x)
    assert y.dtype == dtype
    assert max_ulp_error(y, true, dtype, unit="rounded") <= SEED_ULP[np.dtype(dtype).name]
    # sigmoid_grad: the book's (1.0 - s) * s of that s
    assert_same_bits(F.sigmoid_grad(x), (1.0 - y) * y, "sigmoid_grad")


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_sigmoid_dtypes_as_the_book(dtype, rng):
    x = inputs(dtype, rng)
    with np.errstate(all="ignore"):  # signalling NaNs raise "invalid" in both
        expected = R.sigmoid(x)
        got = F.sigmoid(x)
    assert got.dtype == expected.dtype
    # against the true sigmoid (the book's -x wraps for unsigned ints and int.min, and its
    # float16 exp(-x) overflows from x < -11): within 1 ULP of the result's dtype
    with np.errstate(all="ignore"):
        true = 1 / (1 + np.exp(-x.astype(np.longdouble)))
    ok = np.isfinite(true)
    assert max_ulp_error(got[ok], true[ok], got.dtype, unit="rounded") <= SEED_ULP["float32"]
    assert np.isnan(got[~ok]).all()
    assert type(F.sigmoid(2.0)) is type(R.sigmoid(2.0))
    assert type(F.sigmoid(2)) is type(R.sigmoid(2))
    with pytest.raises(TypeError):
        F.sigmoid(np.array([True]))


def test_sigmoid_no_overflow_warning():
    F.sigmoid(np.array([-1000.0, 1000.0]))  # the book's exp(-x) overflows; warnings are errors here


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_losses(dtype, rng):
    x = (rng.standard_normal((20, 10)) * 3).astype(dtype)
    t = rng.integers(0, 10, 20)
    hot = np.eye(10, dtype=dtype)[t]
    y = F.softmax(x)
    np.testing.assert_allclose(y, R.softmax(x), rtol=64 * np.finfo(dtype).eps)
    for target in (t, hot):
        assert F.cross_entropy_error(y, target) == R.cross_entropy_error(y, target)
        np.testing.assert_allclose(
            F.softmax_loss(x, target), R.softmax_loss(x, target), rtol=1e-12 if dtype == np.float64 else 1e-6
        )
    assert F.sum_squared_error(y, hot) == R.sum_squared_error(y, hot)
    assert F.cross_entropy_error(y[0], hot[0]) == R.cross_entropy_error(y[0], hot[0])  # 1-D: reshaped
    np.testing.assert_allclose(F.softmax(x[0]), R.softmax(x[0]), rtol=64 * np.finfo(dtype).eps)


def test_softmax_fallbacks(rng):
    class Sub(np.ndarray):
        pass

    m = rng.standard_normal((3, 4)).view(Sub)
    got = F.softmax(m)
    assert type(got) is Sub
    assert_same_bits(np.asarray(got), np.asarray(R.softmax(m)), "matrix")
    ints = rng.integers(-5, 5, (3, 4))
    assert F.softmax(ints).dtype == R.softmax(ints).dtype == np.float64
    assert F.softmax(ints.astype(np.int8)).dtype == R.softmax(ints.astype(np.int8)).dtype == np.float16
    assert F.softmax(np.float64(1.0)) == R.softmax(np.float64(1.0))  # 0-d: the book's 1.0


@settings(max_examples=100, deadline=None)
@given(float_arrays())
def test_relu_and_grads_any_float_array(x):
    assert_same_bits(F.relu(x), R.functions.relu(x), "relu")
    assert_same_bits(F.relu_grad(x), R.relu_grad(x), "relu_grad")
    assert_same_bits(F.step_function(x), R.step_function(x), "step_function")
