"""The rest of the book's layers (``common/layers.py``) on compiled kernels: ``Affine``,
``Dropout``, ``BatchNormalization``, ``Convolution``, ``Pooling``.

Same names, constructors, attributes and results as the book's (``fastact.reference`` holds
the NumPy twins they are tested against). A network trained with them gives the twins'
losses and weights bit for bit, step after step:

- ``Affine``, ``Convolution``: the same ``np.dot`` calls (BLAS) on the same matrices; im2col
  and col2im are compiled (``fastact.util``); the bias is added into the product in place by
  a compiled row loop (same bits, one allocation less; NumPy's broadcast add spends its time
  per 30-element row). Every attribute is bit-identical to the twin's, except which payload a
  NaN carries where a NaN product meets a NaN bias (IEEE 754 leaves it open; the compiled
  addition may take its operands in either order).
- ``Pooling``: max and argmax straight over the windows, without the im2col matrix; backward
  gathers ``dout`` at the argmax positions in the twin's order. ``arg_max`` and backward are
  bit-identical to the twin's; forward's values are equal, bits included, except where
  NumPy's ``np.max`` leaves them to its SIMD blocking (which depends on the array's size):
  the payload of a NaN maximum, and, in windows of more than 4 elements, the sign of a zero
  maximum present with both signs. fastact gives the last of tied zeros in (fy, fx) order
  (NumPy's choice for windows of up to 4 elements, e.g. 2x2, measured on NumPy 2.4).
- ``Dropout``: the same draw as ``np.random.rand`` (a seeded run reproduces), made by
  ``_core.mt19937`` from NumPy's own generator state, then one fused pass for the mask and the
  product. Bit-identical, the generator's state after it included.
- ``BatchNormalization``: fused passes that add in NumPy's order (row after row for an axis-0
  sum of a C-contiguous array): every attribute and result bit-identical for C-contiguous
  float32/float64 input. Other inputs take the twin's NumPy expressions (also identical).

Parameters are shared, not copied: the layers keep references to ``W``, ``b``, ``gamma`` and
``beta``, so an optimizer's in-place updates are seen. A failed call (bad shape, dtype, or
memory) raises before any attribute changes.
"""

import sys

import numba
import numpy as np

from . import reference as _twin
from ._core import gemm, mt19937, threads, windows
from .layers import ForwardNotCalledError
from .util import as_kernel_input, check_window, col2im, im2col_into, out_size

_SERVED = (np.dtype(np.float32), np.dtype(np.float64))
_F64 = np.dtype(np.float64)
#: numba's JIT disabled (NUMBA_DISABLE_JIT=1): the kernels would run as Python loops, so every
#: layer takes its twin's NumPy code instead (the book's results at NumPy's speed).
_JIT_OFF = numba.config.DISABLE_JIT


def _require_array(a, where, what="x"):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{where} needs {what} as a NumPy array, got {type(a).__name__}")


def _not_called(layer):
    return ForwardNotCalledError(f"{layer}.backward() was called before {layer}.forward()")


def _subclass(*arrays):
    """Whether any of ``arrays`` is an ndarray subclass (a masked array, np.matrix...): those
    take the twin's NumPy code, which keeps their type and mask as the book's does."""
    for a in arrays:
        if isinstance(a, np.ndarray) and type(a) is not np.ndarray:
            return True
    return False


def _by_twin(layer, twin_class, method, *args, **kwargs):
    """``layer.<method>(*args)`` computed by the twin class (the book's NumPy code) on a copy of
    the layer's public state; the state is committed only once the twin has succeeded."""
    twin = twin_class.__new__(twin_class)
    twin.__dict__.update({k: v for k, v in layer.__dict__.items() if not k.startswith("_")})
    result = getattr(twin, method)(*args, **kwargs)
    for name, value in twin.__dict__.items():
        setattr(layer, name, value)
    return result


def _plus_bias(out, b):
    """``out + b`` as NumPy computes it, written into ``out`` where the result fits there:
    compiled for a C-contiguous float32/float64 matrix and a float32/float64 bias row whose
    sum with it keeps its dtype (a float32 network's convolutions and matmuls give float64,
    the book's im2col being float64, while its biases stay float32)."""
    if (
        type(b) is np.ndarray
        and b.dtype in _SERVED
        and np.result_type(out.dtype, b.dtype) == out.dtype
        and out.dtype in _SERVED
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


class Affine:
    """``x @ W + b`` over ``x`` reshaped to (N, -1), as the book's ``Affine``; bit-identical."""

    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        if _JIT_OFF or not (type(x) is type(self.W) is type(self.b) is np.ndarray) and _subclass(x, self.W, self.b):
            return _by_twin(self, _twin.Affine, "forward", x)
        _require_array(x, "Affine.forward")
        if x.ndim == 0:
            raise ValueError("Affine.forward needs x with a batch axis, got a 0-d array")
        x2 = x.reshape(x.shape[0], -1)
        out = _plus_bias(np.dot(x2, self.W), self.b)
        self.original_x_shape = x.shape
        self.x = x2
        return out

    def backward(self, dout):
        if self.x is None:
            raise _not_called("Affine")
        if (
            _JIT_OFF
            or not (type(dout) is type(self.x) is type(self.W) is np.ndarray)
            and _subclass(dout, self.x, self.W)
        ):
            return _by_twin(self, _twin.Affine, "backward", dout)
        _require_array(dout, "Affine.backward", "dout")
        dx = np.dot(dout, self.W.T)
        dW = np.dot(self.x.T, dout)
        db = np.sum(dout, axis=0)
        dx = dx.reshape(*self.original_x_shape)
        self.dW, self.db = dW, db
        return dx


class Dropout:
    """The book's Dropout: the mask is ``np.random.rand(*x.shape) > dropout_ratio`` from NumPy's
    global generator (the same doubles, drawn by ``_core.mt19937`` where it can: the generator ends
    in the same state), the product fused into one pass after it."""

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if _JIT_OFF or type(x) is not np.ndarray and _subclass(x):  # a masked array keeps its mask
            return _by_twin(self, _twin.Dropout, "forward", x, train_flg)
        _require_array(x, "Dropout.forward")
        if not train_flg:
            return x * (1.0 - self.dropout_ratio)
        ratio = self.dropout_ratio
        fused = (
            x.ndim
            and x.dtype in _SERVED
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
            raise _not_called("Dropout")
        return dout * self.mask


def _bn_inputs_served(*arrays):
    return all(type(a) is np.ndarray and a.dtype in _SERVED and a.flags.aligned and a.dtype.isnative for a in arrays)


class BatchNormalization:
    """The book's BatchNormalization (eps ``10e-7``; 4-D input normalised per (c, h, w)).

    Bit-identical to the twin in every attribute (``xc``, ``xn``, ``std``, ``running_mean``,
    ``running_var``, ``dgamma``, ``dbeta``) and result: the fused kernels add in NumPy's order
    (where a sum holds a NaN, which NaN's payload it carries follows NumPy's SIMD blocking).
    They serve C-contiguous float32/float64 (N, D) data with 1-D float32/float64 ``gamma``,
    ``beta`` of length D; everything else runs the twin's NumPy expressions.
    """

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
        if _JIT_OFF or type(x) is not np.ndarray and _subclass(x):  # (other operands: NumPy's code below)
            return _by_twin(self, _twin.BatchNormalization, "forward", x, train_flg)
        _require_array(x, "BatchNormalization.forward")
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
            raise _not_called("BatchNormalization")
        if _JIT_OFF:
            return _by_twin(self, _twin.BatchNormalization, "backward", dout)
        _require_array(dout, "BatchNormalization.backward", "dout")
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


def _column_sums(a):
    """``np.sum(a, axis=0)`` for a 2-D array, bit for bit: compiled where NumPy's order is
    row after row (C-contiguous float32/float64 with more than one column: a single column is
    one pairwise sum to NumPy), NumPy's own call elsewhere. NumPy's loop
    over 30-column rows spends most of its time per row, not per element."""
    if (
        a.ndim == 2
        and a.shape[1] > 1
        and a.dtype in _SERVED
        and a.flags.c_contiguous
        and a.flags.aligned
        and a.dtype.isnative
        and a.size
    ):
        out = np.empty(a.shape[1], a.dtype)
        blocks = -(-a.shape[1] // windows.BN_BLOCK)  # the parallel unit: one block, one thread
        threads.run(
            windows.COLUMN_SUMS, a.size if blocks > 1 else 0, a, out, per_iteration=a.shape[0] * windows.BN_BLOCK
        )
        return out
    return np.sum(a, axis=0)


def _count(a):
    return sys.getrefcount(a)


def _probe_count():
    a = np.empty(1)
    return _count(a)


#: What ``_count`` gives for an array that one local variable of its caller holds and nothing
#: else, measured here rather than assumed (interpreters count their temporaries differently).
_ONE_LOCAL = _probe_count()


def _recyclable(a):
    """Whether ``a``, held by one local variable of the caller, is held by nothing else (no
    attribute, container, variable or view: a view keeps its base alive, and counts), so that
    writing over it later changes nothing anyone can see."""
    return type(a) is np.ndarray and a.flags.owndata and a.flags.c_contiguous and _count(a) == _ONE_LOCAL + 1


class Convolution:
    """The book's Convolution: im2col (compiled), ``np.dot(col, col_W) + b`` (BLAS; for the
    few-column products one dgemm call with the bias already in its output, see ``_core.gemm``), and
    the book's transposed view of the result; backward the book's BLAS calls and compiled
    col2im. Every attribute and result bit-identical to the twin's (``db``, a compiled column
    sum in NumPy's order, and the fused forward may carry another NaN's payload where both a
    product and the bias are NaN); ``backward`` returns a C-contiguous array (the book's is a
    view into a padded buffer).

    Memory for speed, without sharing: the layer keeps one spare matrix of the im2col size (not
    pickled). A call takes it out of the layer in one step (so concurrent calls on one layer
    never write the same matrix), writes into it, and only once the call has succeeded is the
    result committed; the matrix it replaced goes back as the spare when nothing but the layer
    held it. The saved state (``x``, ``col``) is never written over, so a failed or interrupted
    forward leaves it as it was."""

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

    def _take(self, shape, dtype):
        """The spare matrix of ``shape`` and ``dtype``, taken out of the layer (dict.pop is one
        step under the GIL: two threads cannot both get it), or None."""
        spare = self.__dict__.pop("_spare", None)
        if spare is not None and spare.shape == shape and spare.dtype == dtype:
            return spare
        return None

    def forward(self, x):
        if _JIT_OFF or not (type(x) is type(self.W) is type(self.b) is np.ndarray) and _subclass(x, self.W, self.b):
            return _by_twin(self, _twin.Convolution, "forward", x)
        _require_array(x, "Convolution.forward")
        fn, c, fh, fw = self.W.shape
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(
                f"Convolution.forward needs x of shape (N, {c}, H, W) for W of shape {self.W.shape}, got {x.shape}"
            )
        n, _, h, w = x.shape
        oh = out_size(h, fh, self.stride, self.pad)
        ow = out_size(w, fw, self.stride, self.pad)
        # A fresh matrix each step is tens of MB of new pages to fault in (the deep ConvNet's
        # 90 MB ones): the spare one is written instead, never the one self.col holds.
        col = im2col_into(x, fh, fw, self.stride, self.pad, out=self._take((n * oh * ow, c * fh * fw), _F64))
        if n == 1:
            # The book's matrix for one image is a transposed (F-ordered) view, and BLAS then
            # takes another kernel for col.T @ dout: the same layout gives the same dW bits.
            col = np.asfortranarray(col)
        col_W = self.W.reshape(fn, -1).T
        out = gemm.dot_plus_bias(col, col_W.T, self.b)  # the same bits in one BLAS call ...
        if out is None:  # ... where it applies (see _core.gemm)
            out = _plus_bias(np.dot(col, col_W), self.b)
        out = out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
        previous = self.__dict__.get("col")
        self.x, self.col, self.col_W = x, col, col_W
        if _recyclable(previous):
            self._spare = previous
        return out

    def __getstate__(self):  # the spare matrices are no state: pickles and copies stay small
        state = self.__dict__.copy()
        state.pop("_spare", None)
        state.pop("_scratch", None)
        return state

    def backward(self, dout):
        if self.col is None:
            raise _not_called("Convolution")
        x, col, col_W = self.x, self.col, self.col_W
        if (
            _JIT_OFF
            or not (type(dout) is type(x) is type(col) is type(col_W) is np.ndarray)
            and _subclass(dout, x, col, col_W)
        ):
            return _by_twin(self, _twin.Convolution, "backward", dout)
        _require_array(dout, "Convolution.backward", "dout")
        fn, c, fh, fw = self.W.shape
        n, _, h, w = self.x.shape
        oh = out_size(h, fh, self.stride, self.pad)
        ow = out_size(w, fw, self.stride, self.pad)
        if dout.shape != (n, fn, oh, ow):
            raise ValueError(f"Convolution.backward: dout must have shape {(n, fn, oh, ow)}, got {dout.shape}")
        d2 = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        db = _column_sums(d2)
        dW = np.dot(self.col.T, d2).transpose(1, 0).reshape(fn, c, fh, fw)
        # dcol, which only col2im reads, goes into a spare matrix (the same BLAS call, the
        # same bits; no new pages each step): float64 shares forward's spare, float32 (a
        # float32 network's product) has its own.
        col_W = self.col_W
        dtype = np.result_type(d2, col_W)
        shape = (d2.shape[0], col_W.shape[0])
        slot = "_spare" if dtype == _F64 else "_scratch"
        scratch = self.__dict__.pop(slot, None)
        if scratch is None or scratch.shape != shape or scratch.dtype != dtype:
            scratch = np.empty(shape, dtype) if dtype in _SERVED else None
        dcol = np.dot(d2, col_W.T, out=scratch)
        dx = col2im(dcol, self.x.shape, fh, fw, self.stride, self.pad)
        self.db, self.dW = db, dW
        del scratch
        if _recyclable(dcol):
            self.__dict__[slot] = dcol
        return dx


class Pooling:
    """The book's max Pooling (stride 2 by default), straight over the windows.

    ``forward`` returns the book's float64 (N, C, OH, OW) transposed view and keeps ``arg_max``
    (int64, one per window in (n, oy, ox, c) order: the first maximum, or the first NaN);
    padding takes part as +0.0. ``backward`` returns a float64 image, each pixel 0.0 plus the
    ``dout`` of the windows whose maximum it was, in the book's order; for the book's
    non-overlapping windows it is laid out in (N, H, W, C) memory order, as the convolution's
    output that came in (the book's is a view into a padded (N, C, H, W) buffer).
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def _geometry(self, shape):
        ph, pw, s, p = check_window(self.pool_h, self.pool_w, self.stride, self.pad, "pool")
        n, c, h, w = shape
        oh, ow = out_size(h, ph, s, p, "pool"), out_size(w, pw, s, p, "pool")
        # The book sizes its output without the padding (int(1 + (H - pool_h) / stride)) but
        # im2col with it; where the two differ, the book's reshape fails. Say why instead.
        book = (int(1 + (h - ph) / s), int(1 + (w - pw) / s))
        if (oh, ow) != book:
            raise ValueError(
                f"Pooling with pad={p}: the book's layer sizes its output {book} "
                f"without the padding but pools {(oh, ow)} windows with it; "
                "these must agree"
            )
        return ph, pw, s, p, oh, ow

    def forward(self, x):
        if _JIT_OFF or type(x) is not np.ndarray and _subclass(x):
            return _by_twin(self, _twin.Pooling, "forward", x)
        _require_array(x, "Pooling.forward")
        if x.ndim != 4:
            raise ValueError(f"Pooling.forward needs 4-D x (N, C, H, W), got shape {x.shape}")
        ph, pw, s, p, oh, ow = self._geometry(x.shape)
        src = as_kernel_input(x, "x").transpose(0, 2, 3, 1)  # (N, H, W, C): see _core.windows
        n, c, h, w = x.shape
        out = np.empty((n, oh, ow, c))
        arg_max = np.empty(n * oh * ow * c, np.intp)
        if out.size:
            threads.run(
                windows.POOL_FORWARD,
                out.size * ph * pw,
                src,
                out,
                arg_max,
                ph,
                pw,
                s,
                p,
                oh,
                ow,
                per_iteration=ow * c * ph * pw,
            )
        # Backward's kernels index the image with these: read-only, and remembered as the array
        # made here, so that backward re-checks only one a caller replaced or made writeable.
        arg_max.flags.writeable = False
        self.x, self.arg_max, self._arg_max_made = x, arg_max, arg_max
        return out.transpose(0, 3, 1, 2)

    def _arg_max_trusted(self, arg_max, windows, size):
        """Whether the kernels may index with ``arg_max``: an intp array of one entry per window
        in [0, pool_h * pool_w). Anything else takes the twin's NumPy code, which wraps negative
        entries and raises IndexError for the rest, as the book's."""
        if type(arg_max) is not np.ndarray or arg_max.dtype != np.intp or arg_max.shape != (windows,):
            return False
        if arg_max is self.__dict__.get("_arg_max_made") and not arg_max.flags.writeable:
            return True
        return not arg_max.size or (arg_max.min() >= 0 and arg_max.max() < size)

    def backward(self, dout):
        if self.arg_max is None:
            raise _not_called("Pooling")
        if _JIT_OFF or not (type(dout) is type(self.x) is np.ndarray) and _subclass(dout, self.x):
            return _by_twin(self, _twin.Pooling, "backward", dout)
        _require_array(dout, "Pooling.backward", "dout")
        ph, pw, s, p, oh, ow = self._geometry(self.x.shape)
        n, c, h, w = self.x.shape
        if dout.shape != (n, c, oh, ow):
            raise ValueError(f"Pooling.backward: dout must have shape {(n, c, oh, ow)}, got {dout.shape}")
        if not self._arg_max_trusted(self.arg_max, n * oh * ow * c, ph * pw):
            return _by_twin(self, _twin.Pooling, "backward", dout)
        dout = as_kernel_input(dout, "dout")
        if s == ph == pw and p == 0 and h == oh * s and w == ow * s and dout.size:
            # the windows tile the image: each writes its own pixels, no zeroing pass (see
            # _core.windows), in the conv output's memory order (N, H, W, C) as below
            dx = np.empty((n, h, w, c))
            threads.run(
                windows.POOL_BACKWARD_TILED, dx.size, dout, self.arg_max, dx, ph, pw, oh, ow, per_iteration=h * w * c
            )
            return dx.transpose(0, 3, 1, 2)
        if s >= ph and s >= pw:  # windows cannot overlap: scatter dout into zeros
            # in the conv output's memory order (N, H, W, C), as forward's input came: the
            # Relu before it then meets its mask's layout, and the Convolution before that
            # reads dout as its (N*H*W, C) matrix without a transposed copy
            dx = np.zeros((n, h, w, c)).transpose(0, 3, 1, 2)
            if dout.size:
                threads.run(
                    windows.POOL_BACKWARD_DISJOINT,
                    dout.size,
                    dout,
                    self.arg_max,
                    dx,
                    ph,
                    pw,
                    s,
                    p,
                    oh,
                    ow,
                    per_iteration=ow * c,
                )
            return dx
        dx = np.empty((n, c, h, w))
        if dx.size:
            threads.run(
                windows.POOL_BACKWARD,
                dx.size * ph * pw,
                dout,
                self.arg_max,
                dx,
                ph,
                pw,
                s,
                p,
                oh,
                ow,
                per_iteration=c * w * ph * pw,
            )
        return dx
