"""Memory layouts: how the kernels walk arrays of any shape and strides.

The flat kernels walk 1-D buffers. Any array that is one dense block (C order, Fortran order,
or a transposed view such as the book's conv activations) is a 1-D buffer in memory order;
two arrays can share a flat kernel when their elements line up in that order.

Arrays that differ only by a transposition of their last two merged axes (the book's conv
backward: a C-ordered dout against the saved activation's transposed view) are walked slab by
slab (``swapped``). Other arrays that don't line up (a padded buffer's slice against a
transposed mask) are walked by 4-D strided kernels: their axes are put in the first array's
memory order, axes that both step over evenly are merged, and what is left is padded to 4-D.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


def memory_order(a):
    """``a``'s axes from the largest stride to the smallest. (In Python: ``np.argsort`` of
    the strides made an array of a tuple, 2-5 us of a 1M-element call right after another,
    when Python runs on cold caches; axes with equal strides, which only size-1 axes of a
    dense block can have, may come in either order.)"""
    strides = a.strides
    return sorted(range(len(strides)), key=strides.__getitem__, reverse=True)


def flat(a):
    """``a``'s elements as a 1-D view in memory order, or None if ``a`` is not one dense block."""
    if a.flags.c_contiguous:
        return a.ravel()
    t = a.transpose(memory_order(a))
    return t.ravel() if t.flags.c_contiguous else None


def flat_together(*arrays):
    """1-D views of equal-shaped arrays in the first one's memory order, where each is one
    dense block stored in that order (their elements then line up: ``flat`` of each, with
    ``same_order``), else None."""
    order = memory_order(arrays[0])
    views = [a.transpose(order) for a in arrays]
    for v in views:
        if not v.flags.c_contiguous:
            return None
    return [v.ravel() for v in views]


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


def swapped(*arrays):
    """3-D views (P, R, S) of the first arrays and (P, S, R) of the last, all C-contiguous and
    holding the same elements at the same (p, r, s), when the arrays are dense, the first ones
    in one order and the last in that order with its last two (merged) axes swapped: the
    book's conv backward, a C-ordered (N, C, H, W) dout against the saved activation's
    (N, H, W, C) memory. None otherwise."""
    views = as_4d(*arrays)
    if views is None or not all(v.flags.c_contiguous for v in views[:-1]):
        return None
    last = views[-1].transpose(0, 1, 3, 2)
    if not last.flags.c_contiguous or min(last.shape[2:]) < 2:
        return None
    p, _, r, s = views[0].shape
    p *= views[0].shape[1]
    return [v.reshape(p, r, s) for v in views[:-1]] + [last.reshape(p, s, r)]


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
