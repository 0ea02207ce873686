"""fastact.util.im2col / col2im against the NumPy twins: bit for bit, every geometry."""

import numpy as np
import pytest

import fastact._core.windows
from fastact import reference
from fastact.testing.bits import assert_same_bits
from fastact.testing.values import FLOATS, layouts, sample
from fastact.util import col2im, im2col

# (filter_h, filter_w, stride, pad): overlapping windows, strides that skip pixels, pad > 0,
# a filter as large as the padded input, 1x1.
GEOMETRIES = [
    (3, 3, 1, 0),
    (5, 5, 1, 0),
    (3, 3, 1, 1),
    (2, 2, 2, 0),
    (3, 2, 2, 1),
    (4, 4, 3, 2),
    (1, 1, 1, 0),
    (7, 8, 1, 0),
    (3, 3, 2, 3),
    (2, 5, 3, 0),
]
SHAPE = (3, 2, 7, 8)


def quiet(f, *args):
    """The twin's result, without its RuntimeWarnings (casting a signalling NaN to float64
    raises the invalid flag in NumPy's cast; the kernels raise no warnings)."""
    with np.errstate(all="ignore"):
        return f(*args)


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_im2col_same_bits(geometry, dtype, rng, build):
    x = sample(dtype, SHAPE, rng)
    expected = quiet(reference.im2col, x, *geometry)
    for name, view in layouts(x):
        got = im2col(view, *geometry)
        assert got.flags.c_contiguous
        assert_same_bits(got, expected, f"im2col {dtype.__name__} {geometry} {name}")


# each kernel (scatter, runs: COL2IM_NARROW_COLS, COL2IM_RUN_MIN); runs also taking one and
# two output rows at a time
KERNELS = {"scatter": (0, 10**6, None), "runs": (10**6, 0, None), "runs-rows1": (0, 0, 1), "runs-rows2": (0, 0, 2)}


def use_kernel(kernel, monkeypatch):
    narrow_cols, run_min, block = KERNELS[kernel]
    monkeypatch.setattr(fastact._core.windows, "COL2IM_NARROW_COLS", narrow_cols)
    monkeypatch.setattr(fastact._core.windows, "COL2IM_RUN_MIN", run_min)
    if block:
        monkeypatch.setattr(fastact._core.windows, "runs_rows", lambda cols, oh, ow: min(block, oh))


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_col2im_same_bits(geometry, dtype, kernel, rng, build, monkeypatch):
    use_kernel(kernel, monkeypatch)
    rows = reference.im2col(np.zeros(SHAPE), *geometry).shape
    col = sample(dtype, rows, rng)
    expected = quiet(reference.col2im, col, SHAPE, *geometry)
    for name, view in layouts(col):
        got = col2im(view, SHAPE, *geometry)
        assert got.flags.c_contiguous
        assert_same_bits(got, expected, f"col2im {dtype.__name__} {geometry} {name}")


@pytest.mark.parametrize("kernel", KERNELS)
def test_col2im_sums_in_the_books_order(build, kernel, monkeypatch):
    use_kernel(kernel, monkeypatch)
    # Values whose sum depends on the order of addition, and -0.0 everywhere (+0.0 start).
    col = np.zeros((3 * 3, 1 * 3 * 3))
    col[:, :] = -0.0
    col[0, 8], col[1, 7], col[4, 4] = 1e16, 1.0, -1e16  # all land on pixel (2, 2)
    got = col2im(col, (1, 1, 5, 5), 3, 3, 1, 0)
    assert_same_bits(got, reference.col2im(col, (1, 1, 5, 5), 3, 3, 1, 0), "order")
    assert np.signbit(got).sum() == 0


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.bool_, np.uint8])
def test_other_real_dtypes_give_the_books_float64(dtype, rng):
    x = (rng.standard_normal(SHAPE) * 5).astype(dtype)
    assert_same_bits(im2col(x, 3, 3, 1, 1), reference.im2col(x, 3, 3, 1, 1), str(dtype))
    col = (rng.standard_normal((3 * 7 * 8, 2 * 9)) * 5).astype(dtype)
    assert_same_bits(col2im(col, SHAPE, 3, 3, 1, 1), reference.col2im(col, SHAPE, 3, 3, 1, 1), str(dtype))


def test_empty_batch():
    # The twin's reshape(0, -1) raises on an empty batch; fastact returns the empty matrix.
    x = np.zeros((0, 2, 5, 5))
    assert im2col(x, 3, 3).shape == (0, 18)
    col = np.zeros((0, 18))
    assert_same_bits(col2im(col, (0, 2, 5, 5), 3, 3), reference.col2im(col, (0, 2, 5, 5), 3, 3), "empty")


def test_bad_input_raises_clearly():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="larger than the padded input"):
        im2col(x, 5, 5)
    with pytest.raises(ValueError, match="stride"):
        im2col(x, 2, 2, stride=0)
    with pytest.raises(ValueError, match="pad"):
        im2col(x, 2, 2, pad=-1)
    with pytest.raises(TypeError, match="integer"):
        im2col(x, 2.5, 2)
    with pytest.raises(ValueError, match="4-D"):
        im2col(np.zeros((4, 4)), 2, 2)
    with pytest.raises(TypeError, match="real numbers"):
        im2col(x.astype(complex), 2, 2)
    with pytest.raises(TypeError, match="NumPy array"):
        im2col([[[[1.0]]]], 1, 1)
    with pytest.raises(ValueError, match="elements"):
        col2im(np.zeros((9, 5)), (1, 1, 4, 4), 2, 2)
    with pytest.raises(ValueError, match="input_shape"):
        col2im(np.zeros((9, 4)), (1, 4, 4), 2, 2)
