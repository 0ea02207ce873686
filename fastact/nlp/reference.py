"""NumPy twins of volume 2's arithmetic: the yardstick for ``fastact.nlp``'s tests and benchmarks.

Each class does what the book's layer does, operation for operation (the same ``np.dot`` calls
on the same operands, the same sums, a layer object per time step where the book makes one),
written for this project; nothing here reads the book's files. The transcendental functions
are looked up in ``ACT`` at each call: by default the book's NumPy expressions; the tests swap
in fastact's (``with activations(...)``) to check that every other operation is bit-identical.

Also here: the book's ``remove_duplicate``, ``clip_grads``, ``SGD`` and ``Adam`` (what a
training step runs after backward), and ``numerical_gradient`` for the gradient checks.
"""

import collections
import contextlib
from types import SimpleNamespace

import numpy as np

from .. import reference as _volume1


def book_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def book_softmax(x):
    if x.ndim == 2:
        shifted = x - x.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        e /= e.sum(axis=1, keepdims=True)
        return e
    if x.ndim == 1:
        shifted = x - np.max(x)
        return np.exp(shifted) / np.sum(np.exp(shifted))
    return x


def softmax64(x):
    """Softmax computed in float64 and rounded once (what fastact's attention kernel does)."""
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


#: The functions the twins call: the book's NumPy expressions unless swapped.
ACT = SimpleNamespace(sigmoid=book_sigmoid, tanh=np.tanh, softmax=book_softmax, attention_softmax=book_softmax)


@contextlib.contextmanager
def activations(**functions):
    """Swap some of ``ACT``'s functions for the duration of a ``with`` block."""
    saved = dict(vars(ACT))
    vars(ACT).update(functions)
    try:
        yield ACT
    finally:
        vars(ACT).clear()
        vars(ACT).update(saved)


def cross_entropy_error(y, t):
    if y.ndim == 1:
        y, t = y.reshape(1, y.size), t.reshape(1, t.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    rows = y.shape[0]
    picked = y[np.arange(rows), t]
    return -np.sum(np.log(picked + 1e-7)) / rows


# --- common.layers ------------------------------------------------------------------------


class MatMul:
    def __init__(self, W):
        self.params, self.grads, self.x = [W], [np.zeros_like(W)], None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.params[0])

    def backward(self, dout):
        W = self.params[0]
        dx = np.dot(dout, W.T)
        self.grads[0][...] = np.dot(self.x.T, dout)
        return dx


class Affine:
    def __init__(self, W, b):
        self.params, self.grads, self.x = [W, b], [np.zeros_like(W), np.zeros_like(b)], None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.params[0]) + self.params[1]

    def backward(self, dout):
        W = self.params[0]
        dx = np.dot(dout, W.T)
        self.grads[0][...] = np.dot(self.x.T, dout)
        self.grads[1][...] = np.sum(dout, axis=0)
        return dx


class Softmax(_volume1.Softmax):  # backward: the same arithmetic in both books
    def forward(self, x):
        self.out = ACT.softmax(x)
        return self.out


class SoftmaxWithLoss:
    def __init__(self):
        self.params, self.grads, self.y, self.t = [], [], None, None

    def forward(self, x, t):
        self.y = ACT.softmax(x)
        self.t = t.argmax(axis=1) if t.size == self.y.size else t
        return cross_entropy_error(self.y, self.t)

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        dx *= dout
        return dx / n


class Sigmoid:
    def __init__(self):
        self.params, self.grads, self.out = [], [], None

    def forward(self, x):
        self.out = ACT.sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class SigmoidWithLoss(_volume1.SigmoidWithLoss):  # backward: as in volume 1's twin
    def forward(self, x, t):
        self.t = t
        self.y = ACT.sigmoid(x)
        self.loss = cross_entropy_error(np.c_[1 - self.y, self.y], t)
        return self.loss


class Dropout(_volume1.Dropout):  # volume 1's, with the sequel's params and grads
    def __init__(self, dropout_ratio=0.5):
        super().__init__(dropout_ratio)
        self.params, self.grads = [], []


class Embedding:
    def __init__(self, W):
        self.params, self.grads, self.idx = [W], [np.zeros_like(W)], None

    def forward(self, idx):
        self.idx = idx
        return self.params[0][idx]

    def backward(self, dout):
        dW = self.grads[0]
        dW[...] = 0
        np.add.at(dW, self.idx, dout)


# --- common.time_layers -------------------------------------------------------------------


class RNN:
    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = ACT.tanh(np.dot(h_prev, Wh) + np.dot(x, Wx) + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, b = self.params
        x, h_prev, h_next = self.cache
        dt = dh_next * (1 - h_next**2)
        db = np.sum(dt, axis=0)
        dWh = np.dot(h_prev.T, dt)
        dh_prev = np.dot(dt, Wh.T)
        dWx = np.dot(x.T, dt)
        dx = np.dot(dt, Wx.T)
        for g, v in zip(self.grads, (dWx, dWh, db)):
            g[...] = v
        return dx, dh_prev


class LSTM:
    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        Wx, Wh, b = self.params
        H = h_prev.shape[1]
        A = np.dot(x, Wx) + np.dot(h_prev, Wh) + b
        f = ACT.sigmoid(A[:, :H])
        g = ACT.tanh(A[:, H : 2 * H])
        i = ACT.sigmoid(A[:, 2 * H : 3 * H])
        o = ACT.sigmoid(A[:, 3 * H :])
        c_next = f * c_prev + g * i
        h_next = o * ACT.tanh(c_next)
        self.cache = (x, h_prev, c_prev, i, f, g, o, c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        Wx, Wh, b = self.params
        x, h_prev, c_prev, i, f, g, o, c_next = self.cache
        tc = ACT.tanh(c_next)
        ds = dc_next + (dh_next * o) * (1 - tc**2)
        dc_prev = ds * f
        di, df, do, dg = ds * g, ds * c_prev, dh_next * tc, ds * i
        di *= i * (1 - i)
        df *= f * (1 - f)
        do *= o * (1 - o)
        dg *= 1 - g**2
        dA = np.hstack((df, dg, di, do))
        dWh = np.dot(h_prev.T, dA)
        dWx = np.dot(x.T, dA)
        db = dA.sum(axis=0)
        for grad, v in zip(self.grads, (dWx, dWh, db)):
            grad[...] = v
        return np.dot(dA, Wx.T), np.dot(dA, Wh.T), dc_prev


class GRU:
    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    @staticmethod
    def _split(a, H):
        return (a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]) if a.ndim == 2 else (a[:H], a[H : 2 * H], a[2 * H :])

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        (Wxz, Wxr, Wxh), (Whz, Whr, Whh), (bz, br, bh) = (self._split(p, H) for p in (Wx, Wh, b))
        z = ACT.sigmoid(np.dot(x, Wxz) + np.dot(h_prev, Whz) + bz)
        r = ACT.sigmoid(np.dot(x, Wxr) + np.dot(h_prev, Whr) + br)
        h_hat = ACT.tanh(np.dot(x, Wxh) + np.dot(r * h_prev, Whh) + bh)
        self.cache = (x, h_prev, z, r, h_hat)
        return (1 - z) * h_prev + z * h_hat

    def backward(self, dh_next):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        (Wxz, Wxr, Wxh), (Whz, Whr, Whh) = self._split(Wx, H), self._split(Wh, H)
        x, h_prev, z, r, h_hat = self.cache
        dh_hat = dh_next * z
        dh_prev = dh_next * (1 - z)
        dt = dh_hat * (1 - h_hat**2)
        dbh = np.sum(dt, axis=0)
        dWhh = np.dot((r * h_prev).T, dt)
        dhr = np.dot(dt, Whh.T)
        dWxh = np.dot(x.T, dt)
        dx = np.dot(dt, Wxh.T)
        dh_prev += r * dhr
        dz = dh_next * h_hat - dh_next * h_prev
        dt = dz * z * (1 - z)
        dbz = np.sum(dt, axis=0)
        dWhz = np.dot(h_prev.T, dt)
        dh_prev += np.dot(dt, Whz.T)
        dWxz = np.dot(x.T, dt)
        dx += np.dot(dt, Wxz.T)
        dr = dhr * h_prev
        dt = dr * r * (1 - r)
        dbr = np.sum(dt, axis=0)
        dWhr = np.dot(h_prev.T, dt)
        dh_prev += np.dot(dt, Whr.T)
        dWxr = np.dot(x.T, dt)
        dx += np.dot(dt, Wxr.T)
        self.grads[0][...] = np.hstack((dWxz, dWxr, dWxh))
        self.grads[1][...] = np.hstack((dWhz, dWhr, dWhh))
        self.grads[2][...] = np.hstack((dbz, dbr, dbh))
        return dx, dh_prev


class _TimeCell:
    """The book's Time* recurrence: a cell object per step, gradients summed over steps."""

    cell = None
    has_c = False

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.h, self.c, self.dh = None, None, None
        self.stateful = stateful

    def forward(self, xs):
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        H = Wh.shape[0]
        self.layers = []
        hs = np.empty((N, T, H), dtype="f")
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype="f")
        if self.has_c and (not self.stateful or self.c is None):
            self.c = np.zeros((N, H), dtype="f")
        for t in range(T):
            layer = self.cell(*self.params)
            if self.has_c:
                self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            else:
                self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        Wx = self.params[0]
        N, T, H = dhs.shape
        dxs = np.empty((N, T, Wx.shape[0]), dtype="f")
        dh, dc = 0, 0
        sums = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            if self.has_c:
                dx, dh, dc = layer.backward(dhs[:, t, :] + dh, dc)
            else:
                dx, dh = layer.backward(dhs[:, t, :] + dh)
            dxs[:, t, :] = dx
            for k, grad in enumerate(layer.grads):
                sums[k] += grad
        for grad, total in zip(self.grads, sums):
            grad[...] = total
        self.dh = dh
        return dxs

    def set_state(self, h, c=None):
        self.h = h
        if self.has_c:
            self.c = c

    def reset_state(self):
        self.h, self.c = None, None


class TimeRNN(_TimeCell):
    cell = RNN


class TimeLSTM(_TimeCell):
    cell = LSTM
    has_c = True


class TimeGRU(_TimeCell):
    cell = GRU


class TimeEmbedding:
    def __init__(self, W):
        self.params, self.grads, self.layers, self.W = [W], [np.zeros_like(W)], None, W

    def forward(self, xs):
        N, T = xs.shape
        out = np.empty((N, T, self.W.shape[1]), dtype="f")
        self.layers = []
        for t in range(T):
            layer = Embedding(self.W)
            out[:, t, :] = layer.forward(xs[:, t])
            self.layers.append(layer)
        return out

    def backward(self, dout):
        total = 0
        for t, layer in enumerate(self.layers):
            layer.backward(dout[:, t, :])
            total += layer.grads[0]
        self.grads[0][...] = total


class TimeAffine:
    def __init__(self, W, b):
        self.params, self.grads, self.x = [W, b], [np.zeros_like(W), np.zeros_like(b)], None

    def forward(self, x):
        N, T, D = x.shape
        W, b = self.params
        self.x = x
        return (np.dot(x.reshape(N * T, -1), W) + b).reshape(N, T, -1)

    def backward(self, dout):
        N, T, D = self.x.shape
        W = self.params[0]
        dout = dout.reshape(N * T, -1)
        self.grads[1][...] = np.sum(dout, axis=0)
        self.grads[0][...] = np.dot(self.x.reshape(N * T, -1).T, dout)
        return np.dot(dout, W.T).reshape(N, T, D)


class TimeSoftmaxWithLoss:
    def __init__(self):
        self.params, self.grads, self.cache, self.ignore_label = [], [], None, -1

    def forward(self, xs, ts):
        N, T, V = xs.shape
        if ts.ndim == 3:
            ts = ts.argmax(axis=2)
        mask = (ts != self.ignore_label).reshape(N * T)
        ts = ts.reshape(N * T)
        ys = ACT.softmax(xs.reshape(N * T, V))
        ls = np.log(ys[np.arange(N * T), ts])
        ls *= mask
        loss = -np.sum(ls)
        loss /= mask.sum()
        self.cache = (ts, ys, mask, (N, T, V))
        return loss

    def backward(self, dout=1):
        ts, ys, mask, (N, T, V) = self.cache
        dx = ys
        dx[np.arange(N * T), ts] -= 1
        dx *= dout
        dx /= mask.sum()
        dx *= mask[:, np.newaxis]
        return dx.reshape((N, T, V))


class TimeDropout:
    def __init__(self, dropout_ratio=0.5):
        self.params, self.grads = [], []
        self.dropout_ratio, self.mask, self.train_flg = dropout_ratio, None, True

    def forward(self, xs):
        if not self.train_flg:
            return xs
        keep = np.random.rand(*xs.shape) > self.dropout_ratio
        self.mask = keep.astype(np.float32) * (1 / (1.0 - self.dropout_ratio))
        return xs * self.mask

    def backward(self, dout):
        return dout * self.mask


class TimeBiLSTM:
    _lstm = TimeLSTM

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = self._lstm(Wx1, Wh1, b1, stateful)
        self.backward_lstm = self._lstm(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads

    def forward(self, xs):
        o1 = self.forward_lstm.forward(xs)
        o2 = self.backward_lstm.forward(xs[:, ::-1])[:, ::-1]
        return np.concatenate((o1, o2), axis=2)

    def backward(self, dhs):
        H = dhs.shape[2] // 2
        d1 = self.forward_lstm.backward(dhs[:, :, :H])
        d2 = self.backward_lstm.backward(dhs[:, :, H:][:, ::-1])[:, ::-1]
        return d1 + d2


class TimeSigmoidWithLoss:
    _loss = SigmoidWithLoss

    def __init__(self):
        self.params, self.grads, self.xs_shape, self.layers = [], [], None, None

    def forward(self, xs, ts):
        N, T = xs.shape
        self.xs_shape = xs.shape
        self.layers = []
        total = 0
        for t in range(T):
            layer = self._loss()
            total += layer.forward(xs[:, t], ts[:, t])
            self.layers.append(layer)
        return total / T

    def backward(self, dout=1):
        dxs = np.empty(self.xs_shape, dtype="f")
        dout *= 1 / self.xs_shape[1]
        for t, layer in enumerate(self.layers):
            dxs[:, t] = layer.backward(dout)
        return dxs


class Simple_TimeSoftmaxWithLoss:
    _loss = SoftmaxWithLoss

    def __init__(self):
        self.params, self.grads, self.cache = [], [], None

    def forward(self, xs, ts):
        layers = []
        total = 0
        for t in range(xs.shape[1]):
            layer = self._loss()
            total += layer.forward(xs[:, t, :], ts[:, t])
            layers.append(layer)
        total /= xs.shape[1]
        self.cache = (layers, xs)
        return total

    def backward(self, dout=1):
        layers, xs = self.cache
        dxs = np.empty(xs.shape, dtype="f")
        dout *= 1 / xs.shape[1]
        for t, layer in enumerate(layers):
            dxs[:, t, :] = layer.backward(dout)
        return dxs


class Simple_TimeAffine:
    """The book's per-step affine (its backward reads an Affine's dW/db; here its grads)."""

    _affine = Affine

    def __init__(self, W, b):
        self.W, self.b, self.dW, self.db, self.layers = W, b, None, None, None

    def forward(self, xs):
        N, T, D = xs.shape
        out = np.empty((N, T, self.W.shape[1]), dtype="f")
        self.layers = []
        for t in range(T):
            layer = self._affine(self.W, self.b)
            out[:, t, :] = layer.forward(xs[:, t, :])
            self.layers.append(layer)
        return out

    def backward(self, dout):
        N, T, M = dout.shape
        dxs = np.empty((N, T, self.W.shape[0]), dtype="f")
        self.dW, self.db = 0, 0
        for t, layer in enumerate(self.layers):
            dxs[:, t, :] = layer.backward(dout[:, t, :])
            self.dW += layer.grads[0]
            self.db += layer.grads[1]
        return dxs


# --- ch04: negative sampling --------------------------------------------------------------


class EmbeddingDot:
    _embedding = Embedding  # the parts a composite layer is built from: fastact.nlp swaps in its own

    def __init__(self, W):
        self.embed = self._embedding(W)
        self.params, self.grads, self.cache = self.embed.params, self.embed.grads, None

    def forward(self, h, idx):
        target_W = self.embed.forward(idx)
        self.cache = (h, target_W)
        return np.sum(target_W * h, axis=1)

    def backward(self, dout):
        h, target_W = self.cache
        dout = dout.reshape(dout.shape[0], 1)
        self.embed.backward(dout * h)
        return dout * target_W


class UnigramSampler:
    def __init__(self, corpus, power, sample_size):
        self.sample_size = sample_size
        counts = self._counts(corpus)
        self.vocab_size = len(counts)
        p = np.zeros(self.vocab_size)
        for i in range(self.vocab_size):
            p[i] = counts[i]
        p = np.power(p, power)
        p /= np.sum(p)
        self.word_p = p

    @staticmethod
    def _counts(corpus):
        counts = collections.Counter()
        for word in corpus:
            counts[word] += 1
        return counts

    def get_negative_sample(self, target):
        out = np.zeros((target.shape[0], self.sample_size), dtype=np.int32)
        for row, word in enumerate(target):
            p = self.word_p.copy()
            p[word] = 0
            p /= p.sum()
            out[row, :] = np.random.choice(self.vocab_size, size=self.sample_size, replace=False, p=p)
        return out


class NegativeSamplingLoss:
    _sampler, _loss, _embedding_dot = UnigramSampler, SigmoidWithLoss, EmbeddingDot

    def __init__(self, W, corpus, power=0.75, sample_size=5):
        self.sample_size = sample_size
        self.sampler = self._sampler(corpus, power, sample_size)
        self.loss_layers = [self._loss() for _ in range(sample_size + 1)]
        self.embed_dot_layers = [self._embedding_dot(W) for _ in range(sample_size + 1)]
        self.params, self.grads = [], []
        for layer in self.embed_dot_layers:
            self.params += layer.params
            self.grads += layer.grads

    def forward(self, h, target):
        n = target.shape[0]
        negatives = self.sampler.get_negative_sample(target)
        loss = self.loss_layers[0].forward(self.embed_dot_layers[0].forward(h, target), np.ones(n, dtype=np.int32))
        zeros = np.zeros(n, dtype=np.int32)
        for k in range(self.sample_size):
            score = self.embed_dot_layers[1 + k].forward(h, negatives[:, k])
            loss += self.loss_layers[1 + k].forward(score, zeros)
        return loss

    def backward(self, dout=1):
        dh = 0
        for loss_layer, dot_layer in zip(self.loss_layers, self.embed_dot_layers):
            dh += dot_layer.backward(loss_layer.backward(dout))
        return dh


# --- ch08: attention ----------------------------------------------------------------------


class WeightSum:
    def __init__(self):
        self.params, self.grads, self.cache = [], [], None

    def forward(self, hs, a):
        N, T, H = hs.shape
        ar = a.reshape(N, T, 1)
        self.cache = (hs, ar)
        return np.sum(hs * ar, axis=1)

    def backward(self, dc):
        hs, ar = self.cache
        N, T, H = hs.shape
        dt = dc.reshape(N, 1, H).repeat(T, axis=1)
        return dt * ar, np.sum(dt * hs, axis=2)


class AttentionWeight:
    _softmax = Softmax

    def __init__(self):
        self.params, self.grads, self.cache = [], [], None
        self.softmax = self._softmax()

    def forward(self, hs, h):
        N, T, H = hs.shape
        hr = h.reshape(N, 1, H)
        s = np.sum(hs * hr, axis=2)
        with activations(softmax=ACT.attention_softmax):
            a = self.softmax.forward(s)
        self.cache = (hs, hr)
        return a

    def backward(self, da):
        hs, hr = self.cache
        N, T, H = hs.shape
        dt = self.softmax.backward(da).reshape(N, T, 1).repeat(H, axis=2)
        return dt * hr, np.sum(dt * hs, axis=1)


class Attention:
    _attention_weight, _weight_sum = AttentionWeight, WeightSum

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weight_layer, self.weight_sum_layer = self._attention_weight(), self._weight_sum()
        self.attention_weight = None

    def forward(self, hs, h):
        a = self.attention_weight_layer.forward(hs, h)
        self.attention_weight = a
        return self.weight_sum_layer.forward(hs, a)

    def backward(self, dout):
        dhs0, da = self.weight_sum_layer.backward(dout)
        dhs1, dh = self.attention_weight_layer.backward(da)
        return dhs0 + dhs1, dh


class TimeAttention:
    def __init__(self):
        self.params, self.grads, self.layers, self.attention_weights = [], [], None, None

    def forward(self, hs_enc, hs_dec):
        N, T, H = hs_dec.shape
        out = np.empty_like(hs_dec)
        self.layers, self.attention_weights = [], []
        for t in range(T):
            layer = Attention()
            out[:, t, :] = layer.forward(hs_enc, hs_dec[:, t, :])
            self.layers.append(layer)
            self.attention_weights.append(layer.attention_weight)
        return out

    def backward(self, dout):
        dhs_enc = 0
        dhs_dec = np.empty_like(dout)
        for t, layer in enumerate(self.layers):
            dhs, dh = layer.backward(dout[:, t, :])
            dhs_enc += dhs
            dhs_dec[:, t, :] = dh
        return dhs_enc, dhs_dec


# --- what a training step runs after backward ---------------------------------------------


def remove_duplicate(params, grads):
    """The book's: shared weights (the same object, or a transposed copy) summed into one."""
    params, grads = params[:], grads[:]
    while True:
        found = False
        for i in range(len(params) - 1):
            for j in range(i + 1, len(params)):
                if params[i] is params[j]:
                    grads[i] += grads[j]
                    found = True
                elif (
                    params[i].ndim == 2
                    and params[j].ndim == 2
                    and params[i].T.shape == params[j].shape
                    and np.all(params[i].T == params[j])
                ):
                    grads[i] += grads[j].T
                    found = True
                if found:
                    params.pop(j)
                    grads.pop(j)
                    break
            if found:
                break
        if not found:
            return params, grads


def clip_grads(grads, max_norm):
    total = 0
    for g in grads:
        total += np.sum(g**2)
    rate = max_norm / (np.sqrt(total) + 1e-6)
    if rate < 1:
        for g in grads:
            g *= rate


class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for p, g in zip(params, grads):
            p -= self.lr * g


class Adam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter, self.m, self.v = 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g**2 - v)
            p -= lr_t * m / (np.sqrt(v) + 1e-7)


def numerical_gradient(f, x, eps=1e-3):
    """Central differences of the scalar ``f()`` with respect to the array ``x`` (changed in
    place and restored), in float64: ``fastact.testing``'s, with volume 2's step."""
    from ..testing.gradients import numerical_gradient as central_differences

    return central_differences(f, x, h=eps, dtype=np.float64)
