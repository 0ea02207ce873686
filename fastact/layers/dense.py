"""The book's fully connected layers (``common/layers.py``) on compiled kernels: ``Affine``,
``Dropout``, ``BatchNormalization`` (``Convolution`` and ``Pooling``: ``layers.conv``).

Same names, constructors, attributes and results as the book's (``fastact.reference`` holds
the NumPy twins they are tested against; each layer inherits its constructor from its twin).
A network trained with them gives the twins' losses and weights bit for bit, step after
step:

- ``Affine``: the same ``np.dot`` calls (BLAS) on the same matrices; the bias is added into
  the product in place by a compiled row loop (same bits, one allocation less; NumPy's
  broadcast add spends its time per 30-element row). Every attribute is bit-identical to the
  twin's, except which payload a NaN carries where a NaN product meets a NaN bias (IEEE 754
  leaves it open; the compiled addition may take its operands in either order).
- ``Dropout``: the same draw as ``np.random.rand`` (a seeded run reproduces), made by
  ``_core.mt19937`` from NumPy's own generator state, then one fused pass for the mask and
  the product. Bit-identical, the generator's state after it included.
- ``BatchNormalization``: fused passes that add in NumPy's order (row after row for an
  axis-0 sum of a C-contiguous array): every attribute and result bit-identical for
  C-contiguous float32/float64 input. Other inputs take the twin's NumPy expressions (also
  identical).

Parameters are shared, not copied: the layers keep references to ``W``, ``b``, ``gamma`` and
``beta``, so an optimizer's in-place updates are seen. A failed call (bad shape, dtype, or
memory) raises before any attribute changes.
"""

import numpy as np

from .. import reference as _twin
from .._core import mt19937, threads, windows
from ._base import JIT_OFF, SERVED, by_twin, not_called, require_array, subclass


def _plus_bias(out, b):
    """``out + b`` as NumPy computes it, written into ``out`` where the result fits there:
    compiled for a C-contiguous float32/float64 matrix and a float32/float64 bias row whose
    sum with it keeps its dtype (a float32 network's convolutions and matmuls give float64,
    the book's im2col being float64, while its biases stay float32)."""
    if (
        type(b) is np.ndarray
        and b.dtype in SERVED
        and np.result_type(out.dtype, b.dtype) == out.dtype
        and out.dtype in SERVED
        and out.ndim == 2
        and b.shape == out.shape[1:]
        and out.flags.c_contiguous
        and out.dtype.isnative
        and b.dtype.isnative
    ):
        threads.run(windows.ADD_ROWS, out.size, out, b, per_iteration=out.shape[1])
        return out
    if not isinstance(b, np.ndarray):  # a list, a number: NumPy's own broadcast, as the book's + b
        return out + b
    if np.result_type(out, b) == out.dtype and np.broadcast_shapes(out.shape, np.shape(b)) == out.shape:
        np.add(out, b, out=out)
        return out
    return out + b


class Affine(_twin.Affine):
    """``x @ W + b`` over ``x`` reshaped to (N, -1), as the book's ``Affine``; bit-identical."""

    def forward(self, x):
        if JIT_OFF or not (type(x) is type(self.W) is type(self.b) is np.ndarray) and subclass(x, self.W, self.b):
            return by_twin(self, _twin.Affine, "forward", x)
        require_array(x, "Affine.forward")
        if x.ndim == 0:
            raise ValueError("Affine.forward needs x with a batch axis, got a 0-d array")
        x2 = x.reshape(x.shape[0], -1)
        out = _plus_bias(np.dot(x2, self.W), self.b)
        self.original_x_shape = x.shape
        self.x = x2
        return out

    def backward(self, dout):
        if self.x is None:
            raise not_called("Affine")
        if JIT_OFF or not (type(dout) is type(self.x) is type(self.W) is np.ndarray) and subclass(dout, self.x, self.W):
            return by_twin(self, _twin.Affine, "backward", dout)
        require_array(dout, "Affine.backward", "dout")
        dx = np.dot(dout, self.W.T)
        dW = np.dot(self.x.T, dout)
        db = np.sum(dout, axis=0)
        dx = dx.reshape(*self.original_x_shape)
        self.dW, self.db = dW, db
        return dx


class Dropout(_twin.Dropout):
    """The book's Dropout: the mask is ``np.random.rand(*x.shape) > dropout_ratio`` from NumPy's
    global generator (the same doubles, drawn by ``_core.mt19937`` where it can: the generator ends
    in the same state), the product fused into one pass after it."""

    def forward(self, x, train_flg=True):
        if JIT_OFF or type(x) is not np.ndarray and subclass(x):  # a masked array keeps its mask
            return by_twin(self, _twin.Dropout, "forward", x, train_flg)
        require_array(x, "Dropout.forward")
        if not train_flg:
            return x * (1.0 - self.dropout_ratio)
        ratio = self.dropout_ratio
        fused = (
            x.ndim
            and x.dtype in SERVED
            and x.dtype.isnative
            and type(ratio) in (float, int, np.float64, np.float32, np.float16)
        )
        if fused:
            r = np.empty(x.shape)
            if not mt19937.rand_into(r):
                r = np.random.rand(*x.shape)
            x = np.ascontiguousarray(x)  # the output is C-ordered, as the book's mostly is
            mask = np.empty(x.shape, np.bool_)
            out = np.empty(x.shape, x.dtype)
            if x.size:
                t = x.dtype.type
                threads.run(
                    windows.DROPOUT_FORWARD,
                    x.size,
                    x.reshape(-1),
                    r.reshape(-1),
                    float(ratio),
                    t(0),
                    t(1),
                    out.reshape(-1),
                    mask.reshape(-1),
                )
        else:
            mask = np.random.rand(*x.shape) > ratio
            out = x * mask
        self.mask = mask
        return out

    def backward(self, dout):
        if self.mask is None:
            raise not_called("Dropout")
        return dout * self.mask


def _bn_inputs_served(*arrays):
    return all(type(a) is np.ndarray and a.dtype in SERVED and a.flags.aligned and a.dtype.isnative for a in arrays)


class BatchNormalization(_twin.BatchNormalization):
    """The book's BatchNormalization (eps ``10e-7``; 4-D input normalised per (c, h, w)).

    Bit-identical to the twin in every attribute (``xc``, ``xn``, ``std``, ``running_mean``,
    ``running_var``, ``dgamma``, ``dbeta``) and result: the fused kernels add in NumPy's order
    (where a sum holds a NaN, which NaN's payload it carries follows NumPy's SIMD blocking).
    They serve C-contiguous float32/float64 (N, D) data with 1-D float32/float64 ``gamma``,
    ``beta`` of length D; everything else runs the twin's NumPy expressions.
    """

    def _fused(self, x2, *more):
        d = x2.shape[1]
        g, b = self.gamma, self.beta
        # One feature: NumPy's axis-0 sum of an (N, 1) array is one pairwise sum down the
        # column, not the row-after-row order the kernels reproduce; NumPy's own calls then.
        return (
            d > 1
            and x2.flags.c_contiguous
            and _bn_inputs_served(x2, g, b, *more)
            and g.shape == (d,)
            and b.shape == (d,)
            and all(m.shape == (d,) for m in more)
        )

    def forward(self, x, train_flg=True):
        if JIT_OFF or type(x) is not np.ndarray and subclass(x):  # (other operands: NumPy's code below)
            return by_twin(self, _twin.BatchNormalization, "forward", x, train_flg)
        require_array(x, "BatchNormalization.forward")
        if x.ndim < 1:
            raise ValueError("BatchNormalization.forward needs x with a batch axis, got a 0-d array")
        input_shape = x.shape
        x2 = x if x.ndim == 2 else x.reshape(x.shape[0], -1)
        running_mean, running_var = self.running_mean, self.running_var
        if running_mean is None:
            running_mean = np.zeros(x2.shape[1])
            running_var = np.zeros(x2.shape[1])
        if train_flg:
            if self._fused(x2):
                d = x2.shape[1]
                mu = np.empty(d, x2.dtype)
                var = np.empty(d, x2.dtype)
                std = np.empty(d, x2.dtype)
                xc = np.empty_like(x2)
                xn = np.empty_like(x2)
                out = np.empty(x2.shape, np.result_type(self.gamma, xn, self.beta))
                if x2.size:
                    eps = x2.dtype.type(10e-7)  # what NumPy makes of the Python float in var + 10e-7
                    args = (x2, eps, self.gamma, self.beta, mu, xc, var, std, xn, out)
                    threads.run(windows.BN_FORWARD, x2.size, *args, per_iteration=x2.shape[0] * windows.BN_BLOCK)
                else:  # NumPy's mean of nothing: NaN, with its warning
                    mu, var = x2.mean(axis=0), np.mean(xc**2, axis=0)
                    std = np.sqrt(var + 10e-7)
            else:
                mu = x2.mean(axis=0)
                xc = x2 - mu
                var = np.mean(xc**2, axis=0)
                std = np.sqrt(var + 10e-7)
                xn = xc / std
                out = self.gamma * xn + self.beta
            running_mean = self.momentum * running_mean + (1 - self.momentum) * mu
            running_var = self.momentum * running_var + (1 - self.momentum) * var
            out = out.reshape(*input_shape)
            self.batch_size = x2.shape[0]
            self.xc, self.xn, self.std = xc, xn, std
        else:
            if self._fused(x2, running_mean, running_var):
                root = np.sqrt(running_var + 10e-7)
                out = np.empty(x2.shape, np.result_type(self.gamma, x2, running_mean, root, self.beta))
                if x2.size:
                    threads.run(
                        windows.BN_INFERENCE,
                        x2.size,
                        x2,
                        running_mean,
                        root,
                        self.gamma,
                        self.beta,
                        out,
                        per_iteration=x2.shape[1],
                    )
            else:
                xc = x2 - running_mean
                xn = xc / np.sqrt(running_var + 10e-7)
                out = self.gamma * xn + self.beta
            out = out.reshape(*input_shape)
        self.input_shape = input_shape
        self.running_mean, self.running_var = running_mean, running_var
        return out

    def backward(self, dout):
        if self.xc is None:
            raise not_called("BatchNormalization")
        if JIT_OFF:
            return by_twin(self, _twin.BatchNormalization, "backward", dout)
        require_array(dout, "BatchNormalization.backward", "dout")
        d2 = dout if dout.ndim == 2 else dout.reshape(dout.shape[0], -1)
        if d2.shape != self.xc.shape:
            raise ValueError(
                f"BatchNormalization.backward: dout has shape {dout.shape}, forward's input had {self.input_shape}"
            )
        xc, xn, std, gamma, n = self.xc, self.xn, self.std, self.gamma, self.batch_size
        if (
            self._fused(d2, std)
            and _bn_inputs_served(xc, xn)
            and xn.shape == d2.shape
            and xc.flags.c_contiguous
            and xn.flags.c_contiguous
            and d2.size
        ):
            d = d2.shape[1]
            dbeta = np.empty(d, d2.dtype)
            dgamma = np.empty(d, np.result_type(xn, d2))
            s = np.empty(d, np.result_type(gamma, d2, xc, std))  # sum of dxn * xc / std**2
            dvar = np.empty(d, np.result_type(s, std))
            dx = np.empty(d2.shape, np.result_type(gamma, d2, std))
            dmu = np.empty(d, dx.dtype)
            # the constants in the dtypes NumPy gives 0.5 * dstd, (2.0 / n) * xc and dmu / n
            half, two_over_n, count = s.dtype.type(0.5), xc.dtype.type(2.0 / n), dx.dtype.type(n)
            args = (d2, xn, xc, gamma, std, half, two_over_n, count, dbeta, dgamma, s, dvar, dmu, dx)
            threads.run(windows.BN_BACKWARD, d2.size, *args, per_iteration=n * windows.BN_BLOCK)
        else:
            dbeta = d2.sum(axis=0)
            dgamma = np.sum(xn * d2, axis=0)
            dxn = gamma * d2
            dxc = dxn / std
            dstd = -np.sum((dxn * xc) / (std * std), axis=0)
            dvar = 0.5 * dstd / std
            dxc += (2.0 / n) * xc * dvar
            dmu = np.sum(dxc, axis=0)
            dx = dxc - dmu / n
        dx = dx.reshape(*self.input_shape)
        self.dgamma, self.dbeta = dgamma, dbeta
        return dx
