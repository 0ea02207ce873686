"""float32 computed in float32 (fastact._core.libm32): every float32 against a float64 truth.

The truth is the textbook formula in float64 from libm (``math``: exp, expm1, log1p, tanh,
erfc, each within an ULP or two of float64), 2**-28 of a float32 ULP: a truth for float32.
The sweep is one numba loop per chunk (truth, function and error together), parallel for
the exhaustive run. Every 509th float32 in the regular run, every float32 with -m slow (about
a minute per function).
"""

import functools
import math

import numba
import numpy as np
import pytest
from numba import prange

from fastact._core import libm32, widened
from fastact._core.libm32 import exp_split
from fastact._core.scalar import bitcast
from fastact.activations import REGISTRY, ROUNDED_ONCE
from fastact.testing.family import KEEPS_NEGATIVE_ZERO
from fastact.testing.truths import FLOAT64 as TRUTH
from fastact.testing.truths import ROOTS, truth

#: (name, direction) of every formula computed in float32, with its bound, from the registry
BOUNDS = {
    (name, direction): spec.ulp32[i]
    for name, spec in REGISTRY.items()
    for i, direction in enumerate(("forward", "backward"))
    if spec.ulp32[i] is not None
}
KEYS = sorted(BOUNDS)


def test_every_native_function_has_a_truth():
    assert set(KEYS) <= set(TRUTH)


@numba.njit(error_model="numpy")
def _ulp32(v):
    """The float32 ULP at |v| rounded to float32 (the subnormal ULP below FLT_MIN)."""
    m, e = math.frexp(np.float64(np.float32(abs(v))))
    return 2.0 ** max(e - 24, -149)


@functools.cache
def sweeper(key, parallel):
    """A loop over float32 bit patterns start, start + step, ...: each one's error in
    float32 ULPs of the truth (in ULPs of the terms where they cancel by 2x or more: the escape
    float64's formulas take near a derivative's root; 0 for NaN inputs; inf where an infinite
    float32 truth or result is not matched exactly). dout = 1 for backward. Parallel for the
    exhaustive sweep only: every 509th float32 takes a fraction of a second serial, and a
    parallel build cost 2.4x a serial one to compile (0.85 s against 0.35, Intel VM), on
    cores the test workers already keep busy."""
    act = REGISTRY[key[0]]
    f = act.forward if key[1] == "forward" else act.backward
    p = tuple(np.float32(v) for v in act.defaults)  # PyTorch's defaults
    truth = TRUTH[key]
    forward = key[1] == "forward"
    big = np.float64(np.finfo(np.float32).max)

    def sweep(start, step, err):
        for i in prange(err.size):
            xf = bitcast(np.int32(start + i * step))  # wraps above 2**31: the sign bit
            if xf != xf:
                err[i] = 0.0
                continue
            y = f(xf, *p) if forward else f(np.float32(1.0), xf, *p)
            t, size = truth(np.float64(xf))
            if t != t:  # the textbook formula's inf * 0 at +-inf: its limit, from +-FLT_MAX
                t, size = truth(big if xf > 0 else -big)
            if not (abs(t) <= big) or not (abs(y) <= np.float32(big)):
                err[i] = 0.0 if np.float32(t) == y else np.inf
                continue
            d = abs(np.float64(y) - t)
            e = d / _ulp32(t)
            if size > 2 * abs(t):
                e = min(e, d / _ulp32(size))
            err[i] = e

    return numba.njit(parallel=parallel, error_model="numpy")(sweep)


def sweep(key, step):
    """(max error, the x where it is) over every step-th float32 bit pattern."""
    worst, where = 0.0, None
    chunk = 1 << 22
    err = np.empty(chunk)
    run = sweeper(key, step == 1)
    for start in range(0, 1 << 32, chunk * step):
        n = min(chunk, ((1 << 32) - start + step - 1) // step)
        run(start, step, err[:n])
        i = int(np.argmax(err[:n]))
        if err[i] > worst:
            worst, where = float(err[i]), np.array([start + i * step], np.uint32).view(np.float32)[0]
    return worst, where


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_every_509th_float32_within_the_bound(key):
    worst, where = sweep(key, 509)
    assert worst <= BOUNDS[key], f"{key}: {worst} ULP at {where!r}"


@pytest.mark.slow
@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_every_float32_within_the_bound(key):
    worst, where = sweep(key, 1)
    assert worst <= BOUNDS[key], f"{key}: {worst} ULP at {where!r}"


@functools.cache
def loop(key):
    """A loop of the function over an array (dout = 1 for backward)."""
    act = REGISTRY[key[0]]
    f = act.forward if key[1] == "forward" else act.backward
    p = tuple(np.float32(v) for v in act.defaults)

    def forward(x, out):
        for i in range(x.size):
            out[i] = f(x[i], *p)

    def backward(x, out):
        for i in range(x.size):
            out[i] = f(np.float32(1.0), x[i], *p)

    return numba.njit(error_model="numpy")(forward if key[1] == "forward" else backward)


@pytest.mark.parametrize("key", KEYS, ids="-".join)
def test_special_values(key):
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45], np.float32)
    out = np.empty_like(x)
    with np.errstate(all="raise", under="ignore"):  # no overflow, invalid or divide flag
        loop(key)(x, out)
    assert np.isnan(out[:2]).all()
    if key[1] == "forward" and key[0] in KEEPS_NEGATIVE_ZERO:  # odd at 0, or x passed through
        assert (out[4:6] == 0).all() and np.signbit(out[4:6]).tolist() == [False, True]


@numba.njit(parallel=True, error_model="numpy")
def _exp_pair_worst(n):
    """max over x = -(every float32 from 0 to 110) of |(hi + lo) 2**k - exp(x)| / exp(x), the
    exp that ELU's and SELU's backward take (libm32._elu_backward)."""
    step = n // 1024 + 1
    worst = np.zeros(1024)
    for c in prange(1024):
        w = 0.0
        for i in range(c * step, min(n, (c + 1) * step)):
            x = -bitcast(np.int32(i))
            hi, lo, j = exp_split(x)
            e = (np.float64(hi) + np.float64(lo)) * 2.0 ** (np.float64(j) - np.float64(libm32._SHIFT))
            t = math.exp(np.float64(x))
            w = max(w, abs(e - t) / t)
        worst[c] = w
    return worst.max()


@pytest.mark.slow
def test_elu_backward_bound_holds_for_every_dout():
    """The sweeps above take dout = 1. ELU's and SELU's backward multiply dout by a factor
    within 0.757 * 2**-24 of the truth (relative) and round once, so their bound, for any
    dout, is 0.5 + 0.757 ULP + the pair's 2**-47: this proves the factor's half."""
    worst = _exp_pair_worst(int(np.float32(110.0).view(np.int32)) + 1)
    assert worst <= 0.757151 * 2.0**-24
    for name in ("elu", "selu"):
        assert REGISTRY[name].ulp32[1] >= 0.5 + 0.757151 + 2.0**-20


def _gelu_factor(x):
    xd = np.float64(x)
    big_phi = 0.5 * math.erfc(-xd / math.sqrt(2.0))
    x_phi = xd * math.exp(-0.5 * xd * xd) / math.sqrt(2.0 * math.pi)
    return widened.gelu_derivative(x), big_phi + x_phi, big_phi + abs(x_phi)


def _silu_factor(x):
    xd = np.float64(x)
    s = 1.0 / (1.0 + math.exp(-xd))
    n = 1.0 / (1.0 + math.exp(xd))
    return widened.silu_derivative(x), s * (1.0 + xd * n), s * (1.0 + abs(xd) * n)


def _gelu_tanh_factor(x):
    xd = np.float64(x)
    c1 = math.sqrt(8.0 / math.pi)
    v = c1 * (xd + 0.044715 * xd**3)
    s = 1.0 / (1.0 + math.exp(-v))
    n = 1.0 / (1.0 + math.exp(v))
    w = xd * c1 * (1.0 + 3 * 0.044715 * xd * xd) * n
    return widened.gelu_tanh_derivative(x), s * (1.0 + w), s * (1.0 + abs(w))


_MISH_TRUTH = TRUTH["mish", "backward"]


def _mish_factor(x):
    t, size = _MISH_TRUTH(np.float64(x))
    return widened.mish_derivative(x), t, size


#: The float64 factors the float32 backwards of ``widened`` multiply dout by, each with its
#: truth (textbook float64 from libm, ~2**-50 relative) and the size of its terms, and where
#: they are swept (beyond it each backward selects dout or a signed zero).
FACTORS = {
    "gelu": (_gelu_factor, 15.0, ("gelu",)),
    "gelu_tanh": (_gelu_tanh_factor, 11.0, ("gelu_tanh",)),
    "silu": (_silu_factor, 200.0, ("silu",)),
    "mish": (_mish_factor, 200.0, ("mish",)),
}


@functools.cache
def factor_sweeper(factor):
    """The sweep of ``factor`` (x -> value, truth, size of the terms) as a parallel loop."""
    factor = numba.njit(factor)

    def worst(n):
        """max over x = +-(every float32 from 0 below the n-th) of |g - truth| / size."""
        step = n // 1024 + 1
        out = np.zeros(1024)
        for c in prange(1024):
            w = 0.0
            for i in range(c * step, min(n, (c + 1) * step)):
                for sign in (np.float32(1.0), np.float32(-1.0)):
                    g, t, size = factor(bitcast(np.int32(i)) * sign)
                    w = max(w, abs(g - t) / size)
            out[c] = w
        return out.max()

    return numba.njit(parallel=True, error_model="numpy")(worst)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FACTORS))
def test_widened_backward_bounds_hold_for_every_dout(name):
    """These backwards round dout * g once, g in float64: within 0.5 ULP of the truth and g's
    relative error times 2**24 (2**-28: a sixteenth of an ULP) for any dout. This proves g's
    half for every float32 x (relative to the size of the terms, which is the result's size
    except near a root where they cancel)."""
    _, far, users = FACTORS[name]
    worst = factor_sweeper(FACTORS[name][0])(int(np.float32(far).view(np.int32)))
    assert worst <= 2.0**-28
    for user in users:
        assert REGISTRY[user].ulp32[1] >= 0.5 + worst * 2.0**24


def _sigmoid_denominator(z):
    """The denominator d that libm32.dout_times_sigmoid divides dout by, d 2**K against
    1 + e**-z."""
    d, k = libm32.sigmoid_denominator(z, np.float32(0.0))
    t = (1.0 + math.exp(-np.float64(z))) * 2.0 ** -np.float64(k)
    return np.float64(d), t, t


@pytest.mark.slow
def test_dout_times_sigmoid_bound_holds_for_every_dout():
    """Softplus's and LogSigmoid's float32 backward divide dout by d and round once (the
    scaling by 2**-K is exact unless the result is subnormal, where it rounds once more with
    a smaller ULP to count in): within 0.5 ULP and d's relative error times 2**24 for any dout.
    This proves d's half for every float32 z (beta = 1: zl = 0) up to 200, from where z is
    clamped (sigmoid(-200) times any float32 rounds to zero)."""
    worst = factor_sweeper(_sigmoid_denominator)(int(np.float32(200.0).view(np.int32)) + 1)
    for name in ("softplus", "log_sigmoid"):
        assert REGISTRY[name].ulp32[1] >= 0.5 + worst * 2.0**24, worst * 2.0**24


@functools.cache
def _mish_factor_loop():
    def run(x, out):
        for i in range(x.size):
            out[i] = widened.mish_derivative(x[i])

    return numba.njit(error_model="numpy")(run)


@pytest.mark.parametrize("reach,step", [(600, 1), (2**-9, 16), pytest.param(2**-9, 1, marks=pytest.mark.slow)])
def test_mish_backward_stays_relative_next_to_its_root(reach, step):
    """Near its root mish's derivative vanishes and its terms cancel; the float32 backward
    multiplies dout by the float64 factor g and rounds once, so it holds ROUNDED_ONCE for any
    dout only while g keeps 2**-24 * (ROUNDED_ONCE - 0.5) relative to itself, not to the
    terms (no escape). Checked against mpmath on the float32 next to the root (reach as a
    count), and over twice the band the Taylor polynomial serves (reach as a distance)."""
    root = np.float32(ROOTS["mish"])
    if isinstance(reach, int):
        x = root.view(np.int32) + np.arange(-reach, reach + 1, step, dtype=np.int32)
    else:
        lo, hi = np.array([root - reach, root + reach], np.float32).view(np.int32)
        x = np.arange(min(lo, hi), max(lo, hi) + 1, step, dtype=np.int32)
    x = x.view(np.float32)
    g = np.empty(x.size)
    _mish_factor_loop()(x, g)
    t, _ = truth("mish", "backward", x, np.ones_like(x))
    rel = np.abs(g.astype(np.longdouble) - t) / np.abs(t)
    assert rel.max() <= 2.0**-24 * (ROUNDED_ONCE - 0.5), (rel.max(), x[np.argmax(rel)])
    assert REGISTRY["mish"].ulp32[1] == ROUNDED_ONCE
