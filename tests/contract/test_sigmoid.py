"""Sigmoid against the seed's twin (fastact.reference.Sigmoid) and against the true sigmoid."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import fastact
from fastact import reference
from fastact.testing.bits import assert_same_bits, bits
from fastact.testing.sigmoid import assert_within_ulp, true_sigmoid
from fastact.testing.values import FLOATS, SHAPES, float_arrays, layouts, sample, sampled_layouts


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_accuracy_and_backward_bits(dtype, shape, path, rng):
    for ctx, x in sampled_layouts(dtype, shape, rng, path):
        x_before = bits(x).copy()
        layer = fastact.Sigmoid()
        with np.errstate(invalid="ignore"):  # signalling NaNs among the specials signal,
            out = layer.forward(x)  # as they do in NumPy's (and the seed's) exp
        assert_same_bits(x, x_before.view(x.dtype), ctx + " x was modified")
        assert layer.out is out, ctx
        with np.errstate(all="ignore"):  # the seed warns for x < -88.7 (float32) and sNaN
            seed_out = reference.Sigmoid().forward(x.copy()) if x.ndim else None
        if x.ndim == 0:
            assert isinstance(out, np.floating) and type(out) is np.dtype(dtype).type, ctx
            assert_within_ulp(np.asarray(out), np.asarray(x))
            continue
        assert out.dtype == np.dtype(dtype) and out.shape == x.shape, ctx
        assert_within_ulp(out, x)
        # and close to the seed's own values (each within its bound of the truth), where the
        # seed's result is normal: it loses subnormal results to rounding
        normal = seed_out >= np.finfo(dtype).tiny
        np.testing.assert_array_max_ulp(out[normal], seed_out[normal], maxulp=6)

        for dname, dout in layouts(sample(dtype, shape, rng)):
            dout_before = bits(dout).copy()
            twin = reference.Sigmoid()
            twin.out = out  # the seed's backward, fed fastact's own forward output
            # inf * 0 and signalling NaNs set the invalid flag in the seed's expression, and so
            # in the ufunc that fastact runs for mismatched layouts.
            with np.errstate(invalid="ignore"):
                expected = twin.backward(dout)
                dx = layer.backward(dout)
            assert_same_bits(dx, expected, f"{ctx} backward dout {dname}", nan_payloads=False)
            assert not np.shares_memory(dx, dout)
            assert_same_bits(dout, dout_before.view(dout.dtype), f"{ctx} dout was modified")


@pytest.mark.parametrize(
    "dtype",
    [
        np.int8,
        np.uint8,
        np.int16,
        np.uint16,
        np.int32,
        np.uint32,
        np.int64,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
        ">f8",
        ">f4",
        "<f8",
    ],
)
def test_output_dtype_follows_numpy(dtype, rng):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    x = (
        rng.integers(info.min, info.max, (5, 9), endpoint=True, dtype=dtype)
        if info
        else (rng.standard_normal((5, 9)).astype(dtype))
    )
    with np.errstate(all="ignore"):
        expected = reference.Sigmoid().forward(x)
    out = fastact.Sigmoid().forward(x)
    assert out.dtype == expected.dtype
    # exact for unsigned input too (the seed's -x wraps around there)
    exact = true_sigmoid(x.astype(np.float64)).astype(out.dtype)
    np.testing.assert_array_max_ulp(out, exact, maxulp=1 if out.dtype == np.float16 else 2)


def test_unsigned_input_is_correct_where_the_seed_wraps():
    x = np.array([0, 1, 5, 200, 255], np.uint8)
    out = fastact.Sigmoid().forward(x)
    assert out[4] == np.float16(1.0) and out[0] == np.float16(0.5)


@pytest.mark.parametrize("dtype", FLOATS)
def test_no_overflow_warning_where_the_seed_warns(dtype):
    x = np.array([-1000.0, -100.0, -89.0, -710.0, 1000.0, -np.inf, np.inf, np.nan], dtype)
    with pytest.warns(RuntimeWarning):
        reference.Sigmoid().forward(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fastact.Sigmoid().forward(x)
        ufunc_out = fastact.sigmoid(x)
    assert_same_bits(ufunc_out, out, "ufunc vs layer")
    assert out[5] == 0 and out[6] == 1 and np.isnan(out[7])


def test_bool_raises_type_error():
    with pytest.raises(TypeError, match="bool"):
        fastact.Sigmoid().forward(np.array([True, False]))


def test_scalars_give_numpy_scalars_like_the_seed():
    for x in (0.5, -3, np.float32(2.0), np.float64(-1.0)):
        out = fastact.Sigmoid().forward(x)
        expected = reference.Sigmoid().forward(x)
        assert type(out) is type(expected)
        np.testing.assert_array_max_ulp(out, expected, maxulp=3)


def test_backward_broadcasts_and_promotes_like_the_seed(rng):
    layer = fastact.Sigmoid()
    out = layer.forward(rng.standard_normal(2))
    twin = reference.Sigmoid()
    twin.out = out
    for dout in (
        1,
        2.5,
        rng.standard_normal((3, 1)),
        rng.standard_normal((3, 2)).astype(np.float32),
        np.arange(2),
        np.float32(3.0),
    ):
        expected = twin.backward(dout)
        actual = layer.backward(dout)
        assert np.asarray(actual).dtype == np.asarray(expected).dtype
        assert_same_bits(np.asarray(actual), np.asarray(expected), f"dout={dout!r}")
    f32 = fastact.Sigmoid()
    out32 = f32.forward(rng.standard_normal((4, 4)).astype(np.float32))
    twin.out = out32
    d64 = rng.standard_normal((4, 4))
    assert_same_bits(f32.backward(d64), twin.backward(d64), "float32 out, float64 dout")


@settings(max_examples=60, deadline=None)
@given(float_arrays())
def test_property_accuracy_and_backward_bits(x):
    layer = fastact.Sigmoid()
    out = np.asarray(layer.forward(x))
    assert_within_ulp(out, x)
    if x.ndim:
        twin = reference.Sigmoid()
        twin.out = layer.out
        dout = x[::-1].copy()
        with np.errstate(invalid="ignore"):
            expected = twin.backward(dout)
            actual = layer.backward(dout)
        assert_same_bits(actual, expected, "hypothesis backward", nan_payloads=False)
