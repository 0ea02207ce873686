"""Drop-in for the book's ``ch04/negative_sampling_layer``: EmbeddingDot, UnigramSampler,
NegativeSamplingLoss.

``UnigramSampler.get_negative_sample`` draws the very samples the book's does, from NumPy's
global random state: the book calls ``np.random.choice(V, size, replace=False, p=p)`` per row;
here the same doubles are taken from ``np.random.random_sample`` in the same order (never one
more: the state afterwards is the same too), and a compiled kernel does what ``choice`` does
with them (p normalised by its pairwise sum, ``cumsum``, ``cdf /= cdf[-1]``, a right-sided
search, the first occurrence of each new index kept in draw order, found indices zeroed for the
next round). ``tests/test_nlp_sampling.py`` checks samples and state bit for bit.
"""

import collections

import numpy as np

from .._core.nlp import negative_samples, positive_count
from . import _checks
from .layers import Embedding, SigmoidWithLoss

__all__ = ["EmbeddingDot", "UnigramSampler", "NegativeSamplingLoss"]


class EmbeddingDot:
    def __init__(self, W):
        self.embed = Embedding(W)
        self.params = self.embed.params
        self.grads = self.embed.grads
        self.cache = None

    def forward(self, h, idx):
        target_W = self.embed.forward(idx)
        out = np.sum(target_W * h, axis=1)
        self.cache = (h, target_W)
        return out

    def backward(self, dout):
        h, target_W = self.cache
        dout = dout.reshape(dout.shape[0], 1)
        self.embed.backward(dout * h)
        return dout * target_W


class UnigramSampler:
    def __init__(self, corpus, power, sample_size):
        self.sample_size = sample_size
        counts = collections.Counter(corpus.tolist() if isinstance(corpus, np.ndarray) else corpus)
        self.vocab_size = len(counts)
        word_p = np.zeros(self.vocab_size)
        for i in range(self.vocab_size):
            word_p[i] = counts[i]
        word_p = np.power(word_p, power)
        word_p /= np.sum(word_p)
        self.word_p = word_p

    def get_negative_sample(self, target):
        where = "UnigramSampler.get_negative_sample: "
        if not isinstance(target, np.ndarray) or target.ndim != 1:
            raise ValueError(f"{where}target must be a 1-D array of word ids")
        word_p = self.word_p
        V = word_p.shape[0]
        if not (isinstance(word_p, np.ndarray) and word_p.dtype == np.float64 and word_p.ndim == 1):
            raise TypeError(f"{where}word_p must be a 1-D float64 array")
        if not np.all(word_p >= 0):  # also false for NaN
            raise ValueError(f"{where}word_p must hold non-negative probabilities")
        if not (0 < self.sample_size <= V):
            raise ValueError(f"{where}sample_size {self.sample_size} must be in 1..{V} (the vocabulary)")
        ids = _checks.ids("target", target, V, where)
        size = int(self.sample_size)
        batch = ids.shape[0]
        if positive_count(word_p, ids, size) >= 0:
            raise ValueError("Fewer non-zero entries in p than size")  # NumPy's own message
        out = np.zeros((batch, size), dtype=np.int32)
        p = np.empty(V)
        cdf = np.empty(V)
        row, found = 0, 0
        left = np.empty(0)  # drawn, not yet used: the next doubles of the stream
        while row < batch:
            # As many doubles as the rest needs at the least: never one NumPy would not draw.
            # The kernel stops at a round it has too few for; those few start the next batch.
            need = (size - found) + (batch - row - 1) * size
            doubles = np.concatenate((left, np.random.random_sample(need - left.shape[0])))
            row, found, used = negative_samples(word_p, ids, size, out, row, found, doubles, p, cdf)
            left = doubles[used:]
        return out


class NegativeSamplingLoss:
    def __init__(self, W, corpus, power=0.75, sample_size=5):
        self.sample_size = sample_size
        self.sampler = UnigramSampler(corpus, power, sample_size)
        self.loss_layers = [SigmoidWithLoss() for _ in range(sample_size + 1)]
        self.embed_dot_layers = [EmbeddingDot(W) for _ in range(sample_size + 1)]
        self.params, self.grads = [], []
        for layer in self.embed_dot_layers:
            self.params += layer.params
            self.grads += layer.grads

    def forward(self, h, target):
        batch_size = target.shape[0]
        negative_sample = self.sampler.get_negative_sample(target)
        score = self.embed_dot_layers[0].forward(h, target)
        loss = self.loss_layers[0].forward(score, np.ones(batch_size, dtype=np.int32))
        negative_label = np.zeros(batch_size, dtype=np.int32)
        for i in range(self.sample_size):
            score = self.embed_dot_layers[1 + i].forward(h, negative_sample[:, i])
            loss += self.loss_layers[1 + i].forward(score, negative_label)
        return loss

    def backward(self, dout=1):
        dh = 0
        for loss_layer, dot_layer in zip(self.loss_layers, self.embed_dot_layers):
            dh += dot_layer.backward(loss_layer.backward(dout))
        return dh
