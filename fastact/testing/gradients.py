"""The central-difference gradient the backward passes are checked against."""

import numpy as np


def numerical_gradient(f, x, h=1e-6, dtype=None):
    """d f() / d x by central differences, x changed in place one element at a time (and
    restored): ``f`` takes no arguments and reads x (or the parameters x is) itself; the
    difference is taken in float64, the gradient held in ``dtype`` (x's by default)."""
    grad = np.zeros(x.shape, dtype or x.dtype)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f()
        x[i] = old - h
        down = f()
        x[i] = old
        grad[i] = (float(up) - float(down)) / (2 * h)
    return grad
