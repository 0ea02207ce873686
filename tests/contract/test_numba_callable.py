"""Every activation is callable on scalars from users' own @njit code, with the same exact
formula the ufunc runs: the same bits."""

import numba
import numpy as np
import pytest

import fastact
from fastact.activations import REGISTRY
from fastact.testing.bits import assert_same_bits
from fastact.testing.values import FLOATS, special_values


def scalars(dtype):
    values = np.concatenate(
        [
            special_values(dtype)[3:],  # signalling NaNs left out
            np.linspace(-30, 30, 301).astype(dtype),
        ]
    )
    return values[~np.isnan(values) | (np.arange(values.size) % 2 == 0)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_njit_code_calls_the_same_formula(name, dtype):
    f = getattr(fastact, name)

    @numba.njit
    def loop(xs, out):
        for i in range(xs.shape[0]):
            out[i] = f(xs[i])  # one scalar at a time, in the user's own loop

    xs = scalars(dtype)
    out = np.empty_like(xs)
    with np.errstate(all="ignore"):
        loop(xs, out)
        expected = f(xs)
    assert_same_bits(out, expected, f"{name} {np.dtype(dtype)} in njit code")


@pytest.mark.parametrize("name", sorted(n for n, spec in REGISTRY.items() if spec.params))
def test_parameters_by_position_and_by_keyword(name):
    spec = REGISTRY[name]
    f = getattr(fastact, name)
    values = tuple(p.default * 1.5 + 0.25 for p in spec.params)
    by_keyword = dict(zip((p.name for p in spec.params), values))

    @numba.njit
    def positional(x):
        return f(x, *values)

    xs = np.linspace(-5, 5, 41)
    expected = f(xs, **by_keyword)
    assert_same_bits(np.array([positional(x) for x in xs]), expected, f"{name} with parameters")
