"""fastact.nlp's layers against their NumPy twins (fastact.nlp.reference), numerical gradients,
and bad input.

Bit for bit where the twin is given fastact's sigmoid, tanh and softmax (every other operation
is then the book's: matmuls, sums, scatter-adds); close to the twin with the book's own NumPy
expressions (a few float32 ULP through the activations).
"""

import numpy as np
import pytest

import fastact
from fastact.nlp import attention_layer as A
from fastact.nlp import functions as F
from fastact.nlp import layers as L
from fastact.nlp import negative_sampling_layer as NS
from fastact.nlp import reference as R
from fastact.nlp import time_layers as T


def fastact_activations():
    return R.activations(sigmoid=fastact.sigmoid, tanh=fastact.tanh, softmax=F.softmax, attention_softmax=R.softmax64)


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def same(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
    assert a.tobytes() == b.tobytes(), f"{what}: max diff {np.max(np.abs(a.astype(float) - b))}"


def close(a, b, what, rtol=2e-4, atol=2e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol, err_msg=what)


RECURRENT = [("TimeRNN", 1), ("TimeLSTM", 4), ("TimeGRU", 3)]


def recurrent_pair(name, gates, rng, N=6, Tn=5, D=4, H=7, stateful=False):
    Wx, Wh, b = rand(rng, D, gates * H, scale=0.5), rand(rng, H, gates * H, scale=0.4), rand(rng, gates * H)
    return getattr(R, name)(Wx, Wh, b, stateful), getattr(T, name)(Wx, Wh, b, stateful), (N, Tn, D, H)


@pytest.mark.parametrize("stateful", [False, True])
@pytest.mark.parametrize("name, gates", RECURRENT)
@pytest.mark.parametrize("exact", [True, False])
def test_recurrent_layers_match_the_twin(name, gates, stateful, exact):
    rng = np.random.default_rng(0)
    book, fast, (N, Tn, D, H) = recurrent_pair(name, gates, rng, stateful=stateful)
    check = same if exact else close
    with fastact_activations() if exact else R.activations():
        for call in range(2):  # stateful: the second call starts from the first one's state
            if stateful and call == 0:
                h0 = rand(rng, N, H)
                book.set_state(h0.copy(), *((rand(rng, N, H),) if name == "TimeLSTM" else ()))
                fast.set_state(h0.copy(), *((book.c.copy(),) if name == "TimeLSTM" else ()))
            xs, dhs = rand(rng, N, Tn, D), rand(rng, N, Tn, H)
            check(fast.forward(xs), book.forward(xs), f"{name} hs")
            check(fast.h, book.h, f"{name} h")
            check(fast.backward(dhs), book.backward(dhs), f"{name} dxs")
            check(fast.dh, book.dh, f"{name} dh")
            for k, (g, w) in enumerate(zip(fast.grads, book.grads)):
                check(g, w, f"{name} grads[{k}]")


@pytest.mark.parametrize("name", ["LSTM", "RNN", "GRU"])
def test_single_step_cells_match_the_twin(name):
    rng = np.random.default_rng(1)
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[name]
    N, D, H = 4, 3, 6
    params = rand(rng, D, gates * H), rand(rng, H, gates * H), rand(rng, gates * H)
    book, fast = getattr(R, name)(*params), getattr(T, name)(*params)
    x, h = rand(rng, N, D), rand(rng, N, H)
    with fastact_activations():
        if name == "LSTM":
            c = rand(rng, N, H)
            out_f, out_b = fast.forward(x, h, c), book.forward(x, h, c)
            d = (rand(rng, N, H), rand(rng, N, H))
        else:
            out_f, out_b = fast.forward(x, h), book.forward(x, h)
            d = (rand(rng, N, H),)
        if name != "LSTM":
            out_f, out_b = (out_f,), (out_b,)
        for a, b in zip(out_f, out_b):
            same(a, b, f"{name} forward")
        for a, b in zip(fast.backward(*d), book.backward(*d)):
            same(a, b, f"{name} backward")
        for k, (g, w) in enumerate(zip(fast.grads, book.grads)):
            same(g, w, f"{name} grads[{k}]")


def test_lstm_cache_has_the_books_gates():
    rng = np.random.default_rng(2)
    N, D, H = 3, 2, 5
    params = rand(rng, D, 4 * H), rand(rng, H, 4 * H), rand(rng, 4 * H)
    book, fast = R.LSTM(*params), T.LSTM(*params)
    args = rand(rng, N, D), rand(rng, N, H), rand(rng, N, H)
    with fastact_activations():
        fast.forward(*args)
        book.forward(*args)
    for k, (a, b) in enumerate(zip(fast.cache, book.cache)):
        same(a, b, f"cache[{k}]")


@pytest.mark.parametrize("onehot", [False, True])
def test_time_softmax_with_loss(onehot):
    rng = np.random.default_rng(3)
    N, Tn, V = 5, 4, 11
    xs = rand(rng, N, Tn, V, scale=4)
    ts = rng.integers(0, V, (N, Tn))
    ts[0, 1] = ts[3, 3] = -1  # ignore_label
    targets = np.eye(V, dtype=np.int32)[ts] if onehot else ts
    if onehot:
        targets[0, 1] = targets[3, 3] = 0  # argmax 0: the book's one-hot path ignores nothing
        ts = targets.argmax(axis=2)
    for exact in (True, False):
        book, fast = R.TimeSoftmaxWithLoss(), T.TimeSoftmaxWithLoss()
        with fastact_activations() if exact else R.activations():
            lf, lb = fast.forward(xs, targets), book.forward(xs, targets)
            assert type(lf) is type(lb)
            (same if exact else close)(lf, lb, "loss")
            for dout in (1, 0.5):
                book2, fast2 = R.TimeSoftmaxWithLoss(), T.TimeSoftmaxWithLoss()
                fast2.forward(xs, targets)
                book2.forward(xs, targets)
                (same if exact else close)(fast2.backward(dout), book2.backward(dout), f"dx dout={dout}")


def test_time_affine_and_embedding_are_bit_identical():
    rng = np.random.default_rng(4)
    N, Tn, D, V = 4, 6, 5, 9
    W, b = rand(rng, D, V), rand(rng, V)
    book, fast = R.TimeAffine(W, b), T.TimeAffine(W, b)
    x, d = rand(rng, N, Tn, D), rand(rng, N, Tn, V)
    same(fast.forward(x), book.forward(x), "affine forward")
    same(fast.backward(d), book.backward(d), "affine dx")
    same(fast.grads[0], book.grads[0], "dW")
    same(fast.grads[1], book.grads[1], "db")
    E = rand(rng, V, D)
    book, fast = R.Embedding(E), L.Embedding(E)
    idx = rng.integers(-V, V, 40)
    same(fast.forward(idx), book.forward(idx), "embedding forward")
    d = rand(rng, 40, D)
    book.backward(d)
    fast.backward(d)
    same(fast.grads[0], book.grads[0], "embedding grad")


def test_simple_layers_of_common_layers():
    rng = np.random.default_rng(5)
    x, t = rand(rng, 6, 4), rng.integers(0, 4, 6)
    with fastact_activations():
        for name, args in [("Softmax", (x,)), ("Sigmoid", (x,)), ("SoftmaxWithLoss", (x, t))]:
            book, fast = getattr(R, name)(), getattr(L, name)()
            same(fast.forward(*args), book.forward(*args), f"{name} forward")
            d = () if name.endswith("Loss") else (rand(rng, 6, 4),)
            same(fast.backward(*d), book.backward(*d), f"{name} backward")
        score, label = rand(rng, 7), rng.integers(0, 2, 7).astype(np.int32)
        book, fast = R.SigmoidWithLoss(), L.SigmoidWithLoss()
        same(fast.forward(score, label), book.forward(score, label), "SigmoidWithLoss loss")
        same(fast.backward(), book.backward(), "SigmoidWithLoss dx")
    W, b = rand(rng, 4, 3), rand(rng, 3)
    for name, args in [("MatMul", (W,)), ("Affine", (W, b))]:
        book, fast = getattr(R, name)(*args), getattr(L, name)(*args)
        same(fast.forward(x), book.forward(x), name)
        d = rand(rng, 6, 3)
        same(fast.backward(d), book.backward(d), name)
        for g, w in zip(fast.grads, book.grads):
            same(g, w, name)
    np.random.seed(7)
    want = R.Dropout(0.3).forward(x)
    np.random.seed(7)
    same(L.Dropout(0.3).forward(x), want, "Dropout draws")


def test_functions():
    rng = np.random.default_rng(6)
    x = rand(rng, 5, 8, scale=5)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    truth = e / e.sum(axis=1, keepdims=True)
    two_ulp = 2 * 2.0**-23  # relative: within 2 ULP of the true value
    close(F.softmax(x), truth, "softmax", rtol=two_ulp, atol=0)
    close(F.softmax(x[0]), truth[0] * (e[0].sum() / np.exp(x64[0] - x64[0].max()).sum()), "softmax 1-D", two_ulp, 0)
    close(F.sigmoid(x), 1 / (1 + np.exp(-x64)), "sigmoid", rtol=two_ulp, atol=0)
    same(F.relu(x), np.maximum(0, x), "relu")
    y, t = R.book_softmax(x), rng.integers(0, 8, 5)
    assert F.cross_entropy_error(y, t) == R.cross_entropy_error(y, t)


@pytest.mark.parametrize("exact", [True, False])
def test_time_attention(exact):
    rng = np.random.default_rng(7)
    N, Te, Td, H = 4, 9, 5, 140  # H > 128: NumPy's pairwise sum splits the rows
    hs_enc, hs_dec, d = rand(rng, N, Te, H, scale=0.3), rand(rng, N, Td, H, scale=0.3), rand(rng, N, Td, H)
    book, fast = R.TimeAttention(), A.TimeAttention()
    check = same if exact else (lambda a, b, w: close(a, b, w, rtol=1e-3, atol=2e-5))
    with R.activations(attention_softmax=R.softmax64) if exact else R.activations():
        check(fast.forward(hs_enc, hs_dec), book.forward(hs_enc, hs_dec), "context")
        for k, (a, b) in enumerate(zip(fast.attention_weights, book.attention_weights)):
            check(a, b, f"weights[{k}]")
        for a, b, what in zip(fast.backward(d), book.backward(d), ("dhs_enc", "dhs_dec")):
            check(a, b, what)


def test_attention_parts_match_the_twin():
    rng = np.random.default_rng(8)
    hs, h, a = rand(rng, 3, 6, 5), rand(rng, 3, 5), R.book_softmax(rand(rng, 3, 6))
    with fastact_activations():
        for name, args, d in [
            ("WeightSum", (hs, a), rand(rng, 3, 5)),
            ("AttentionWeight", (hs, h), rand(rng, 3, 6)),
            ("Attention", (hs, h), rand(rng, 3, 5)),
        ]:
            book, fast = getattr(R, name)(), getattr(A, name)()
            same(fast.forward(*args), book.forward(*args), name)
            for x, y in zip(fast.backward(d), book.backward(d)):
                same(x, y, name)


def test_negative_sampling_loss_matches_the_twin():
    rng = np.random.default_rng(9)
    V, Hd, N = 40, 6, 12
    corpus = np.concatenate([np.arange(V), rng.integers(0, V, 300)])
    W = rand(rng, V, Hd)
    book, fast = R.NegativeSamplingLoss(W, corpus), NS.NegativeSamplingLoss(W, corpus)
    h, target = rand(rng, N, Hd), rng.integers(0, V, N)
    with fastact_activations():
        np.random.seed(11)
        lb = book.forward(h, target)
        np.random.seed(11)
        lf = fast.forward(h, target)
        same(lf, lb, "loss")
        same(fast.backward(), book.backward(), "dh")
    assert len(fast.params) == 6 and all(p is W for p in fast.params)
    for g, w in zip(fast.grads, book.grads):
        same(g, w, "grads")
    assert len({id(g) for g in fast.grads}) == 6  # one gradient per EmbeddingDot, as the book


# --- numerical gradients --------------------------------------------------------------------


def numeric_check(loss, params_and_grads, rtol=3e-2, atol=3e-3):
    for k, (p, g) in enumerate(params_and_grads):
        num = R.numerical_gradient(loss, p, eps=1e-2)
        np.testing.assert_allclose(g, num, rtol=rtol, atol=atol, err_msg=f"parameter {k}")


@pytest.mark.parametrize("name, gates", RECURRENT)
def test_recurrent_numerical_gradient(name, gates):
    rng = np.random.default_rng(10)
    _, layer, (N, Tn, D, H) = recurrent_pair(name, gates, rng, N=3, Tn=4, D=3, H=4)
    xs, w = rand(rng, N, Tn, D), rng.standard_normal((N, Tn, H))

    def loss():
        return np.sum(layer.forward(xs).astype(np.float64) * w)

    loss()
    dxs = layer.backward(w.astype(np.float32))
    numeric_check(loss, list(zip(layer.params, [g.copy() for g in layer.grads])) + [(xs, dxs)])


def test_attention_and_loss_numerical_gradient():
    rng = np.random.default_rng(11)
    hs_enc, hs_dec = rand(rng, 2, 5, 4), rand(rng, 2, 3, 4)
    layer, w = A.TimeAttention(), rng.standard_normal((2, 3, 4))

    def loss():
        return np.sum(layer.forward(hs_enc, hs_dec).astype(np.float64) * w)

    loss()
    d_enc, d_dec = layer.backward(w.astype(np.float32))
    numeric_check(loss, [(hs_enc, d_enc), (hs_dec, d_dec)])
    xs, ts = rand(rng, 3, 4, 6), rng.integers(0, 6, (3, 4))
    ts[1, 2] = -1
    sl = T.TimeSoftmaxWithLoss()
    sl.forward(xs, ts)
    numeric_check(lambda: sl.forward(xs, ts), [(xs, sl.backward())])


# --- bad input ------------------------------------------------------------------------------


def test_out_of_range_ids_raise_before_anything_changes():
    rng = np.random.default_rng(12)
    W = rand(rng, 5, 3)
    emb = T.TimeEmbedding(W)
    with pytest.raises(IndexError, match="xs"):
        emb.forward(np.array([[0, 5]]))
    with pytest.raises(IndexError):
        emb.forward(np.array([[-6, 1]]))
    with pytest.raises(TypeError, match="integer"):
        emb.forward(np.array([[0.0, 1.0]]))
    assert emb.idx is None
    loss = T.TimeSoftmaxWithLoss()
    with pytest.raises(IndexError, match="ts"):
        loss.forward(rand(rng, 2, 3, 4), np.array([[0, 1, 4], [0, 1, 2]]))
    assert loss.cache is None
    e1 = L.Embedding(W)
    e1.forward(np.array([1, 2]))
    e1.idx = np.array([1, 9])  # a changed id: checked before the scatter writes anything
    before = e1.grads[0].copy()
    with pytest.raises(IndexError):
        e1.backward(rand(rng, 2, 3))
    same(e1.grads[0], before, "grads after a refused backward")


def test_recurrent_bad_input_leaves_state_untouched():
    rng = np.random.default_rng(13)
    _, lstm, (N, Tn, D, H) = recurrent_pair("TimeLSTM", 4, rng, stateful=True)
    lstm.forward(rand(rng, N, Tn, D))
    h, c = lstm.h, lstm.c
    with pytest.raises(ValueError, match="xs"):
        lstm.forward(rand(rng, N, Tn, D + 1))
    with pytest.raises(TypeError, match="xs"):
        lstm.forward(rand(rng, N, Tn, D).astype(np.float64))
    with pytest.raises(ValueError, match="h"):
        lstm.forward(rand(rng, N + 1, Tn, D))  # the kept state has N rows
    assert lstm.h is h and lstm.c is c
    grads = [g.copy() for g in lstm.grads]
    with pytest.raises(ValueError, match="dhs"):
        lstm.backward(rand(rng, N, Tn, H + 1))
    for g, w in zip(lstm.grads, grads):
        same(g, w, "grads")
    with pytest.raises(RuntimeError, match="before forward"):
        T.TimeLSTM(*lstm.params).backward(rand(rng, N, Tn, H))
    with pytest.raises(ValueError, match="hs_dec"):
        A.TimeAttention().forward(rand(rng, 2, 3, 4), rand(rng, 2, 3, 5))


def test_kept_ids_are_copies_and_shapes_are_checked():
    rng = np.random.default_rng(14)
    W = rand(rng, 6, 3)
    emb = T.TimeEmbedding(W)
    xs = np.array([[0, 5], [1, 2]], dtype=np.int64)
    emb.forward(xs)
    xs[0, 0] = 10**6  # the caller reuses its batch array: backward must not scatter there
    emb.backward(rand(rng, 2, 2, 3))
    assert np.all(np.isfinite(emb.grads[0])) and emb.grads[0][0].any()
    loss = T.TimeSoftmaxWithLoss()
    ts = np.array([[0, 1]], dtype=np.int64)
    loss.forward(rand(rng, 1, 2, 4), ts)
    ts[0, 0] = -(10**6)
    assert loss.backward().shape == (1, 2, 4)
    params = rand(rng, 3, 8), rand(rng, 2, 8), rand(rng, 7)  # b one short of 4H
    with pytest.raises(ValueError, match="b"):
        T.TimeLSTM(*params).forward(rand(rng, 2, 3, 3))
    with pytest.raises(ValueError, match="c_prev"):
        T.LSTM(params[0], params[1], rand(rng, 8)).forward(rand(rng, 4, 3), rand(rng, 4, 2), rand(rng, 3, 2))
    with pytest.raises(ValueError, match="h_prev"):
        T.RNN(rand(rng, 3, 2), rand(rng, 2, 2), rand(rng, 2)).forward(rand(rng, 4, 3), rand(rng, 5, 2))
    sampler = NS.UnigramSampler(np.arange(8).repeat(2), 0.75, 2)
    sampler.word_p[3] = np.nan
    with pytest.raises(ValueError, match="non-negative"):
        sampler.get_negative_sample(np.array([0]))


def test_the_other_time_layers_match_the_twin():
    rng = np.random.default_rng(15)
    N, Tn, D, H, V = 4, 5, 3, 6, 7
    with fastact_activations():
        params = [rand(rng, D, 4 * H), rand(rng, H, 4 * H), rand(rng, 4 * H)] * 2
        book, fast = R.TimeBiLSTM(*params), T.TimeBiLSTM(*params)
        xs, d = rand(rng, N, Tn, D), rand(rng, N, Tn, 2 * H)
        same(fast.forward(xs), book.forward(xs), "TimeBiLSTM forward")
        same(fast.backward(d), book.backward(d), "TimeBiLSTM backward")
        for g, w in zip(fast.grads, book.grads):
            same(g, w, "TimeBiLSTM grads")
        scores, labels = rand(rng, N, Tn), rng.integers(0, 2, (N, Tn)).astype(np.int32)
        book, fast = R.TimeSigmoidWithLoss(), T.TimeSigmoidWithLoss()
        same(fast.forward(scores, labels), book.forward(scores, labels), "TimeSigmoidWithLoss")
        same(fast.backward(), book.backward(), "TimeSigmoidWithLoss backward")
        xv, ts = rand(rng, N, Tn, V), rng.integers(0, V, (N, Tn))
        book, fast = R.Simple_TimeSoftmaxWithLoss(), T.Simple_TimeSoftmaxWithLoss()
        same(fast.forward(xv, ts), book.forward(xv, ts), "Simple_TimeSoftmaxWithLoss")
        same(fast.backward(), book.backward(), "Simple_TimeSoftmaxWithLoss backward")
    W, b = rand(rng, D, V), rand(rng, V)
    book, fast = R.Simple_TimeAffine(W, b), T.Simple_TimeAffine(W, b)
    same(fast.forward(xs), book.forward(xs), "Simple_TimeAffine")
    dv = rand(rng, N, Tn, V)
    same(fast.backward(dv), book.backward(dv), "Simple_TimeAffine backward")
    same(fast.dW, book.dW, "dW")
    same(fast.db, book.db, "db")
    x = rand(rng, N, Tn, H)
    for cls in (R.TimeDropout, T.TimeDropout):
        np.random.seed(4)
        layer = cls(0.4)
        out = layer.forward(x)
        if cls is R.TimeDropout:
            want, want_d = out, layer.backward(x)
        else:
            same(out, want, "TimeDropout draws")
            same(layer.backward(x), want_d, "TimeDropout backward")
