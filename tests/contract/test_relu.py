"""Relu against the seed's twin (fastact.reference.Relu): bit for bit, every dtype and layout."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastact
from fastact import reference
from fastact.testing.bits import assert_same_bits, bits
from fastact.testing.values import FLOATS, SHAPES, float_arrays, layouts, sample, sampled_layouts


def run_both(x):
    fast, seed = fastact.Relu(), reference.Relu()
    return fast, seed, fast.forward(x), seed.forward(x.copy())


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_and_backward_match_seed_bitwise(dtype, shape, path, rng):
    for ctx, x in sampled_layouts(dtype, shape, rng, path):
        x_before = bits(x).copy()
        fast, seed, out, expected = run_both(x)
        assert_same_bits(out, expected, ctx + " forward")
        assert not np.shares_memory(out, x), ctx
        assert_same_bits(x, x_before.view(x.dtype), ctx + " x was modified")
        assert fast.mask.dtype == np.bool_ and fast.mask.shape == x.shape, ctx
        np.testing.assert_array_equal(fast.mask, seed.mask, err_msg=ctx)

        for dname, dout in layouts(sample(dtype, shape, rng)):
            expected_dx = seed.backward(np.array(dout))
            dx = fast.backward(dout)
            assert dx is dout, ctx
            assert_same_bits(dx, expected_dx, f"{ctx} backward dout {dname}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_book_conv_views(dtype, path, rng):
    """The conv net's real calls: a transposed view forward, a padded-buffer slice backward."""
    a = sample(dtype, (100, 24, 24, 30), rng)
    x = a.transpose(0, 3, 1, 2)  # (100, 30, 24, 24), not contiguous
    fast, seed, out, expected = run_both(x)
    assert_same_bits(out, expected, "conv forward")

    buf = sample(dtype, (100, 30, 25, 25), rng)
    seed_buf = buf.copy()
    dx = fast.backward(buf[:, :, 0:24, 0:24])
    seed.backward(seed_buf[:, :, 0:24, 0:24])
    assert np.shares_memory(dx, buf)
    assert_same_bits(buf, seed_buf, "conv backward through the padded buffer")


@pytest.mark.parametrize("dtype", FLOATS)
def test_backward_keeps_dout_dtype(dtype, rng):
    other = np.float64 if dtype == np.float32 else np.float32
    x = sample(dtype, (100, 50), rng)
    dout = sample(other, (100, 50), rng)
    fast, seed, _, _ = run_both(x)
    expected = seed.backward(dout.copy())
    assert_same_bits(fast.backward(dout), expected, "mixed dtypes")


@pytest.mark.parametrize("dtype", FLOATS)
def test_inplace_option_writes_into_x(dtype, path, rng):
    x = sample(dtype, (100, 50), rng)
    expected = reference.Relu().forward(x.copy())
    layer = fastact.Relu(inplace=True)
    out = layer.forward(x)
    assert out is x
    assert_same_bits(x, expected, "inplace")
    np.testing.assert_array_equal(layer.mask, expected == 0)


@pytest.mark.parametrize(
    "dtype",
    [
        np.bool_,
        np.int8,
        np.uint8,
        np.int32,
        np.int64,
        np.uint64,
        np.float16,
        np.longdouble,
        np.complex128,
        ">f8",
        ">f4",
    ],
)
def test_other_dtypes_give_the_seeds_results(dtype, rng):
    x = (rng.standard_normal((6, 7)) * 100).astype(dtype)
    fast, seed, out, expected = run_both(x)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(fast.mask, seed.mask)
    dout = (rng.standard_normal((6, 7)) * 100).astype(dtype)
    expected_dx = seed.backward(dout.copy())
    np.testing.assert_array_equal(fast.backward(dout), expected_dx)


def test_unaligned_input(rng):
    raw = np.zeros(8 * 50 + 1, np.uint8)
    x = raw[1:].view(np.float64)
    x[:] = sample(np.float64, (50,), rng)
    assert not x.flags.aligned
    fast, seed, out, expected = run_both(x)
    assert_same_bits(out, expected, "unaligned")


@settings(max_examples=60, deadline=None)
@given(float_arrays(), st.booleans())
def test_property_bitwise_equal_to_seed(x, transpose):
    if transpose:
        x = x.T
    fast, seed, out, expected = run_both(x)
    assert_same_bits(out, expected, "hypothesis forward")
    dout = x[...].copy()
    assert_same_bits(fast.backward(dout.copy()), seed.backward(dout.copy()), "hypothesis backward")
