"""The negative sampler draws the book's samples: bit-identical to per-row
``np.random.choice(V, size, replace=False, p=p)`` from the same seed, and NumPy's global random
state is left exactly where the book's leaves it."""

import numpy as np
import pytest

from fastact.nlp import negative_sampling_layer as NS
from fastact.nlp import reference as R


def states_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def both(corpus, power, size, target, seed):
    book, fast = R.UnigramSampler(corpus, power, size), NS.UnigramSampler(corpus, power, size)
    np.testing.assert_array_equal(fast.word_p, book.word_p)
    np.random.seed(seed)
    want = book.get_negative_sample(target)
    after_book = np.random.get_state()
    np.random.seed(seed)
    got = fast.get_negative_sample(target)
    after_fast = np.random.get_state()
    return want, got, after_book, after_fast


def zipf_corpus(V, n, rng):
    p = 1.0 / np.arange(1, V + 1)
    corpus = rng.choice(V, n, p=p / p.sum())
    corpus[:V] = np.arange(V)
    return corpus


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_samples_and_state_match_numpys_choice(seed):
    rng = np.random.default_rng(seed)
    corpus = zipf_corpus(300, 5000, rng)
    target = rng.integers(-300, 300, 100)  # negative ids too, as NumPy's indexing takes them
    want, got, after_book, after_fast = both(corpus, 0.75, 5, target, seed)
    assert got.dtype == want.dtype == np.int32
    np.testing.assert_array_equal(got, want)
    assert states_equal(after_book, after_fast)


def test_rounds_with_repeated_draws_consume_the_same_doubles():
    # A few heavy words: most rows draw duplicates, so choice takes several rounds per row.
    rng = np.random.default_rng(5)
    corpus = np.concatenate([np.arange(40), np.repeat([0, 1, 2, 3, 4], 2000)])
    target = rng.integers(0, 40, 60)
    want, got, after_book, after_fast = both(corpus, 1.0, 8, target, 7)
    np.testing.assert_array_equal(got, want)
    assert states_equal(after_book, after_fast)
    np.random.seed(7)
    np.random.random_sample(60 * 8)
    assert not states_equal(np.random.get_state(), after_book), "no row needed a second round"


def test_every_word_but_the_target():
    corpus = np.arange(12).repeat(3)
    target = np.arange(12)
    want, got, after_book, after_fast = both(corpus, 0.75, 11, target, 3)
    np.testing.assert_array_equal(got, want)
    assert states_equal(after_book, after_fast)


def test_bad_input_raises_and_draws_nothing():
    corpus = np.arange(12).repeat(3)
    sampler = NS.UnigramSampler(corpus, 0.75, 12)  # 12 > the 11 words left beside a target
    np.random.seed(0)
    before = np.random.get_state()
    with pytest.raises(ValueError, match="Fewer non-zero entries"):
        sampler.get_negative_sample(np.array([3]))
    assert states_equal(before, np.random.get_state())
    sampler = NS.UnigramSampler(corpus, 0.75, 5)
    with pytest.raises(IndexError, match="target"):
        sampler.get_negative_sample(np.array([0, 12]))
    with pytest.raises(TypeError, match="integer"):
        sampler.get_negative_sample(np.array([0.0]))
    assert states_equal(before, np.random.get_state())
