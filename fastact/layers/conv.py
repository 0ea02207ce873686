"""The book's convolution layers (``common/layers.py``) on compiled kernels:

- ``Convolution``: the same ``np.dot`` calls (BLAS) on the same matrices as the book's; im2col
  and col2im are compiled (``fastact.util``); the bias is added as ``Affine`` adds it
  (``layers.dense._plus_bias``). Bit-identical to the twin (details in the class docstring).
- ``Pooling``: max and argmax straight over the windows, without the im2col matrix; backward
  gathers ``dout`` at the argmax positions in the twin's order. ``arg_max`` and backward are
  bit-identical to the twin's; forward's values are equal, bits included, except where
  NumPy's ``np.max`` leaves them to its SIMD blocking (which depends on the array's size):
  the payload of a NaN maximum, and, in windows of more than 4 elements, the sign of a zero
  maximum present with both signs. fastact gives the last of tied zeros in (fy, fx) order
  (NumPy's choice for windows of up to 4 elements, e.g. 2x2, measured on NumPy 2.4).
"""

import sys

import numpy as np

from .. import reference as _twin
from .._core import gemm, threads, windows
from ..util import as_kernel_input, check_window, col2im, im2col_into, out_size
from ._base import JIT_OFF, SERVED, by_twin, not_called, require_array, subclass
from .dense import _plus_bias

_F64 = np.dtype(np.float64)


def _column_sums(a):
    """``np.sum(a, axis=0)`` for a 2-D array, bit for bit: compiled where NumPy's order is
    row after row (C-contiguous float32/float64 with more than one column: a single column is
    one pairwise sum to NumPy), NumPy's own call elsewhere. NumPy's loop
    over 30-column rows spends most of its time per row, not per element."""
    if (
        a.ndim == 2
        and a.shape[1] > 1
        and a.dtype in SERVED
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


class Convolution(_twin.Convolution):
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

    def _take(self, shape, dtype):
        """The spare matrix of ``shape`` and ``dtype``, taken out of the layer (dict.pop is one
        step under the GIL: two threads cannot both get it), or None."""
        spare = self.__dict__.pop("_spare", None)
        if spare is not None and spare.shape == shape and spare.dtype == dtype:
            return spare
        return None

    def forward(self, x):
        if JIT_OFF or not (type(x) is type(self.W) is type(self.b) is np.ndarray) and subclass(x, self.W, self.b):
            return by_twin(self, _twin.Convolution, "forward", x)
        require_array(x, "Convolution.forward")
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
            raise not_called("Convolution")
        x, col, col_W = self.x, self.col, self.col_W
        if (
            JIT_OFF
            or not (type(dout) is type(x) is type(col) is type(col_W) is np.ndarray)
            and subclass(dout, x, col, col_W)
        ):
            return by_twin(self, _twin.Convolution, "backward", dout)
        require_array(dout, "Convolution.backward", "dout")
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
            scratch = np.empty(shape, dtype) if dtype in SERVED else None
        dcol = np.dot(d2, col_W.T, out=scratch)
        dx = col2im(dcol, self.x.shape, fh, fw, self.stride, self.pad)
        self.db, self.dW = db, dW
        del scratch
        if _recyclable(dcol):
            self.__dict__[slot] = dcol
        return dx


class Pooling(_twin.Pooling):
    """The book's max Pooling (stride 2 by default), straight over the windows.

    ``forward`` returns the book's float64 (N, C, OH, OW) transposed view and keeps ``arg_max``
    (int64, one per window in (n, oy, ox, c) order: the first maximum, or the first NaN);
    padding takes part as +0.0. ``backward`` returns a float64 image, each pixel 0.0 plus the
    ``dout`` of the windows whose maximum it was, in the book's order; for the book's
    non-overlapping windows it is laid out in (N, H, W, C) memory order, as the convolution's
    output that came in (the book's is a view into a padded (N, C, H, W) buffer).
    """

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
        if JIT_OFF or type(x) is not np.ndarray and subclass(x):
            return by_twin(self, _twin.Pooling, "forward", x)
        require_array(x, "Pooling.forward")
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
            raise not_called("Pooling")
        if JIT_OFF or not (type(dout) is type(self.x) is np.ndarray) and subclass(dout, self.x):
            return by_twin(self, _twin.Pooling, "backward", dout)
        require_array(dout, "Pooling.backward", "dout")
        geometry = ph, pw, s, p, oh, ow = self._geometry(self.x.shape)
        n, c, h, w = self.x.shape
        if dout.shape != (n, c, oh, ow):
            raise ValueError(f"Pooling.backward: dout must have shape {(n, c, oh, ow)}, got {dout.shape}")
        if not self._arg_max_trusted(self.arg_max, n * oh * ow * c, ph * pw):
            return by_twin(self, _twin.Pooling, "backward", dout)
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
                    windows.POOL_BACKWARD_DISJOINT, dout.size, dout, self.arg_max, dx, *geometry, per_iteration=ow * c
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
                *geometry,
                per_iteration=c * w * ph * pw,
            )
        return dx
