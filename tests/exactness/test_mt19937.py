"""fastact._core.mt19937.rand_into against np.random.rand itself: the same doubles, bit for bit, and
the global generator left in the same state, from any point of its stream; and no draw at all
where the global generator is not the one the kernel knows."""

import re

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastact._core.mt19937
from fastact import layers as fast
from fastact import reference as twin


def _state():
    name, key, pos, has_gauss, gauss = np.random.get_state()
    return name, key.copy(), pos, has_gauss, gauss


def _same_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def _check(seed, skip, shape):
    np.random.seed(seed)
    np.random.rand(skip)  # any position in the 624-word key, pairs split across regenerations
    np.random.standard_normal(skip % 3)  # a cached Gaussian is state the draw must not touch
    before = _state()
    expected = np.random.rand(*shape)
    after = _state()
    np.random.set_state(before)
    r = np.empty(shape)
    assert fastact._core.mt19937.rand_into(r)
    np.testing.assert_array_equal(r.view(np.uint64), np.asarray(expected).view(np.uint64))
    assert _same_state(_state(), after)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    skip=st.integers(0, 1300),
    shape=st.lists(st.integers(0, 40), min_size=1, max_size=3).map(tuple),
)
def test_same_draw_and_state_as_numpy(seed, skip, shape):
    _check(seed, skip, shape)


@pytest.mark.parametrize("n", [0, 1, 311, 312, 313, 623, 624, 625, 1_000_003])
@pytest.mark.parametrize("skip", [0, 1, 2, 623])
def test_block_edges_and_long_draws(n, skip):
    _check(7, skip, (n,))


def test_a_patched_rand_is_respected(monkeypatch):
    monkeypatch.setattr(np.random, "rand", lambda *shape: np.full(shape, 0.75))
    r = np.empty(4)
    before = _state()
    assert not fastact._core.mt19937.rand_into(r)
    assert _same_state(_state(), before)
    # Dropout then takes the patched draw, as the book's does
    x = np.arange(1.0, 7.0).reshape(2, 3)
    f, t = fast.Dropout(0.8), twin.Dropout(0.8)
    np.testing.assert_array_equal(f.forward(x), t.forward(x))
    np.testing.assert_array_equal(f.mask, np.zeros((2, 3), bool))


@pytest.mark.skipif(not hasattr(np.random, "set_bit_generator"), reason="NumPy >= 1.25")
def test_another_bit_generator_is_left_to_numpy():
    original = np.random.get_bit_generator()
    try:
        np.random.set_bit_generator(np.random.PCG64(3))
        x = np.linspace(-1.0, 1.0, 60).reshape(6, 10)
        assert not fastact._core.mt19937.rand_into(np.empty(3))
        f, t = fast.Dropout(0.4), twin.Dropout(0.4)
        np.random.set_bit_generator(np.random.PCG64(3))
        out = f.forward(x)
        np.random.set_bit_generator(np.random.PCG64(3))
        np.testing.assert_array_equal(out, t.forward(x))
        np.testing.assert_array_equal(f.mask, t.mask)
    finally:
        np.random.set_bit_generator(original)
    _check(3, 5, (9,))  # and the MT19937 back in place is served again


@pytest.mark.vector_ir
def test_the_key_is_tempered_and_regenerated_in_vector_loops():
    """The LLVM IR of a fresh compile (cached code has none) holds vectors of 32-bit words
    (tempering, regeneration) and of doubles (the conversion of word pairs)."""
    dispatcher = fastact._core.mt19937._fill
    options = {k: v for k, v in dispatcher.targetoptions.items() if k != "nopython"}
    copy = numba.njit(**options)(dispatcher.py_func)
    key = np.random.get_state()[1].copy()
    copy(key, np.zeros(1, np.int32), np.empty(10))
    ir = "\n".join(copy.inspect_llvm().values())
    assert re.search(r"<\d+ x i32>", ir), "tempering and regeneration run scalar"
    assert re.search(r"<\d+ x double>", ir), "the pairs are converted to doubles one at a time"
