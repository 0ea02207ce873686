"""Drop-in for the book's ``ch04/negative_sampling_layer``: EmbeddingDot, UnigramSampler,
NegativeSamplingLoss.

``UnigramSampler.get_negative_sample`` draws the very samples the book's does, from NumPy's
global random state: the book calls ``np.random.choice(V, size, replace=False, p=p)`` per row;
here the same doubles are taken from ``np.random.random_sample`` in the same order (never one
more: the state afterwards is the same too), and a compiled kernel does what ``choice`` does
with them (p normalised by its pairwise sum, ``cumsum``, ``cdf /= cdf[-1]``, a right-sided
search, the first occurrence of each new index kept in draw order, found indices zeroed for the
next round). ``tests/contract/test_nlp_sampling.py`` checks samples and state bit for bit.
"""

import collections

import numpy as np

from .._core.nlp import negative_samples, positive_count
from . import _checks
from . import reference as _twin
from .layers import Embedding, SigmoidWithLoss

__all__ = ["EmbeddingDot", "UnigramSampler", "NegativeSamplingLoss"]


class EmbeddingDot(_twin.EmbeddingDot):
    _embedding = Embedding


class UnigramSampler(_twin.UnigramSampler):
    @staticmethod
    def _counts(corpus):  # the book's counts, from one C-level pass
        return collections.Counter(corpus.tolist() if isinstance(corpus, np.ndarray) else corpus)

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


class NegativeSamplingLoss(_twin.NegativeSamplingLoss):
    """The book's, from fastact's sampler, Embedding and SigmoidWithLoss."""

    _sampler, _loss, _embedding_dot = UnigramSampler, SigmoidWithLoss, EmbeddingDot
