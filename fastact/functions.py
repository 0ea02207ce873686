"""A drop-in for the book's ``common/functions.py``:

    from fastact.functions import *        # instead of: from common.functions import *

Same names, signatures and quirks (``step_function`` returns the int dtype, ``relu_grad`` is 1
at x == 0, ``cross_entropy_error`` adds 1e-7 inside the log and reshapes 1-D input). Where the
book's arithmetic is exact (identity, step, relu, relu_grad, the error functions given their
inputs) the results are the book's bit for bit; ``sigmoid`` and ``softmax`` are fastact's
(within 2 ULP of the true value, no overflow warnings), so ``sigmoid_grad``, ``softmax`` and
``softmax_loss`` differ from the book's by the book's own rounding errors. Inputs fastact's
kernels don't serve (other dtypes, subclasses, lists) take the book's NumPy expressions.
"""

import numpy as np

from . import reference as _ref
from ._core.softmax import softmax as _softmax

#: the book's functions, by the names its common/functions.py (the twin module) defines
__all__ = sorted(
    name
    for name, value in vars(_ref.functions).items()
    if not name.startswith("_") and getattr(value, "__module__", None) == _ref.functions.__name__
)

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def identity_function(x):
    """x itself, as the book's (the output layer of a regression)."""
    return x


def step_function(x):
    """1 where x > 0 else 0, as an int array, exactly the book's (NumPy's own comparison: no
    faster compiled path, nothing to gain)."""
    return np.array(x > 0, dtype=int)


def _sigmoid_dtype(x):
    """The compute dtype for fastact's sigmoid and the book's result dtype, or None."""
    if type(x) is not np.ndarray and not isinstance(x, (np.generic, float, int)) or isinstance(x, bool):
        return None
    dt = np.asarray(x).dtype
    if dt is _F64 or dt is _F32 or (dt.kind == "f" and dt.itemsize in (4, 8)):
        return dt.newbyteorder("="), dt.newbyteorder("=")
    if dt.kind in "iu" or dt == np.float16:
        result = np.result_type(dt, np.float16)
        return (_F32 if result == np.float16 else result), result
    return None


def sigmoid(x):
    """1 / (1 + exp(-x)) by ``fastact.sigmoid``: within 2 ULP, no overflow warning, right for
    unsigned ints too (the book's -x wraps around there); the book's dtype."""
    from . import sigmoid as _sigmoid

    if type(x) is np.ndarray and ((dt := x.dtype) is _F64 or dt is _F32):
        return _sigmoid(x)
    kinds = _sigmoid_dtype(x)
    if kinds is None:
        return _ref.sigmoid(x)
    compute, result = kinds
    y = _sigmoid(np.asarray(x).astype(compute, copy=False))
    return y.astype(result) if y.dtype != result else y


def sigmoid_grad(x):
    """(1.0 - s) * s with s = sigmoid(x), computed once (the book computes it twice)."""
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x):
    """``np.maximum(0, x)``, exactly the book's for every dtype (keeps -0.0, unlike the Relu
    layer; one NumPy pass already)."""
    return np.maximum(0, x)


def relu_grad(x):
    """1 where x >= 0 (x == 0 included, as the book), else 0, in x's dtype."""
    if type(x) is np.ndarray and x.ndim and x.dtype.kind in "biuf":
        return (x >= 0).astype(x.dtype)
    return _ref.relu_grad(x)


def softmax(x):
    """Softmax over the last axis (``fastact.softmax``): within 2 ULP (float32: 1.1 ULP) of the
    true value, stable for every input; the book's dtype (ints -> float64)."""
    if isinstance(x, np.ndarray) and type(x) is not np.ndarray:
        return _ref.softmax(x)  # subclasses (np.matrix, masked arrays): the book's expression
    return _softmax(x)


def sum_squared_error(y, t):
    """0.5 * sum((y - t)**2), exactly the book's expression (NumPy's pairwise sum)."""
    return 0.5 * np.sum((y - t) ** 2)


def cross_entropy_error(y, t):
    """The book's -sum(log(y[t] + 1e-7)) / batch_size, its expression exactly (1-D input is a
    batch of one; one-hot t is turned into labels): one fancy-indexed log per sample."""
    return _ref.cross_entropy_error(y, t)


def softmax_loss(X, t):
    """cross_entropy_error(softmax(X), t), as the book's, on fastact's softmax."""
    return cross_entropy_error(softmax(X), t)
