"""Outputs (and inputs) of every memory layout, each inside a larger buffer of sentinel bytes.

A layout is a function from a 1-D host array to a view of it with the requested shape. Applied
to the real buffer it gives the array to pass; applied to ``np.arange`` of the same length it
tells which elements the view covers, so that every other element can be checked afterwards.

The view sits in the middle of its host with a margin on each side at least as large as the
span it covers: a faulty kernel that writes contiguously from the view's first element (the
numba ufunc-loop bug, see ``fastact._core.ufunc_loop``), forwards or backwards, writes into the
margin, where the check sees it, never into memory the process did not give it.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

#: A byte pattern no kernel writes by itself: a float64 of these bytes is about -4e-130, a
#: float32 about -2.9e-16.
SENTINEL = 0xA5


def _span(shape, step=1):
    return max(int(np.prod(shape)), 1) * abs(step) + 3


def _reshaped(flat, shape):
    view = flat.reshape(shape)
    assert view.size == 0 or np.shares_memory(view, flat), "reshape copied"
    return view


def _c(host, shape, lo):
    return _reshaped(host[lo : lo + int(np.prod(shape))], shape)


def _step(k, offset=0):
    def layout(host, shape, lo):
        n = int(np.prod(shape))
        start = lo + offset if k > 0 else lo + offset + abs(k) * n - 1
        stop = start + k * n
        return _reshaped(host[start : stop if stop >= 0 else None : k], shape)

    return layout


def _fortran(host, shape, lo):
    return _c(host, shape[::-1], lo).T


def _reversed_rows_strided_columns(host, shape, lo):
    if len(shape) < 2:
        return _step(-2)(host, shape, lo)
    wide = (*shape[:-1], 2 * shape[-1])
    return _c(host, wide, lo)[::-1, ..., ::2]


def _conv(host, shape, lo):
    # the book's Convolution.forward result: reshape(N, OH, OW, -1).transpose(0, 3, 1, 2)
    if len(shape) != 4:
        return _fortran(host, shape, lo)
    n, c, h, w = shape
    return _c(host, (n, h, w, c), lo).transpose(0, 3, 1, 2)


def _zero_stride(host, shape, lo):
    # every element of the first non-trivial axis on one address (a writeable as_strided view)
    view = _c(host, shape, lo)
    if not view.ndim:
        return view
    return as_strided(view, strides=(0, *view.strides[1:]), writeable=True)


#: name -> layout. Every one NumPy accepts as a ufunc's ``out``.
LAYOUTS = {
    "C": _c,
    "F": _fortran,
    "step 2": _step(2),
    "reversed": _step(-1),
    "step -2": _step(-2),
    "offset step 3": _step(3, offset=1),
    "reversed rows, step-2 columns": _reversed_rows_strided_columns,
    "conv view": _conv,
    "zero stride": _zero_stride,
}

#: Shapes: 0-d, 0-size, 1-D, 2-D, the book's 4-D conv activations (small).
SHAPES = [(), (0,), (3, 0), (7,), (5, 6), (2, 3, 4, 5)]


class Canary:
    """A host buffer of sentinel bytes and one view of it laid out as ``layout`` says."""

    def __init__(self, layout, shape, dtype, fill=None):
        self.dtype = np.dtype(dtype)
        span = 30 * _span(shape, 3) + 8
        self.host = np.empty(3 * span, self.dtype)
        self.host.view(np.uint8)[...] = SENTINEL
        index = LAYOUTS[layout](np.arange(3 * span), shape, span)
        self.view = LAYOUTS[layout](self.host, shape, span)
        assert self.view.shape == tuple(shape), (layout, shape, self.view.shape)
        self.covered = np.zeros(self.host.size, bool)
        self.covered[index.ravel()] = True
        if fill is not None:
            self.view[...] = fill
        self.before = self.host.copy()

    def outside_changed(self):
        """Indices of host elements outside the view whose bytes changed."""
        was = self.before.view(np.uint8).reshape(self.host.size, -1)
        now = self.host.view(np.uint8).reshape(self.host.size, -1)
        return np.flatnonzero((was != now).any(axis=1) & ~self.covered)

    def changed(self):
        """Indices of host elements whose bytes changed anywhere (for arrays only read)."""
        was = self.before.view(np.uint8).reshape(self.host.size, -1)
        now = self.host.view(np.uint8).reshape(self.host.size, -1)
        return np.flatnonzero((was != now).any(axis=1))
