"""Drop-in for volume 2's ``common.functions``: ``from fastact.nlp.functions import softmax``.

``sigmoid`` and ``softmax`` are fastact's compiled ones (within 2 ULP of the true value, not
bit-identical to the book's ``1 / (1 + np.exp(-x))``); ``relu`` and ``cross_entropy_error``
are the book's NumPy arithmetic.
"""

import numpy as np

from .._core.nlp import row_softmax, sigmoid_ufunc

__all__ = ["sigmoid", "relu", "softmax", "cross_entropy_error"]


def sigmoid(x):
    """1 / (1 + exp(-x)), within 2 ULP."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        return 1 / (1 + np.exp(-x))  # ints: the book's float64 result
    return sigmoid_ufunc(x)


def relu(x):
    return np.maximum(0, x)


def softmax(x):
    """Softmax of a row (1-D) or of each row (2-D), as the book; within 1.1 ULP (float32)."""
    x = np.asarray(x)
    if x.ndim not in (1, 2):
        return x  # the book returns other shapes unchanged
    if x.dtype.kind != "f":
        x = x.astype(np.float64)  # the book's x - max gives float64 for ints
    return row_softmax(x, axis=-1)


def cross_entropy_error(y, t):
    """The book's mean cross entropy: one-hot or index targets, 1e-7 inside the log."""
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size
