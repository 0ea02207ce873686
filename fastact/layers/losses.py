"""Loss and softmax layers with the book's interface, on fused row kernels.

- ``SoftmaxWithLoss`` (volume 1): softmax + cross-entropy in one pass per row; ``y``, ``t``,
  ``loss`` kept as the book keeps them; ``backward`` one pass per row.
- ``Softmax`` and ``LogSoftmax`` (volume 2 style, ``params = []``, ``grads = []``): any axis.
- ``SigmoidWithLoss`` (volume 2): ``fastact.sigmoid`` and the book's binary cross-entropy.

A forward that raises (bad labels, shapes, dtypes) leaves the layer's previous state intact:
everything is checked or computed before anything is stored.
"""

import numpy as np

from .. import reference as _ref
from .._core import threads
from .._core.rows import PAIRS, for_rows
from .._core.softmax import log_softmax, softmax
from ._base import JIT_OFF, not_called, require_numeric, subclass

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_INTP = np.dtype(np.intp)


def _labels(t, rows, n, where):
    """t as intp class labels in [-n, n), checked (negative labels count from the end, as the
    book's fancy indexing does)."""
    if t.dtype.kind not in "iu":
        raise TypeError(f"{where}: class labels must be integers, got dtype {t.dtype}")
    if t.shape != (rows,):
        raise ValueError(f"{where}: labels have shape {t.shape}, expected ({rows},) for a batch of {rows}")
    t = t.astype(_INTP, copy=False)  # as NumPy's indexing converts them (uint64 wraps around)
    if rows and (t.min() < -n or t.max() >= n):
        raise IndexError(
            f"{where}: labels must lie in [0, {n}) (or [-{n}, 0) counted from the end); "
            f"got values from {t.min()} to {t.max()}"
        )
    return t


def _cross_entropy_check(y_shape, t, where):
    """The checks the book's cross_entropy_error would fail on (with a clear message)."""
    require_numeric(t, where, "t")
    if len(y_shape) == 1:
        rows, n = 1, y_shape[0]
        t = t.reshape(1, t.size)
    else:
        rows, n = y_shape[0], int(np.prod(y_shape[1:]))
    if t.size == rows * n:
        return
    if t.ndim == 0 or t.size != rows:
        raise ValueError(
            f"{where}: t has shape {np.shape(t)}; expected one-hot labels of the input's "
            f"shape {y_shape} or {rows} class labels"
        )
    if t.dtype.kind not in "iu":
        raise TypeError(f"{where}: class labels must be integers, got dtype {t.dtype}")
    if t.size and (t.min() < -n or t.max() >= n):
        raise IndexError(f"{where}: labels must lie in [0, {n}); got values from {t.min()} to {t.max()}")


class SoftmaxWithLoss:
    """The book's softmax + cross-entropy layer; ``forward(x, t)`` returns the loss.

    The loss is the book's ``-sum(log(y[t] + 1e-7)) / batch_size`` (the 1e-7 floor is the book's
    definition: it differs from the true cross-entropy -log(y[t]) by about 1e-7 / y[t], i.e. the
    loss is capped near 16.1 per sample where y[t] underflows, and is -1e-7 rather than 0 where
    y[t] = 1). Each log is taken in float64 (``_core.libm64``'s vectorizing log, within 2 ULP) of a
    softmax value within 2 ULP of the truth (1.1 ULP for float32), so the loss agrees with the
    book's (whose softmax is up to ~100 ULP off) to ~1e-13 relative on float64; a float32 input
    gives a float32 loss, as the book's.

    ``y`` is ``fastact.softmax(x)``; ``backward()`` returns (y - t) / batch_size for one-hot ``t``
    and ``y`` minus 1 at the label, over batch_size, otherwise: the book's exact operations on
    that ``y`` (so equal to the book's formula bit for bit given the same ``y``). ``dout`` is
    ignored, as in the book.
    """

    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None
        self.params = []
        self.grads = []

    def forward(self, x, t):
        if (
            type(x) is np.ndarray
            and type(t) is np.ndarray
            and not JIT_OFF
            and x.ndim == 2
            and ((dt := x.dtype) is _F64 or dt is _F32)
            and x.flags.c_contiguous
            and x.size
        ):
            if t.ndim == 1 and t.dtype.kind == "i" and t.shape[0] == x.shape[0]:
                # the kernel checks the range (and reports it below, before anything is kept)
                return self._fused(x, t, t if t.dtype is _INTP else t.astype(_INTP))
            if t.ndim == 1 and t.dtype.kind in "iu":
                return self._fused(x, t, _labels(t, *x.shape, "SoftmaxWithLoss.forward"))
            if t.shape == x.shape and t.dtype.kind in "biuf":
                return self._fused(x, t, t.argmax(axis=1))  # the book's one-hot -> label
        return self._forward_general(x, t)

    def _fused(self, x, t, labels):
        rows, n = x.shape
        y = np.empty_like(x)
        total, bad = threads.run(for_rows("softmax_xent", n), x.size, x, labels, y, per_iteration=n)
        if bad:
            _labels(t, rows, n, "SoftmaxWithLoss.forward")  # raises, saying which labels
        loss = x.dtype.type(-total / rows)  # a NumPy scalar of x's dtype, as the book's
        self.t, self.y, self.loss = t, y, loss
        return loss

    def _forward_general(self, x, t):
        # Every other input: fastact's softmax, then the book's cross_entropy_error after the
        # checks that make its failures clear.
        where = "SoftmaxWithLoss.forward"
        if JIT_OFF or ((type(x) is not np.ndarray or type(t) is not np.ndarray) and subclass(x, t)):
            # the book's own code: masked arrays keep their mask, nothing needs compiling
            require_numeric(x if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x), where, "x")
            twin = _ref.SoftmaxWithLoss()
            loss = twin.forward(x, t)
            self.t, self.y, self.loss = twin.t, twin.y, loss
            return loss
        if (
            type(x) is np.ndarray
            and x.ndim == 2
            and x.dtype in (_F32, _F64)
            and x.size
            and not x.flags.c_contiguous
            and type(t) is np.ndarray
            and ((t.ndim == 1 and t.dtype.kind in "iu") or (t.shape == x.shape and t.dtype.kind in "biuf"))
        ):
            return self.forward(np.ascontiguousarray(x), t)
        require_numeric(x if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x), where, "x")
        t = t if isinstance(t, (np.ndarray, np.generic)) else np.asarray(t)
        y = softmax(x)
        _cross_entropy_check(y.shape, t, where)
        loss = _ref.cross_entropy_error(y, t)
        self.t, self.y, self.loss = t, y, loss
        return loss

    def backward(self, dout=1):
        # y and t are read again here, as the book's backward does: the caller may have changed
        # either since forward (t is the caller's own array). The kernels index dx with t, so
        # they take only what is checked here, and check every label's range themselves.
        y, t = self.y, self.t
        if y is None:
            raise not_called("SoftmaxWithLoss", "y")
        if (
            type(y) is np.ndarray
            and not JIT_OFF
            and y.ndim == 2
            and ((dt := y.dtype) is _F64 or dt is _F32)
            and y.flags.c_contiguous
            and type(t) is np.ndarray
        ):
            batch = t.shape[0]
            if t.ndim == 1 and batch == y.shape[0] and t.dtype.kind in "iu":
                labels = t if t.dtype is _INTP else t.astype(_INTP)  # NumPy's indexing converts so
                dx = np.empty_like(y)
                bad = threads.run(PAIRS.xent_backward_labels, y.size, y, labels, batch, dx, per_iteration=y.shape[1])
                if bad:
                    _labels(t, *y.shape, "SoftmaxWithLoss.backward")  # raises, saying which labels
                return dx
            if t.shape == y.shape and t.dtype == y.dtype and t.flags.c_contiguous:
                dx = np.empty_like(y)
                threads.run(PAIRS.xent_backward_onehot, y.size, y, t, batch, dx, per_iteration=y.shape[1])
                return dx
        # The book's statements.
        batch_size = t.shape[0]
        if t.size == y.size:
            return (y - t) / batch_size
        dx = y.copy()
        dx[np.arange(batch_size), t] -= 1
        return dx / batch_size


def _move_rows(axis, *arrays):
    """The arrays with ``axis`` last, as C-contiguous (rows, n) arrays, and how to undo it."""
    moved = [np.ascontiguousarray(np.moveaxis(a, axis, -1)) for a in arrays]
    shape = moved[0].shape
    n = shape[-1]
    return [m.reshape(-1, n) for m in moved], shape


class _SoftmaxBase:
    """A row op along ``axis`` as a layer: ``_function`` forward, the row kernel ``_pair``
    (a ``PAIRS`` name) backward, and the twin's ``_twin_backward`` for what it does not take."""

    _name = ""

    def __init__(self, axis=-1):
        self.axis = axis
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        out = self._function(x, self.axis)
        self.out = out
        return out

    def backward(self, dout):
        pair, numpy_formula = getattr(PAIRS, self._pair), self._twin_backward
        out = self.out
        if (
            type(dout) is np.ndarray
            and type(out) is np.ndarray
            and not JIT_OFF
            and self.axis == -1
            and dout.shape == out.shape
            and ((dt := out.dtype) is _F32 or dt is _F64)  # native byte order: these objects
            and dout.dtype is dt
            and out.ndim
            and out.size
            and out.flags.c_contiguous
            and dout.flags.c_contiguous
        ):
            # The common case first, in as few Python steps as possible.
            n = out.shape[-1]
            dx = np.empty_like(out)
            threads.run(pair, out.size, out.reshape(-1, n), dout.reshape(-1, n), dx.reshape(-1, n), per_iteration=n)
            return dx
        if out is None:
            raise not_called(self._name, "out")
        where = f"{self._name}.backward"
        if not isinstance(dout, np.ndarray):
            raise TypeError(f"{where} needs dout as a NumPy array, got {type(dout).__name__}")
        if dout.shape != out.shape:
            raise ValueError(f"{where}: dout has shape {dout.shape}, forward's output has {out.shape}")
        if dout.dtype.kind not in "biuf":
            raise TypeError(f"{where} needs a numeric dout, got dtype {dout.dtype}")
        if (
            type(out) is np.ndarray
            and type(dout) is np.ndarray
            and not JIT_OFF
            and out.ndim
            and out.size
            and out.dtype in (_F32, _F64)
            and dout.dtype == out.dtype
            and out.dtype.isnative
            and dout.dtype.isnative
        ):
            axis = self.axis
            (o2, d2), shape = _move_rows(axis, out, dout)
            dx = np.empty_like(o2)
            threads.run(pair, o2.size, o2, d2, dx, per_iteration=o2.shape[1])
            return np.moveaxis(dx.reshape(shape), -1, axis)
        return numpy_formula(out, dout, self.axis)


class Softmax(_SoftmaxBase):
    """The sequel's Softmax layer along ``axis``: ``out`` = fastact.softmax(x, axis).

    ``backward(dout)`` = ``out * dout - out * sum(out * dout, axis)`` in one fused pass per row:
    per element the same two products and one subtraction as the sequel's
    ``dx = out * dout; dx -= out * sumdx`` (no FMA); the row sum is taken in float64 (for float32
    more exact than NumPy's, for float64 in another order than NumPy's pairwise sum, so it can
    differ by a few roundings).
    """

    _name, _pair = "Softmax", "softmax_backward"
    _function, _twin_backward = staticmethod(softmax), staticmethod(_ref.softmax_backward)


class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along ``axis`` (fastact.log_softmax); ``backward(dout)`` =
    ``dout - exp(out) * sum(dout, axis)`` in one fused pass per row, in the arrays' dtype as
    PyTorch and the NumPy expression compute it (the exponential within 1.1 ULP, the row sum
    taken in float64 and rounded once)."""

    _name, _pair = "LogSoftmax", "log_softmax_backward"
    _function, _twin_backward = staticmethod(log_softmax), staticmethod(_ref.log_softmax_backward)


class SigmoidWithLoss(_ref.SigmoidWithLoss):
    """The sequel's sigmoid + binary cross-entropy (labels 0/1), ``fastact.sigmoid`` inside.

    ``loss`` is the book's ``cross_entropy_error(np.c_[1 - y, y], t)`` of that ``y`` (so it keeps
    the book's 1e-7 floor); ``backward(dout=1)`` is the book's ``(y - t) * dout / batch_size``.
    """

    def forward(self, x, t):
        from .. import sigmoid

        where = "SigmoidWithLoss.forward"
        require_numeric(x, where, "x")
        require_numeric(t, where, "t")
        if x.dtype.kind == "b":
            raise TypeError(f"{where}: bool x has no sigmoid in the book either; convert it first")
        if np.size(t) != np.size(x):
            raise ValueError(
                f"{where}: t has shape {np.shape(t)}, expected one 0/1 label per element of x {np.shape(x)}"
            )
        if not np.all((t == 0) | (t == 1)):
            raise ValueError(f"{where}: labels must be 0 or 1")
        if x.dtype in (_F32, _F64):
            y = sigmoid(x)
        elif x.dtype.kind in "iu" or x.dtype == np.float16:
            result = np.result_type(x.dtype, np.float16)
            y = sigmoid(x.astype(np.float32 if result == np.float16 else result)).astype(result)
        else:
            y = _ref.sigmoid(x)
        tl = np.asarray(t).astype(_INTP) if np.asarray(t).dtype.kind != "i" else t
        loss = _ref.cross_entropy_error(np.c_[1 - y, y], tl)
        self.t, self.y, self.loss = t, y, loss
        return loss

    def backward(self, dout=1):
        if self.y is None:
            raise not_called("SigmoidWithLoss", "y")
        batch_size = self.t.shape[0]
        return (self.y - self.t) * dout / batch_size
