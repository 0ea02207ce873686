"""The book's ``im2col`` and ``col2im`` (``common/util.py``) on compiled kernels.

    from fastact.util import im2col, col2im   # instead of: from common.util import im2col, col2im

Same signatures, same results bit for bit (values, dtypes, shapes): ``im2col`` builds a
C-contiguous float64 matrix whatever the input's dtype, with padding as +0.0; ``col2im`` adds
each window's entries back in the book's (fy, fx) order into a float64 image starting from
+0.0. One difference in layout, not in values: ``col2im`` returns a C-contiguous (N, C, H, W)
array, where the book returns a view into a larger padded buffer.
"""

import operator

import numba
import numpy as np

from . import reference as _twin
from ._core import threads, windows

#: numba's JIT disabled (NUMBA_DISABLE_JIT=1): the kernels would run as Python loops, so the
#: book's NumPy code (the twins) serves instead.
_JIT_OFF = numba.config.DISABLE_JIT

_SERVED = (np.dtype(np.float32), np.dtype(np.float64))


def _int(value, name):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None


def out_size(size, filter_size, stride, pad, what="filter"):
    """Windows along one axis, as the book's im2col counts them; a clear error where none fit."""
    span = size + 2 * pad
    if span < filter_size:
        raise ValueError(f"the {what} ({filter_size}) is larger than the padded input ({span})")
    return (span - filter_size) // stride + 1


def check_window(filter_h, filter_w, stride, pad, what="filter"):
    """The integers of a window geometry, checked: sizes and stride >= 1, pad >= 0."""
    filter_h, filter_w = _int(filter_h, f"{what}_h"), _int(filter_w, f"{what}_w")
    stride, pad = _int(stride, "stride"), _int(pad, "pad")
    if filter_h < 1 or filter_w < 1:
        raise ValueError(f"{what} size must be at least 1x1, got {filter_h}x{filter_w}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if pad < 0:
        raise ValueError(f"pad must be non-negative, got {pad}")
    return filter_h, filter_w, stride, pad


def as_kernel_input(a, name):
    """``a`` as an array the kernels read: float32/float64 as they are, other real dtypes as the
    float64 values the book's code would compute with; anything else raises ``TypeError``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype in _SERVED and a.flags.aligned and a.dtype.isnative:
        return a
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return a.astype(np.float64)  # the cast the book's float64 buffers make on assignment


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """(N, C, H, W) -> (N*OH*OW, C*FH*FW) float64: row = one window, columns in (c, fy, fx)
    order, padding as +0.0. Bit for bit the book's, built in one parallel pass."""
    if _JIT_OFF:
        return _twin.im2col(input_data, filter_h, filter_w, stride, pad)
    return im2col_into(input_data, filter_h, filter_w, stride, pad)


def im2col_into(input_data, filter_h, filter_w, stride=1, pad=0, out=None):
    """``im2col``, written into ``out`` when it is a C-contiguous float64 array of the result's
    shape (an array the caller may overwrite), else into a new array; returns the matrix."""
    filter_h, filter_w, stride, pad = check_window(filter_h, filter_w, stride, pad)
    x = as_kernel_input(input_data, "input_data")
    if x.ndim != 4:
        raise ValueError(f"input_data must be 4-D (N, C, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    oh, ow = out_size(h, filter_h, stride, pad), out_size(w, filter_w, stride, pad)
    shape = (n * oh * ow, c * filter_h * filter_w)
    if (
        type(out) is np.ndarray
        and out.shape == shape
        and out.dtype == np.float64
        and out.flags.c_contiguous
        and out.flags.writeable
    ):
        col = out
    else:
        col = np.empty(shape)
    if col.size:
        # the kernel reads x's memory flat: C order, or the NHWC order under the ConvNets'
        # (N, C, H, W) views; any other layout is copied to C order first (x is the small side)
        if not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous:
            flat, strides = x.transpose(0, 2, 3, 1).reshape(-1), (h * w * c, 1, w * c, c)
        else:
            flat, strides = np.ascontiguousarray(x).reshape(-1), (c * h * w, h * w, w, 1)
        window = (filter_h, filter_w, stride, pad, oh, ow)
        threads.run(
            windows.IM2COL,
            col.size,
            flat,
            col,
            n,
            c,
            h,
            w,
            *strides,
            *window,
            per_iteration=ow * c * filter_h * filter_w,
        )
    return col


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of im2col: a float64 (N, C, H, W) image where each pixel is +0.0 plus its
    window entries in the book's (fy, fx) order. Bit for bit the book's values; C-contiguous."""
    if _JIT_OFF:
        return np.ascontiguousarray(_twin.col2im(col, input_shape, filter_h, filter_w, stride, pad))
    filter_h, filter_w, stride, pad = check_window(filter_h, filter_w, stride, pad)
    try:
        n, c, h, w = (_int(s, "input_shape") for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be 4 integers (N, C, H, W), got {input_shape!r}") from None
    if min(n, c, h, w) < 0:
        raise ValueError(f"input_shape must not be negative, got {input_shape!r}")
    col = as_kernel_input(col, "col")
    oh, ow = out_size(h, filter_h, stride, pad), out_size(w, filter_w, stride, pad)
    rows, cols = n * oh * ow, c * filter_h * filter_w
    if col.size != rows * cols:
        raise ValueError(
            f"col has {col.size} elements; input_shape {tuple(input_shape)} with a "
            f"{filter_h}x{filter_w} filter, stride {stride}, pad {pad} needs "
            f"{rows} x {cols}"
        )
    col = col.reshape(rows, cols)
    img = np.empty((n, c, h, w))
    if img.size:
        kernel, extra = windows.col2im_plan(cols, oh, ow)
        window = (filter_h, filter_w, stride, pad, oh, ow)
        per_image = c * h * w * filter_h * filter_w  # the parallel unit: one image per iteration
        threads.run(kernel, img.size * filter_h * filter_w, col, img, *window, *extra, per_iteration=per_image)
    return img
