"""float32 computed in float32 (fastact._single): every float32 against a float64 truth.

float64 NumPy (and SciPy's erfc) evaluations of the textbook formulas are within a few float64
ULP of the truth, 2**-28 of a float32 ULP: a truth for float32. Every 509th float32 in the regular run, every
float32 with -m slow (minutes).
"""

import functools

import numba
import numpy as np
import pytest
import scipy.special
from numba import prange
from test_formulas import KEEPS_NEGATIVE_ZERO

from fastact import _single
from fastact.activations import REGISTRY


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _log_sigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _silu_backward(x):
    s, n = _sigmoid(x), _sigmoid(-x)
    return s * (1.0 + x * n), s * (1.0 + np.abs(x * n))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _elu(x, alpha=1.0, scale=1.0):
    y = scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return y, np.abs(y)


def _elu_backward(x, alpha=1.0, scale=1.0):
    g = scale * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))
    return g, g


C1, C3 = 2 * np.sqrt(2 / np.pi), 2 * np.sqrt(2 / np.pi) * 0.044715


def _gelu_tanh(x):
    y = x * _sigmoid(C1 * x + C3 * x**3)
    return y, np.abs(y)


def _gelu_tanh_backward(x):
    v = C1 * x + C3 * x**3
    s, n, w = _sigmoid(v), _sigmoid(-v), C1 + 3 * C3 * x**2
    return s * (1 + x * w * n), s * (1 + np.abs(x * w * n))


def _gelu(x):
    y = x * 0.5 * scipy.special.erfc(-x / np.sqrt(2))
    return y, np.abs(y)


def _gelu_backward(x):
    phi = x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    cdf = 0.5 * scipy.special.erfc(-x / np.sqrt(2))
    return cdf + phi, cdf + np.abs(phi)


#: (activation, direction) -> float64 x -> (truth, size of its terms), PyTorch's defaults
TRUTH = {
    ("elu", "forward"): _elu,
    ("elu", "backward"): _elu_backward,
    ("selu", "forward"): lambda x: _elu(x, SELU_ALPHA, SELU_SCALE),
    ("selu", "backward"): lambda x: _elu_backward(x, SELU_ALPHA, SELU_SCALE),
    ("tanh", "forward"): lambda x: (np.tanh(x), np.abs(np.tanh(x))),
    ("silu", "forward"): lambda x: (x * _sigmoid(x), np.abs(x * _sigmoid(x))),
    ("silu", "backward"): _silu_backward,
    ("log_sigmoid", "forward"): lambda x: (_log_sigmoid(x), np.abs(_log_sigmoid(x))),
    ("log_sigmoid", "backward"): lambda x: (_sigmoid(-x), _sigmoid(-x)),
    ("softplus", "forward"): lambda x: (np.where(x > 20, x, -_log_sigmoid(-x)), np.abs(_log_sigmoid(-x))),
    ("softplus", "backward"): lambda x: (np.where(x > 20, 1.0, _sigmoid(x)), _sigmoid(x)),
    ("gelu", "forward"): _gelu,
    ("gelu", "backward"): _gelu_backward,
    ("gelu_tanh", "forward"): _gelu_tanh,
    ("gelu_tanh", "backward"): _gelu_tanh_backward,
}
KEYS = sorted(_single.NATIVE)


def test_every_native_function_has_a_truth():
    assert set(TRUTH) == set(_single.NATIVE)


@functools.cache
def loop(key):
    """A parallel loop of the function over an array (dout = 1 for backward)."""
    act = REGISTRY[key[0]]
    f = act.forward if key[1] == "forward" else act.backward
    p = tuple(np.float32(v) for v in act.defaults)  # PyTorch's defaults

    def forward(x, out):
        for i in prange(x.size):
            out[i] = f(x[i], *p)

    def backward(x, out):
        for i in prange(x.size):
            out[i] = f(np.float32(1.0), x[i], *p)

    return numba.njit(parallel=True, error_model="numpy")(forward if key[1] == "forward" else backward)


def run(key, x):
    out = np.empty_like(x)
    with np.errstate(all="raise", under="ignore"):  # no overflow, invalid or divide flag
        loop(key)(x, out)
    return out


def ulp32(v):
    """The float32 ULP at |v| (the subnormal ULP below FLT_MIN), as float64."""
    tiny = np.finfo(np.float32).tiny
    r = np.minimum(np.abs(v), np.finfo(np.float32).max).astype(np.float32)
    return np.where(r < tiny, 2.0**-149, np.spacing(np.maximum(r, tiny)).astype(np.float64))


def worst_error(key, x):
    """Max error over x in float32 ULPs of the truth; where the terms cancel by 2x or more,
    in ULPs of the terms (the escape float64's formulas take near a derivative's root)."""
    y = run(key, x)
    with np.errstate(all="ignore"):
        t, size = TRUTH[key](x.astype(np.float64))
    with np.errstate(over="ignore"):
        finite = np.isfinite(t.astype(np.float32))  # beyond FLT_MAX the float32 truth is inf
        assert np.array_equal(y[~finite], t[~finite].astype(np.float32)), key  # the limits
    y, t, size, x = y[finite], t[finite], size[finite], x[finite]
    err = np.abs(y - t) / ulp32(t)
    err = np.where(size > 2 * np.abs(t), np.minimum(err, np.abs(y - t) / ulp32(size)), err)
    i = int(np.argmax(err))
    return float(err[i]), x[i]


def sweep(key, step):
    worst, where = 0.0, None
    chunk = 1 << 24
    for start in range(0, 1 << 32, chunk * step):
        bits = np.arange(start, min(start + chunk * step, 1 << 32), step, dtype=np.uint64)
        x = bits.astype(np.uint32).view(np.float32)
        x = x[~np.isnan(x)]
        err, at = worst_error(key, x)
        if err > worst:
            worst, where = err, at
    return worst, where


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_every_509th_float32_within_the_bound(key):
    worst, where = sweep(key, 509)
    assert worst <= _single.NATIVE[key], f"{key}: {worst} ULP at {where!r}"


@pytest.mark.slow
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_every_float32_within_the_bound(key):
    worst, where = sweep(key, 1)
    assert worst <= _single.NATIVE[key], f"{key}: {worst} ULP at {where!r}"


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_special_values(key):
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45], np.float32)
    y = run(key, x)
    assert np.isnan(y[:2]).all()
    if key[1] == "forward" and key[0] in KEEPS_NEGATIVE_ZERO:  # odd at 0, or x passed through
        assert (y[4:6] == 0).all() and np.signbit(y[4:6]).tolist() == [False, True]
