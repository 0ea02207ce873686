"""fastact.nlp's kernels against NumPy's own operations, bit for bit: the pairwise sum, the
scatter-adds of Embedding and TimeEmbedding, the LSTM cell against fastact's ufuncs."""

import numpy as np
import pytest

from fastact._core import nlp as K
from fastact.nlp import reference as R
from fastact.nlp import time_layers as T


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_sum_is_numpys_sum(dtype):
    rng = np.random.default_rng(0)
    lengths = [*range(1, 140), 255, 256, 257, 300, 1000, 1023, 4097, 10000, 70001]
    for n in lengths:
        a = (rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4, n)).astype(dtype)
        got = dtype(K.pairwise_sum(a))
        assert got.tobytes() == np.sum(a).tobytes(), f"n={n} {dtype.__name__}: {got!r} != {np.sum(a)!r}"


def test_pairwise_sum_sign_of_zero():
    assert np.float32(K.pairwise_sum(np.array([-0.0], np.float32))).tobytes() == np.sum(np.float32([-0.0])).tobytes()


def test_scatter_add_is_add_at():
    rng = np.random.default_rng(1)
    W = np.zeros((13, 6), np.float32)
    idx = rng.integers(-13, 13, 200)  # many repeats, negative ids as NumPy allows
    dout = (rng.standard_normal((200, 6)) * 10.0 ** rng.uniform(-3, 3, (200, 6))).astype(np.float32)
    want = np.zeros_like(W)
    np.add.at(want, idx, dout)
    W[...] = 7  # the kernel zeroes first, as the book's backward
    K.scatter_add(W, idx, dout)
    assert W.tobytes() == want.tobytes()


def test_time_embedding_backward_is_the_books_sum_of_steps():
    rng = np.random.default_rng(2)
    V, D, N, Tn = 17, 5, 30, 9
    W = rng.standard_normal((V, D)).astype(np.float32)
    xs = rng.integers(0, V, (N, Tn))
    xs[:, 3] = 4  # one word everywhere in a step
    dout = (rng.standard_normal((N, Tn, D)) * 10.0 ** rng.uniform(-3, 3, (N, Tn, D))).astype(np.float32)
    book, fast = R.TimeEmbedding(W), T.TimeEmbedding(W)
    assert np.array_equal(book.forward(xs), fast.forward(xs))
    book.backward(dout)
    fast.backward(dout)
    assert fast.grads[0].tobytes() == book.grads[0].tobytes()


def test_lstm_kernels_vectorize_to_numpys_formulas():
    """The cell's arithmetic, given fastact's sigmoid and tanh ufuncs (the same formulas)."""
    from fastact import sigmoid, tanh

    rng = np.random.default_rng(3)
    N, H = 5, 19  # odd sizes: the vector loops' tails
    ax, ah = (rng.standard_normal((N, 4 * H)).astype(np.float32) * 3 for _ in range(2))
    b = rng.standard_normal(4 * H).astype(np.float32)
    c_prev = rng.standard_normal((N, H)).astype(np.float32)
    gates, c, tc, h = np.empty_like(ax), *(np.empty((N, H), np.float32) for _ in range(3))
    K.lstm_forward(ax, ah, b, c_prev, gates, c, tc, h)
    A = ax + ah + b
    want = np.hstack([sigmoid(A[:, :H]), tanh(A[:, H : 2 * H]), sigmoid(A[:, 2 * H :])])
    assert gates.tobytes() == want.tobytes()
    c_want = want[:, :H] * c_prev + want[:, H : 2 * H] * want[:, 2 * H : 3 * H]
    assert c.tobytes() == c_want.tobytes()
    assert h.tobytes() == (want[:, 3 * H :] * tanh(c_want)).tobytes()
