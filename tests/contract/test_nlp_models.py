"""The book's models (fastact._tools.bench_nlp, written in the book's style) trained with fastact.nlp
give the losses of the same models on the NumPy twins, from the same seed: the first step
within 1e-5 (relative), ten steps within 1e-3. Seeded random draws (dropout masks, negative
samples) are the same in both."""

import numpy as np
import pytest

from fastact._tools import bench_nlp


def losses(name, engine, steps):
    model, optimizer, max_grad, batch = bench_nlp.build(name, engine, seed=3, small=True)
    return [float(bench_nlp.train_step(model, optimizer, max_grad, batch)) for _ in range(steps)]


@pytest.mark.parametrize("name", bench_nlp.MODELS)
def test_training_gives_the_books_losses(name):
    book = losses(name, "book", 10)
    fast = losses(name, "fastact", 10)
    assert np.isfinite(book).all() and book[-1] < book[0], f"{name}: the twin did not learn: {book}"
    np.testing.assert_allclose(fast[0], book[0], rtol=1e-5, err_msg=f"{name}: first step")
    np.testing.assert_allclose(fast, book, rtol=1e-3, err_msg=f"{name}: ten steps")


def test_shared_weights_stay_shared():
    model = bench_nlp.build("rnnlm", "fastact", small=True)[0]
    embed_W, affine_W = model.params[0], model.params[-2]
    assert np.shares_memory(embed_W, affine_W)  # weight tying: the affine holds embed_W.T
    cbow = bench_nlp.build("cbow", "fastact", small=True)[0]
    assert sum(p is cbow.params[0] for p in cbow.params) == 10  # ten context Embeddings, one W_in


def test_bench_measures_both_engines():
    medians, layers = bench_nlp.measure("peeky", steps=1, small=True)
    assert set(medians) == {"book", "fastact"} and all(v > 0 for v in medians.values())
    assert "dec.lstm.backward" in layers["fastact"] and layers["fastact"]["step"] > 0
