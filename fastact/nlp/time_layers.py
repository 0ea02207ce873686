"""Drop-in for volume 2's ``common.time_layers``: ``from fastact.nlp.time_layers import *``.

The recurrent layers step through time without a layer object per step: per step they make
the book's ``np.dot`` calls on the same operands (BLAS, bit-identical) and one compiled kernel
does all the element-wise work of the cell (gates, cell update; backward likewise), writing
into preallocated (T, N, H) buffers. Sums over the batch stay NumPy's (``sum(axis=0)``), and
the per-step gradients are accumulated in the book's order. Only sigmoid and tanh differ from
the book's bits (within 2 ULP of the true value).

``TimeEmbedding.backward`` is a compiled scatter-add that gives the book's bits without its T
zeroed vocabulary-sized arrays; ``TimeSoftmaxWithLoss`` runs fastact's softmax row kernel and
one fused kernel for its masked gradient (in place, as the book's).
"""

import numpy as np

from .._core.nlp import (
    gru_backward_candidate,
    gru_backward_reset,
    gru_candidate,
    gru_gates,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
    row_softmax,
    softmax_loss_backward,
    time_scatter_add,
)
from . import _checks
from . import reference as _twin
from .layers import Affine, Embedding, MatMul, SigmoidWithLoss, SoftmaxWithLoss  # noqa: F401 (the book's star import)

__all__ = [
    "RNN",
    "TimeRNN",
    "LSTM",
    "TimeLSTM",
    "GRU",
    "TimeGRU",
    "TimeEmbedding",
    "TimeAffine",
    "TimeSoftmaxWithLoss",
    "TimeDropout",
    "TimeBiLSTM",
    "TimeSigmoidWithLoss",
    "Simple_TimeSoftmaxWithLoss",
    "Simple_TimeAffine",
    "Embedding",
    "Affine",
    "MatMul",
    "SoftmaxWithLoss",
    "SigmoidWithLoss",
    "np",
]


def _sequence_input(where, params, gates, xs):
    """The recurrent layers' checks of forward's input, before anything is written: the
    parameters' shapes for ``gates`` gates, xs as (N, T, D) with D = Wx's rows, one dtype."""
    _checks.params(where, params, gates)
    xs = _checks.array("xs", xs, 3, f"{where}: ")
    dt = _same_dtype(where, params, ("xs", xs))
    if xs.shape[2] != params[0].shape[0]:
        raise ValueError(f"{where}: xs has {xs.shape[2]} features, Wx expects {params[0].shape[0]}")
    return xs, dt


def _same_dtype(where, params, *arrays):
    dt = params[0].dtype
    for p in params[1:]:
        if p.dtype != dt:
            raise TypeError(f"{where}: the parameters must share one float dtype, got {p.dtype} and {dt}")
    for name, a in arrays:
        if a.dtype != dt:
            raise TypeError(f"{where}: {name} has dtype {a.dtype}, the parameters {dt}")
    return dt


def _state(where, name, value, shape, dtype):
    if value is None:
        return None
    value = _checks.array(name, value, 2, f"{where}: ")
    _checks.same_shape(name, value, shape, f"{where}: ")
    if value.dtype != dtype:
        raise TypeError(f"{where}: {name} has dtype {value.dtype}, the parameters {dtype}")
    return value


# --- RNN --------------------------------------------------------------------------------------


def _rnn_products(dt, x, h_prev, Wx, Wh):
    """The book's RNN.backward after tanh' (``dt``), in its order: db, dWh, dh_prev, dWx, dx."""
    return np.sum(dt, axis=0), np.dot(h_prev.T, dt), np.dot(dt, Wh.T), np.dot(x.T, dt), np.dot(dt, Wx.T)


class RNN(_twin.RNN):
    """One tanh RNN step, as the book; its element-wise work in compiled kernels."""

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        _checks.params("RNN.forward", self.params, 1)
        _checks.rows("RNN.forward", x=x, h_prev=h_prev)
        ah = np.dot(h_prev, Wh)
        ax = np.dot(x, Wx)
        h_next = np.empty_like(ah)
        rnn_forward(ah, ax, b, h_next)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        _checks.called(self, "cache")
        Wx, Wh, b = self.params
        x, h_prev, h_next = self.cache
        dt = np.empty_like(h_next)
        dh_next = np.ascontiguousarray(np.broadcast_to(dh_next, h_next.shape), dtype=h_next.dtype)
        rnn_backward(dh_next, np.zeros_like(h_next), h_next, dt)
        db, dWh, dh_prev, dWx, dx = _rnn_products(dt, x, h_prev, Wx, Wh)
        self.grads[2][...], self.grads[1][...], self.grads[0][...] = db, dWh, dWx
        return dx, dh_prev


class _TimeLayer:
    """What TimeRNN, TimeLSTM and TimeGRU share: the book's constructor, params, grads and
    state (``h``, and ``c`` for the LSTM)."""

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None  # the book's per-step cell objects: not made here
        self.h, self.dh = None, None
        self.stateful = stateful
        self._cache = None

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None

    def _begin(self, where, gates, xs, *states):
        """xs checked, its dtype, and each state (``h``, ``c``) to start from: the kept one when
        stateful (checked), else zeros, as the book's."""
        xs, dt = _sequence_input(where, self.params, gates, xs)
        shape = (xs.shape[0], self.params[1].shape[0])
        kept = [_state(where, name, getattr(self, name), shape, dt) if self.stateful else None for name in states]
        return xs, dt, [np.zeros(shape, dtype="f") if k is None else k for k in kept]


class TimeRNN(_TimeLayer):
    def forward(self, xs):
        Wx, Wh, b = self.params
        xs, dt, (h0,) = self._begin("TimeRNN.forward", 1, xs, "h")
        N, T, D = xs.shape
        H = Wh.shape[0]
        hs = np.empty((N, T, H), dtype="f")
        hbuf = np.empty((T, N, H), dtype=dt)
        h = h0
        for t in range(T):
            rnn_forward(np.dot(h, Wh), np.dot(xs[:, t, :], Wx), b, hbuf[t])  # the book's two products
            h = hs[:, t, :] = hbuf[t]
        self.h = h
        self._cache = (xs, h0, hbuf)
        return hs

    def backward(self, dhs):
        _checks.called(self, "_cache")
        Wx, Wh, b = self.params
        xs, h0, hbuf = self._cache
        N, T, D = xs.shape
        H = Wh.shape[0]
        dhs = _checks.array("dhs", dhs, 3, "TimeRNN.backward: ")
        _checks.same_shape("dhs", dhs, (N, T, H), "TimeRNN.backward: ")
        dxs = np.empty((N, T, D), dtype="f")
        acc = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        dh = np.zeros((N, H), dtype=hbuf.dtype)
        dt = np.empty((N, H), dtype=hbuf.dtype)
        dhs_tnh = np.ascontiguousarray(dhs.transpose(1, 0, 2), dtype=hbuf.dtype)  # rows the kernel reads
        for t in reversed(range(T)):
            h_prev = h0 if t == 0 else hbuf[t - 1]
            x = xs[:, t, :]
            rnn_backward(dhs_tnh[t], dh, hbuf[t], dt)
            db, dWh, dh, dWx, dxs[:, t, :] = _rnn_products(dt, x, h_prev, Wx, Wh)
            acc[2] += db
            acc[1] += dWh
            acc[0] += dWx
        for g, a in zip(self.grads, acc):
            g[...] = a
        self.dh = dh
        return dxs


# --- LSTM -------------------------------------------------------------------------------------


class LSTM(_twin.LSTM):
    """One LSTM step, as the book: gates f, g, i, o in one (N, 4H) block; its element-wise
    work is one compiled kernel per direction."""

    def forward(self, x, h_prev, c_prev):
        Wx, Wh, b = self.params
        _checks.params("LSTM.forward", self.params, 4)
        _checks.rows("LSTM.forward", x=x, h_prev=h_prev, c_prev=c_prev)
        N, H = h_prev.shape
        _checks.same_shape("c_prev", c_prev, (N, Wh.shape[0]), "LSTM.forward: ")
        ax = np.dot(x, Wx)
        ah = np.dot(h_prev, Wh)
        gates = np.empty_like(ax)
        c_next = np.empty((N, H), dtype=ax.dtype)
        tanh_c = np.empty_like(c_next)
        h_next = np.empty_like(c_next)
        lstm_forward(ax, ah, b, np.ascontiguousarray(c_prev, dtype=ax.dtype), gates, c_next, tanh_c, h_next)
        i, f = gates[:, 2 * H : 3 * H], gates[:, :H]
        g, o = gates[:, H : 2 * H], gates[:, 3 * H :]
        self.cache = (x, h_prev, c_prev, i, f, g, o, c_next)
        self._tanh_c = tanh_c
        self._gates = gates
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        _checks.called(self, "cache")
        Wx, Wh, b = self.params
        x, h_prev, c_prev = self.cache[:3]
        N, H = h_prev.shape
        dt = self._gates.dtype
        dh_next = np.ascontiguousarray(np.broadcast_to(dh_next, (N, H)), dtype=dt)
        dc_next = np.ascontiguousarray(np.broadcast_to(dc_next, (N, H)), dtype=dt)
        c_prev = np.ascontiguousarray(c_prev, dtype=dt)
        dA = np.empty_like(self._gates)
        dc_prev = np.empty((N, H), dtype=dt)
        lstm_backward(dh_next, np.zeros((N, H), dt), dc_next, c_prev, self._gates, self._tanh_c, dA, dc_prev)
        self.grads[1][...] = np.dot(h_prev.T, dA)
        self.grads[0][...] = np.dot(x.T, dA)
        self.grads[2][...] = dA.sum(axis=0)
        return np.dot(dA, Wx.T), np.dot(dA, Wh.T), dc_prev


class TimeLSTM(_TimeLayer):
    def __init__(self, Wx, Wh, b, stateful=False):
        super().__init__(Wx, Wh, b, stateful)
        self.c = None

    def forward(self, xs):
        Wx, Wh, b = self.params
        xs, dt, (h0, c0) = self._begin("TimeLSTM.forward", 4, xs, "h", "c")
        N, T, D = xs.shape
        H = Wh.shape[0]
        hs = np.empty((N, T, H), dtype="f")
        hbuf = np.empty((T, N, H), dtype=dt)
        cbuf = np.empty((T, N, H), dtype=dt)
        tanh_c = np.empty((T, N, H), dtype=dt)
        gates = np.empty((T, N, 4 * H), dtype=dt)
        # The kernel reads and writes C-contiguous rows only (the matmuls take the book's operands).
        c0 = np.ascontiguousarray(c0, dtype=dt)
        h, c = h0, c0
        for t in range(T):
            # Plain np.dot: with out= the same products ran 5-40% slower (measured, OpenBLAS).
            ax = np.dot(xs[:, t, :], Wx)
            ah = np.dot(h, Wh)
            lstm_forward(ax, ah, b, c, gates[t], cbuf[t], tanh_c[t], hbuf[t])
            h, c = hbuf[t], cbuf[t]
        hs[...] = hbuf.transpose(1, 0, 2)
        self.h, self.c = h, c
        self._cache = (xs, h0, c0, hbuf, cbuf, tanh_c, gates)
        return hs

    def backward(self, dhs):
        _checks.called(self, "_cache")
        Wx, Wh, b = self.params
        xs, h0, c0, hbuf, cbuf, tanh_c, gates = self._cache
        N, T, D = xs.shape
        H = Wh.shape[0]
        dhs = _checks.array("dhs", dhs, 3, "TimeLSTM.backward: ")
        _checks.same_shape("dhs", dhs, (N, T, H), "TimeLSTM.backward: ")
        dt = hbuf.dtype
        dxs = np.empty((N, T, D), dtype="f")
        gWx, gWh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
        dA = np.empty((N, 4 * H), dtype=dt)
        dh = np.zeros((N, H), dtype=dt)
        dc = np.zeros((N, H), dtype=dt)
        dc_prev = np.empty((N, H), dtype=dt)
        dhs_tnh = np.ascontiguousarray(dhs.transpose(1, 0, 2), dtype=dt)  # rows the kernel reads
        for t in reversed(range(T)):
            h_prev = h0 if t == 0 else hbuf[t - 1]
            c_prev = c0 if t == 0 else cbuf[t - 1]
            x = xs[:, t, :]
            lstm_backward(dhs_tnh[t], dh, dc, c_prev, gates[t], tanh_c[t], dA, dc_prev)
            dc, dc_prev = dc_prev, dc
            gWh += np.dot(h_prev.T, dA)
            gWx += np.dot(x.T, dA)
            gb += dA.sum(axis=0)
            dxs[:, t, :] = np.dot(dA, Wx.T)
            dh = np.dot(dA, Wh.T)
        self.grads[0][...] = gWx
        self.grads[1][...] = gWh
        self.grads[2][...] = gb
        self.dh = dh
        return dxs

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h, self.c = None, None


# --- GRU --------------------------------------------------------------------------------------


def _gru_forward_step(params, x, h_prev, z, r, rh, h_hat, h_next, hs_t):
    Wx, Wh, b = params
    H = Wh.shape[0]
    xz, hz = np.dot(x, Wx[:, :H]), np.dot(h_prev, Wh[:, :H])
    xr, hr = np.dot(x, Wx[:, H : 2 * H]), np.dot(h_prev, Wh[:, H : 2 * H])
    gru_gates(xz, hz, b[:H], xr, hr, b[H : 2 * H], h_prev, z, r, rh)
    xh, hh = np.dot(x, Wx[:, 2 * H :]), np.dot(rh, Wh[:, 2 * H :])
    gru_candidate(xh, hh, b[2 * H :], z, h_prev, h_hat, h_next)
    if hs_t is not h_next:
        hs_t[...] = h_next


def _gru_backward_step(params, dh_next, x, h_prev, z, r, rh, h_hat, acc):
    """The book's GRU backward in its order; adds this step's gradients to acc; (dx, dh_prev)."""
    Wx, Wh, b = params
    H = Wh.shape[0]
    dt_h, dt_z, dh_prev = np.empty_like(z), np.empty_like(z), np.empty_like(z)
    gru_backward_candidate(dh_next, z, h_hat, h_prev, dt_h, dt_z, dh_prev)
    gWx, gWh, gb = acc
    gb[2 * H :] += np.sum(dt_h, axis=0)
    gWh[:, 2 * H :] += np.dot(rh.T, dt_h)
    dhr = np.dot(dt_h, Wh[:, 2 * H :].T)
    gWx[:, 2 * H :] += np.dot(x.T, dt_h)
    dx = np.dot(dt_h, Wx[:, 2 * H :].T)
    dt_r = np.empty_like(z)
    gru_backward_reset(dhr, r, h_prev, dh_prev, dt_r)
    gb[:H] += np.sum(dt_z, axis=0)
    gWh[:, :H] += np.dot(h_prev.T, dt_z)
    dh_prev += np.dot(dt_z, Wh[:, :H].T)
    gWx[:, :H] += np.dot(x.T, dt_z)
    dx += np.dot(dt_z, Wx[:, :H].T)
    gb[H : 2 * H] += np.sum(dt_r, axis=0)
    gWh[:, H : 2 * H] += np.dot(h_prev.T, dt_r)
    dh_prev += np.dot(dt_r, Wh[:, H : 2 * H].T)
    gWx[:, H : 2 * H] += np.dot(x.T, dt_r)
    dx += np.dot(dt_r, Wx[:, H : 2 * H].T)
    return dx, dh_prev


class GRU(_twin.GRU):
    """One GRU step (gates z, r, then the candidate), as the book; compiled element-wise work."""

    def forward(self, x, h_prev):
        _checks.params("GRU.forward", self.params, 3)
        _checks.rows("GRU.forward", x=x, h_prev=h_prev)
        N, H = h_prev.shape
        dt = self.params[0].dtype
        z, r, rh, h_hat, h_next = (np.empty((N, H), dtype=dt) for _ in range(5))
        _gru_forward_step(self.params, x, h_prev, z, r, rh, h_hat, h_next, h_next)
        self.cache = (x, h_prev, z, r, h_hat)
        self._rh = rh
        return h_next

    def backward(self, dh_next):
        _checks.called(self, "cache")
        x, h_prev, z, r, h_hat = self.cache
        acc = [np.zeros_like(p) for p in self.params]
        dh_next = np.broadcast_to(np.asarray(dh_next, dtype=z.dtype), z.shape)
        dx, dh_prev = _gru_backward_step(self.params, dh_next, x, h_prev, z, r, self._rh, h_hat, acc)
        for g, a in zip(self.grads, acc):
            g[...] = a
        return dx, dh_prev


class TimeGRU(_TimeLayer):
    def forward(self, xs):
        Wx, Wh, b = self.params
        xs, dt, (h0,) = self._begin("TimeGRU.forward", 3, xs, "h")
        N, T, D = xs.shape
        H = Wh.shape[0]
        hs = np.empty((N, T, H), dtype="f")
        z, r, rh, h_hat, hbuf = (np.empty((T, N, H), dtype=dt) for _ in range(5))
        h = h0
        for t in range(T):
            _gru_forward_step(self.params, xs[:, t, :], h, z[t], r[t], rh[t], h_hat[t], hbuf[t], hs[:, t, :])
            h = hbuf[t]
        self.h = h
        self._cache = (xs, h0, z, r, rh, h_hat, hbuf)
        return hs

    def backward(self, dhs):
        _checks.called(self, "_cache")
        xs, h0, z, r, rh, h_hat, hbuf = self._cache
        N, T, D = xs.shape
        H = self.params[1].shape[0]
        dhs = _checks.array("dhs", dhs, 3, "TimeGRU.backward: ")
        _checks.same_shape("dhs", dhs, (N, T, H), "TimeGRU.backward: ")
        dxs = np.empty((N, T, D), dtype="f")
        acc = [np.zeros_like(p) for p in self.params]
        dh = np.zeros((N, H), dtype=hbuf.dtype)
        for t in reversed(range(T)):
            h_prev = h0 if t == 0 else hbuf[t - 1]
            dh_next = dhs[:, t, :] + dh
            dx, dh = _gru_backward_step(self.params, dh_next, xs[:, t, :], h_prev, z[t], r[t], rh[t], h_hat[t], acc)
            dxs[:, t, :] = dx
        for g, a in zip(self.grads, acc):
            g[...] = a
        self.dh = dh
        return dxs


# --- embedding, affine, loss, dropout ---------------------------------------------------------


class TimeEmbedding:
    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.layers = None
        self.W = W
        self.idx = None

    def forward(self, xs):
        V = self.W.shape[0]
        if not isinstance(xs, np.ndarray) or xs.ndim != 2:
            raise ValueError(f"TimeEmbedding.forward: xs must be a 2-D (N, T) array of word ids, got {xs!r:.80}")
        idx = _checks.ids("xs", xs, V, "TimeEmbedding.forward: ")
        out = self.W[idx]  # the book's gathers, all steps at once
        if out.dtype != np.float32:
            out = out.astype("f")
        self.idx = idx
        return out

    def backward(self, dout):
        _checks.called(self, "idx")
        (dW,) = self.grads
        idx = _checks.ids("xs", self.idx, dW.shape[0], "TimeEmbedding.backward: ")  # grads[0] may be another size
        N, T = idx.shape
        dout = _checks.array("dout", dout, 3, "TimeEmbedding.backward: ")
        _checks.same_shape("dout", dout, (N, T, dW.shape[1]), "TimeEmbedding.backward: ")
        if dout.dtype != dW.dtype or not dW.flags.c_contiguous or dW.ndim != 2:
            grad = 0
            for t in range(T):  # the book's arithmetic for layouts the kernel doesn't take
                g = np.zeros_like(dW)
                np.add.at(g, idx[:, t], dout[:, t, :])
                grad += g
            dW[...] = grad
            return None
        V, D = dW.shape
        time_scatter_add(
            dW,
            idx,
            dout,
            np.empty(V, np.int64),
            np.empty(V, np.int64),
            np.empty(N, np.int64),
            np.empty((N, D), dW.dtype),
        )
        return None


class TimeAffine:
    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        N, T, D = x.shape
        W, b = self.params
        out = np.dot(x.reshape(N * T, -1), W)
        out += b  # the book's dot + b, in place
        self.x = x
        return out.reshape(N, T, -1)

    def backward(self, dout):
        x = self.x
        N, T, D = x.shape
        W, b = self.params
        dout = dout.reshape(N * T, -1)
        self.grads[1][...] = np.sum(dout, axis=0)
        self.grads[0][...] = np.dot(x.reshape(N * T, -1).T, dout)
        return np.dot(dout, W.T).reshape(*x.shape)


class TimeSoftmaxWithLoss:
    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None
        self.ignore_label = -1

    def forward(self, xs, ts):
        where = "TimeSoftmaxWithLoss.forward: "
        xs = _checks.array("xs", xs, 3, where)
        N, T, V = xs.shape
        if not isinstance(ts, np.ndarray):
            raise TypeError(f"{where}ts must be a NumPy array, got {type(ts).__name__}")
        if ts.ndim == 3:  # one-hot targets
            _checks.same_shape("ts", ts, xs.shape, where)
            ts = ts.argmax(axis=2)
        _checks.same_shape("ts", ts, (N, T), where)
        ts = _checks.ids("ts", ts, V, where).reshape(N * T)
        mask = ts != self.ignore_label
        ys = row_softmax(xs.reshape(N * T, V))
        picked = ys[np.arange(N * T), ts]
        # Ignored rows take log(1) = 0 instead of the book's log(y) * 0 (the same sum, and no
        # warning where y underflowed to 0).
        ls = np.log(np.where(mask, picked, picked.dtype.type(1)))
        loss = -np.sum(ls * mask) / mask.sum()  # the book's ls *= mask; -sum; /= count: the same bits
        self.cache = (ts, ys, mask, (N, T, V))
        return loss

    def backward(self, dout=1):
        _checks.called(self, "cache")
        ts, ys, mask, (N, T, V) = self.cache
        if not (type(dout) in (int, float) or (isinstance(dout, np.generic) and dout.dtype == ys.dtype)):
            return _twin.TimeSoftmaxWithLoss.backward(self, dout)  # an array or another dtype: the book's
        softmax_loss_backward(ys, ts, mask, ys.dtype.type(dout), mask.sum())  # in place, as the book's
        return ys.reshape((N, T, V))


# The layers below are compositions of the ones above, with the book's own arithmetic around
# them: each is its twin (``fastact.nlp.reference``) built from fastact's parts.


class TimeDropout(_twin.TimeDropout):
    """The book's (its draws and one multiply: nothing to fuse)."""


class TimeBiLSTM(_twin.TimeBiLSTM):
    _lstm = TimeLSTM


class TimeSigmoidWithLoss(_twin.TimeSigmoidWithLoss):
    _loss = SigmoidWithLoss


class Simple_TimeSoftmaxWithLoss(_twin.Simple_TimeSoftmaxWithLoss):
    _loss = SoftmaxWithLoss


class Simple_TimeAffine(_twin.Simple_TimeAffine):
    _affine = Affine
