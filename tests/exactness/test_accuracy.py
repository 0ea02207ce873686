"""Sigmoid accuracy over the whole float range, on every path, against the true sigmoid."""

import numpy as np
import pytest

import fastact
from fastact.testing.sigmoid import assert_within_ulp
from fastact.testing.ulp import max_ulp_error


def float32_sweep():
    """Every 1021st float32 bit pattern (4.2 million values, all exponents), finite ones: a
    sample for every run on each path and API (every float32: the slow test below)."""
    x = np.arange(0, 2**32, 1021, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return x[np.isfinite(x)]


def float64_sweep(rng):
    """Random bit patterns (all exponents) plus dense coverage of where sigmoid moves."""
    parts = [
        rng.integers(0, 2**64, 2_000_000, dtype=np.uint64).view(np.float64),
        rng.uniform(-750, 40, 2_000_000),
        rng.standard_normal(1_000_000),
        np.linspace(-746, -700, 100_000),
    ]
    x = np.concatenate(parts)
    return x[np.isfinite(x)]


@pytest.mark.parametrize("api", ["layer", "ufunc"])
def test_float32_within_2_ulp_everywhere(api, path):
    x = float32_sweep()
    out = fastact.Sigmoid().forward(x) if api == "layer" else fastact.sigmoid(x)
    assert_within_ulp(out, x, maxulp=2)


@pytest.mark.parametrize("api", ["layer", "ufunc"])
def test_float64_within_2_ulp_everywhere(api, path, rng):
    x = float64_sweep(rng)
    out = fastact.Sigmoid().forward(x) if api == "layer" else fastact.sigmoid(x)
    assert_within_ulp(out, x, maxulp=2)


@pytest.mark.slow
def test_float32_every_value_within_2_ulp():
    """Every float32 in (-104, 18), all 2.2 billion: outside it the result is 0 or 1 (or a
    subnormal the contract lets go). The reference is float64, 2**-28 ULP from the truth."""
    tiny = np.finfo(np.float32).tiny
    worst = 0.0
    for start in range(0, 2**32, 2**25):
        x = np.arange(start, start + 2**25, dtype=np.uint64).astype(np.uint32).view(np.float32)
        x = x[(x > -104) & (x < 18)]
        if not x.size:
            continue
        out = fastact.Sigmoid().forward(x)
        with np.errstate(over="ignore"):
            truth = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
        rounded = truth.astype(np.float32)
        normal = rounded >= tiny
        worst = max(worst, max_ulp_error(out[normal], truth[normal], np.float32, unit="rounded"))
        assert np.all(np.abs(out[~normal] - truth[~normal]) < tiny)
    assert worst <= 2.0, worst
