"""Memory layouts: how the kernels walk arrays of any shape and strides.

The flat kernels walk 1-D buffers. Any array that is one dense block (C order, Fortran order,
or a transposed view such as the book's conv activations) is a 1-D buffer in memory order;
two arrays can share a flat kernel when their elements line up in that order.

Arrays that don't line up (the book's conv backward: a padded buffer's slice against a
transposed mask) are walked by 4-D strided kernels: their axes are put in the first array's
memory order, axes that both step over evenly are merged, and what is left is padded to 4-D.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


def flat(a):
    """``a``'s elements as a 1-D view in memory order, or None if ``a`` is not one dense block."""
    if a.flags.c_contiguous:
        return a.ravel()
    t = a.transpose(np.argsort(a.strides)[::-1])
    return t.ravel() if t.flags.c_contiguous else None


def same_order(a, b):
    """Whether equal-shaped dense arrays ``a`` and ``b`` store their elements in the same order."""
    if a.flags.c_contiguous and b.flags.c_contiguous:
        return True
    return all(n == 1 or sa * b.itemsize == sb * a.itemsize for n, sa, sb in zip(a.shape, a.strides, b.strides))


def as_4d(*arrays):
    """4-D views of equal-shaped arrays with the same elements at the same indices, the last
    axis being the first array's fastest; None if more than 4 axes remain after merging."""
    first = arrays[0]
    axes = [i for i in np.argsort([-abs(s) for s in first.strides], kind="stable") if first.shape[i] != 1]
    shape = [first.shape[i] for i in axes]
    strides = [[a.strides[i] for i in axes] for a in arrays]
    k = len(shape) - 1
    while k > 0:  # merge axis k into k-1 where every array steps evenly over both
        if all(s[k - 1] == s[k] * shape[k] for s in strides):
            shape[k - 1] *= shape.pop(k)
            for s in strides:
                s.pop(k - 1)
        k -= 1
    if len(shape) > 4:
        return None
    pad = 4 - len(shape)
    return [
        as_strided(a, shape=(1,) * pad + tuple(shape), strides=(0,) * pad + tuple(s), writeable=a.flags.writeable)
        for a, s in zip(arrays, strides)
    ]


def may_self_overlap(a):
    """Whether two elements of ``a`` might share memory (a writeable broadcast, an overlapping
    ``as_strided`` or ``sliding_window_view``). False is certain; True may be wrong for exotic
    interleaved views, which then take a slower but exact path.

    Sorted by stride, no two elements can meet when each stride steps over everything the
    smaller ones span.
    """
    span = a.itemsize
    dims = sorted((abs(s), n) for n, s in zip(a.shape, a.strides) if n > 1)
    for stride, n in dims:
        if stride < span:
            return True
        span = stride * (n - 1) + span
    return False
