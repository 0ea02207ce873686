"""Run an activation's kernels over arrays of any shape and memory layout.

Dense arrays whose elements line up go straight to the flat kernels. Forward stages any other
input into its (dense) output with one strided copy and then runs in place. Backward walks
mismatched layouts with the 4-D strided kernels, and whatever has more than 4 uneven axes
with the backward ufunc, which NumPy's iterator drives through any view.
"""

import numpy as np

from ._kernels import KERNEL_DTYPES
from ._layout import as_4d, flat, same_order
from ._threads import run


def served(a):
    """Whether the compiled kernels take ``a`` as it is (else a NumPy path does the work)."""
    return type(a) is np.ndarray and a.dtype in KERNEL_DTYPES and a.flags.aligned


# The common case, C-contiguous arrays, comes first in each function with as few Python steps
# as possible (no argument packing): at the book's (100, 50) a call is 2-8 us, and each step
# costs ~0.1 us on the 2-core machine kind.


def forward(kernels, x, out, *saved):
    """Fill ``out`` (and ``saved``) from ``x``; they are laid out like ``x`` (``np.empty_like``)."""
    if x.flags.c_contiguous:  # so are the outputs, all flat as they are
        if saved:
            (mask,) = saved
            run(kernels.forward, x.size, x.ravel(), out.ravel(), mask.ravel())
        else:
            run(kernels.forward, x.size, x.ravel(), out.ravel())
        return
    dst = [flat(a) for a in (out, *saved)]
    src = flat(x)
    if src is None or not same_order(x, out):
        np.copyto(out, x)
        src = dst[0]
    run(kernels.forward, x.size, src, *dst)


def backward(kernels, dout, saved, dx):
    """``dx = backward(dout, saved)`` element by element; ``dx`` may be ``dout`` itself."""
    if dout.flags.c_contiguous and saved.flags.c_contiguous:
        if dx is dout:
            run(kernels.backward, dout.size, dout.ravel(), saved.ravel())
            return
        if dx.flags.c_contiguous:
            run(kernels.backward, dout.size, dout.ravel(), saved.ravel(), dx.ravel())
            return
    d, s, o = flat(dout), flat(saved), flat(dx)
    if (
        d is not None and s is not None and o is not None
        and same_order(dout, saved) and same_order(dout, dx)
    ):
        if dx is dout:
            run(kernels.backward, dout.size, d, s)
        else:
            run(kernels.backward, dout.size, d, s, o)
        return
    views = as_4d(dout, saved) if dx is dout else as_4d(dx, dout, saved)
    if views is None:
        kernels.backward_ufunc(dout, saved, out=dx)
    else:
        dx4, dout4, saved4 = (views[0], *views) if dx is dout else views
        rows = dx4.shape[2] * dx4.shape[3]  # elements per iteration of the parallel loop
        run(kernels.backward_4d, dout.size, dout4, saved4, dx4, per_iteration=rows)
