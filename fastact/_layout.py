"""Memory layouts: when can an N-D array be treated as one flat run of elements?

The flat kernels walk 1-D buffers. Any array that is one dense block (C order, Fortran order,
or a transposed view such as the book's conv activations) is a 1-D buffer in memory order;
two arrays can share a flat kernel when their elements line up in that order.
"""


def flat(a):
    """``a``'s elements as a 1-D view in memory order, or None if ``a`` is not one dense block."""
    if a.flags.c_contiguous:
        return a.ravel()
    r = a.ravel("K")  # a view exactly when a is dense with positive strides, else a copy
    return None if r.flags.owndata else r


def same_order(a, b):
    """Whether equal-shaped dense arrays ``a`` and ``b`` store their elements in the same order."""
    if a.flags.c_contiguous and b.flags.c_contiguous:
        return True
    return all(
        n == 1 or sa * b.itemsize == sb * a.itemsize
        for n, sa, sb in zip(a.shape, a.strides, b.strides)
    )
