"""Drop-in for volume 2's ``common.layers``: ``from fastact.nlp.layers import Embedding, ...``.

Same constructors and attributes (``params``/``grads`` lists whose arrays are updated in place).
What differs from the book: ``Softmax``/``SoftmaxWithLoss``/``Sigmoid``/``SigmoidWithLoss``
use fastact's compiled softmax and sigmoid (within 2 ULP) in forward, and inherit the rest
from their twins (``fastact.nlp.reference``: the book's arithmetic); ``Embedding.backward`` is a
compiled scatter-add in ``np.add.at``'s order (bit-identical). ``MatMul``, ``Affine`` and
``Dropout`` are the book's NumPy arithmetic (bit-identical; ``Dropout`` draws the same
``np.random.rand`` numbers).
"""

import numpy as np

from .._core.nlp import scatter_add
from . import _checks
from . import reference as _twin
from .functions import cross_entropy_error, sigmoid, softmax

__all__ = ["MatMul", "Affine", "Softmax", "SoftmaxWithLoss", "Sigmoid", "SigmoidWithLoss", "Dropout", "Embedding"]


class MatMul(_twin.MatMul):
    """The book's (one ``np.dot`` each way: BLAS already)."""


class Affine(_twin.Affine):
    def forward(self, x):
        W, b = self.params
        out = np.dot(x, W)
        out += b  # the book's np.dot(x, W) + b, without a second array
        self.x = x
        return out


# The layers below differ from the book's in forward only (fastact's softmax and sigmoid):
# backward is the book's own NumPy arithmetic, inherited from the twin.


def _keeping_out(function):
    """forward(x) = function(x), kept as ``out`` for backward (Softmax's and Sigmoid's)."""

    def forward(self, x):
        self.out = function(x)
        return self.out

    return forward


class Softmax(_twin.Softmax):
    forward = _keeping_out(softmax)


class SoftmaxWithLoss(_twin.SoftmaxWithLoss):
    def forward(self, x, t):
        y = softmax(x)
        if t.size == y.size:  # one-hot targets: their indices
            t = t.argmax(axis=1)
        self.y, self.t = y, t
        return cross_entropy_error(y, t)


class Sigmoid(_twin.Sigmoid):
    forward = _keeping_out(sigmoid)


class SigmoidWithLoss(_twin.SigmoidWithLoss):
    def forward(self, x, t):
        self.t = t
        self.y = sigmoid(x)
        self.loss = cross_entropy_error(np.c_[1 - self.y, self.y], self.t)
        return self.loss


class Dropout(_twin.Dropout):
    """The book's (its draws and one multiply: nothing to fuse)."""


class Embedding:
    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.idx = None

    def forward(self, idx):
        (W,) = self.params
        out = W[idx]  # NumPy's gather raises IndexError for bad ids before anything changes
        self.idx = idx
        return out

    def backward(self, dout):
        _checks.called(self, "idx")
        (dW,) = self.grads
        idx = _checks.ids("idx", self.idx, dW.shape[0], "Embedding.backward: ")
        _checks.array("dout", dout, where="Embedding.backward: ")
        want = idx.shape + dW.shape[1:]
        _checks.same_shape("dout", dout, want, "Embedding.backward: ")
        if dW.ndim != 2 or dW.dtype != dout.dtype or not dW.flags.c_contiguous:
            dW[...] = 0
            np.add.at(dW, self.idx, dout)  # layouts the kernel doesn't take
            return None
        scatter_add(dW, idx.reshape(-1), np.ascontiguousarray(dout).reshape(-1, dW.shape[1]))
        return None
