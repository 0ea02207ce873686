"""The NumPy twins: every fast thing in fastact has one here, under the same name, written the
way *Deep Learning from Scratch* writes it (same NumPy expressions, same order of arithmetic,
same dtypes, same quirks).

This is the yardstick: tests compare fastact against these twins by name and benchmarks time
them side by side: ``fastact.<name>`` and the layers against ``reference.<name>`` (an
activation's backward: ``reference.<name>_backward``), ``fastact.functions.<name>`` against
``reference.functions.<name>`` (the book's ``common/functions.py``, re-exported here, except
``relu``: the book's function ``np.maximum(0, x)`` keeps -0.0, while its Relu layer, and so
``fastact.relu``, gives +0.0). Nothing here is optimised or corrected on purpose; where fastact does
better (no overflow warning, unsigned input, exact log of small probabilities, clear errors)
the README says so. The code is the project's own; only its arithmetic follows the book.
"""

import math

import numpy as np

from . import functions  # noqa: F401 (reference.functions: the twins of fastact.functions)
from .functions import (  # noqa: F401 (the same twins for fastact.sigmoid and the layers)
    cross_entropy_error,
    identity_function,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_loss,
    step_function,
    sum_squared_error,
)


def relu(x):
    """The book's Relu layer's forward (``out = x.copy(); out[x <= 0] = 0``) as a function,
    the twin of ``fastact.relu``: +0.0 for -0.0 and -inf, NaN kept, a scalar for 0-d input."""
    x = np.asarray(x)
    out = x.copy()
    out[x <= 0] = 0
    return out[()]


# --- the book's im2col / col2im (common/util.py) -------------------------------------------


def _out_size(size, filter_size, stride, pad):
    return (size + 2 * pad - filter_size) // stride + 1


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """(N, C, H, W) -> (N*OH*OW, C*FH*FW): row = one window, in (c, fy, fx) order.

    Like the book's, the matrix is float64 whatever the input's dtype (it is built in
    ``np.zeros``), and padding takes part as zeros.
    """
    n, c, h, w = input_data.shape
    oh, ow = _out_size(h, filter_h, stride, pad), _out_size(w, filter_w, stride, pad)
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, filter_h, filter_w, oh, ow))
    for fy in range(filter_h):
        for fx in range(filter_w):
            col[:, :, fy, fx, :, :] = img[:, :, fy : fy + stride * oh : stride, fx : fx + stride * ow : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of im2col: each window's values added back where they came from, filter
    position by filter position ((fy, fx) in row-major order), into a float64 image."""
    n, c, h, w = input_shape
    oh, ow = _out_size(h, filter_h, stride, pad), _out_size(w, filter_w, stride, pad)
    col = col.reshape(n, oh, ow, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for fy in range(filter_h):
        for fx in range(filter_w):
            img[:, :, fy : fy + stride * oh : stride, fx : fx + stride * ow : stride] += col[:, :, fy, fx, :, :]
    return img[:, :, pad : h + pad, pad : w + pad]


# --- the book's layers (common/layers.py) --------------------------------------------------


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        return relu_backward(dout, self.mask)


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return sigmoid_backward(dout, self.out)


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):  # dout is ignored, as in the book
        n = self.t.shape[0]
        if self.t.size == self.y.size:  # one-hot labels
            return (self.y - self.t) / n
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class Dropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


class BatchNormalization:
    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        if x.ndim != 2:  # (N, C, H, W): one feature per (c, h, w)
            x = x.reshape(x.shape[0], -1)
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1])
            self.running_var = np.zeros(x.shape[1])
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc**2, axis=0)
            std = np.sqrt(var + 10e-7)
            xn = xc / std
            self.batch_size = x.shape[0]
            self.xc, self.xn, self.std = xc, xn, std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xc = x - self.running_mean
            xn = xc / np.sqrt(self.running_var + 10e-7)
        out = self.gamma * xn + self.beta
        return out.reshape(*self.input_shape)

    def backward(self, dout):
        if dout.ndim != 2:
            dout = dout.reshape(dout.shape[0], -1)
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / self.batch_size
        self.dgamma = dgamma
        self.dbeta = dbeta
        return dx.reshape(*self.input_shape)


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x):
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh = 1 + int((h + 2 * self.pad - fh) / self.stride)
        ow = 1 + int((w + 2 * self.pad - fw) / self.stride)
        self.x = x
        self.col = im2col(x, fh, fw, self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        out = np.dot(self.col, self.col_W) + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(fn, c, fh, fw)
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, fh, fw, self.stride, self.pad)


class Pooling:
    def __init__(self, pool_h, pool_w, stride=2, pad=0):  # stride 2 by default, as the book's
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x):
        n, c, h, w = x.shape
        oh = int(1 + (h - self.pool_h) / self.stride)
        ow = int(1 + (w - self.pool_w) / self.stride)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.x = x
        self.arg_max = np.argmax(col, axis=1)  # the first maximum wins
        out = np.max(col, axis=1)
        return out.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


# --- softmax along any axis, log-softmax and their backward passes (the NumPy expressions) ---


def log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax_backward(out, dout, axis=-1):
    """The sequel's Softmax.backward along ``axis``."""
    dx = out * dout
    return dx - out * np.sum(dx, axis=axis, keepdims=True)


def log_softmax_backward(out, dout, axis=-1):
    return dout - np.exp(out) * np.sum(dout, axis=axis, keepdims=True)


# --- the sequel's layers (volume 2: Softmax, SigmoidWithLoss) ------------------------------


class Softmax:
    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = softmax(x)
        return self.out

    def backward(self, dout):
        dx = self.out * dout
        sumdx = np.sum(dx, axis=1, keepdims=True)
        dx -= self.out * sumdx
        return dx


class LogSoftmax(Softmax):
    def forward(self, x):
        self.out = log_softmax(x)
        return self.out

    def backward(self, dout):
        return log_softmax_backward(self.out, dout)


class SigmoidWithLoss:
    def __init__(self):
        self.params, self.grads = [], []
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = 1 / (1 + np.exp(-x))
        self.loss = cross_entropy_error(np.c_[1 - self.y, self.y], self.t)
        return self.loss

    def backward(self, dout=1):
        n = self.t.shape[0]
        return (self.y - self.t) * dout / n


# --- the activations' backward formulas, by name (``<name>_backward(dout, saved)``) ----------


def relu_backward(dout, mask):
    dout[mask] = 0
    return dout


def sigmoid_backward(dout, out):
    return dout * (1.0 - out) * out


# --- the activation family ---------------------------------------------------------------------
# PyTorch 2.13's formulas and defaults (torch.nn.functional), written as a NumPy user would:
# plain expressions, no care for overflow, cancellation or warnings. Backward functions take
# (dout, saved, *params): saved is the forward output for tanh, the input x for the others.
# The piecewise-linear ones (leaky_relu, hardswish, hardsigmoid) and tanh_backward are the
# exact arithmetic fastact's formulas must match bit for bit.


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def erf(x):
    """math.erf over an array, in x's dtype (SciPy is not a dependency)."""
    x = np.asarray(x)
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward(dout, x, negative_slope=0.01):
    return np.where(x > 0, dout, dout * negative_slope)


def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1))


def elu_backward(dout, x, alpha=1.0):
    return np.where(x > 0, dout, dout * alpha * np.exp(x))


def selu(x):
    return SELU_SCALE * elu(x, SELU_ALPHA)


def selu_backward(dout, x):
    return np.where(x > 0, dout * SELU_SCALE, dout * SELU_SCALE * SELU_ALPHA * np.exp(x))


def gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    if approximate != "none":
        raise ValueError(f"approximate must be 'none' or 'tanh', not {approximate!r}")
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def gelu_backward(dout, x, approximate="none"):
    if approximate == "tanh":
        beta = math.sqrt(2 / math.pi)
        t = np.tanh(beta * (x + 0.044715 * x**3))
        left_derivative = 0.5 * (1 + t)
        right_derivative = 0.5 * x * (1 - t * t) * beta * (1 + 3 * 0.044715 * x * x)
        return dout * (left_derivative + right_derivative)
    if approximate != "none":
        raise ValueError(f"approximate must be 'none' or 'tanh', not {approximate!r}")
    cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return dout * (cdf + x * pdf)


def gelu_tanh(x):
    return gelu(x, approximate="tanh")


def gelu_tanh_backward(dout, x):
    return gelu_backward(dout, x, approximate="tanh")


def silu(x):
    return x * sigmoid(x)


def silu_backward(dout, x):
    s = sigmoid(x)
    return dout * s * (1 + x * (1 - s))


def tanh(x):
    return np.tanh(x)


def tanh_backward(dout, y):
    return dout * (1 - y**2)


def softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def softplus_backward(dout, x, beta=1.0, threshold=20.0):
    z = np.exp(x * beta)
    return np.where(x * beta > threshold, dout, dout * z / (z + 1))


def mish(x):
    return x * np.tanh(np.log1p(np.exp(x)))


def mish_backward(dout, x):
    t = np.tanh(np.log1p(np.exp(x)))
    s = sigmoid(x)
    return dout * (t + x * s * (1 - t * t))


def hardswish(x):
    return x * np.minimum(np.maximum(x + 3, 0), 6) / 6


def hardswish_backward(dout, x):
    return np.where(x < -3, 0, np.where(x <= 3, dout * (x / 3 + 0.5), dout))


def hardsigmoid(x):
    return np.minimum(np.maximum(x + 3, 0), 6) / 6


def hardsigmoid_backward(dout, x):
    return np.where((x > -3) & (x < 3), dout / 6, 0)


def log_sigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def log_sigmoid_backward(dout, x):
    return dout * (1 - sigmoid(x))
