"""Drop-in for volume 2's ``common.layers``: ``from fastact.nlp.layers import Embedding, ...``.

Same constructors and attributes (``params``/``grads`` lists whose arrays are updated in place).
What differs from the book: ``Softmax``/``SoftmaxWithLoss``/``Sigmoid``/``SigmoidWithLoss``
use fastact's compiled softmax and sigmoid (within 2 ULP); ``Embedding.backward`` is a
compiled scatter-add in ``np.add.at``'s order (bit-identical). ``MatMul``, ``Affine`` and
``Dropout`` are the book's NumPy arithmetic (bit-identical; ``Dropout`` draws the same
``np.random.rand`` numbers).
"""

import numpy as np

from .._core.nlp import scatter_add
from . import _checks
from .functions import cross_entropy_error, sigmoid, softmax

__all__ = ["MatMul", "Affine", "Softmax", "SoftmaxWithLoss", "Sigmoid", "SigmoidWithLoss", "Dropout", "Embedding"]


class MatMul:
    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        (W,) = self.params
        self.x = x
        return np.dot(x, W)

    def backward(self, dout):
        (W,) = self.params
        dx = np.dot(dout, W.T)
        self.grads[0][...] = np.dot(self.x.T, dout)
        return dx


class Affine:
    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        W, b = self.params
        out = np.dot(x, W)
        out += b  # the book's np.dot(x, W) + b, without a second array
        self.x = x
        return out

    def backward(self, dout):
        W, b = self.params
        dx = np.dot(dout, W.T)
        dW = np.dot(self.x.T, dout)
        self.grads[0][...] = dW
        self.grads[1][...] = np.sum(dout, axis=0)
        return dx


class Softmax:
    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = softmax(x)
        return self.out

    def backward(self, dout):
        dx = self.out * dout
        dx -= self.out * np.sum(dx, axis=1, keepdims=True)
        return dx


class SoftmaxWithLoss:
    def __init__(self):
        self.params, self.grads = [], []
        self.y = None
        self.t = None

    def forward(self, x, t):
        y = softmax(x)
        if t.size == y.size:  # one-hot targets: their indices
            t = t.argmax(axis=1)
        self.y, self.t = y, t
        return cross_entropy_error(y, t)

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        dx *= dout
        return dx / n


class Sigmoid:
    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class SigmoidWithLoss:
    def __init__(self):
        self.params, self.grads = [], []
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = sigmoid(x)
        self.loss = cross_entropy_error(np.c_[1 - self.y, self.y], self.t)
        return self.loss

    def backward(self, dout=1):
        return (self.y - self.t) * dout / self.t.shape[0]


class Dropout:
    def __init__(self, dropout_ratio=0.5):
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if not train_flg:
            return x * (1.0 - self.dropout_ratio)
        self.mask = np.random.rand(*x.shape) > self.dropout_ratio  # the book's draws
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


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
