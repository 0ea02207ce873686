"""fastact._core.libm64: accuracy against high-precision truth, special values, no FP flags, SIMD.

Truth: np.longdouble (x87 80-bit, 11 bits beyond float64: errors are resolved to 1/2000 ULP)
for exp, expm1, log, log1p, tanh; mpmath for erf and erfc. Float32 results are checked against
float64 truth (longdouble functions, or for erf/erfc fastact's float64 results, themselves
checked against mpmath here and within 2 float64 ULP = 2**-28 float32 ULP).
"""

import math

import mpmath
import numpy as np
import pytest

import fastact._core.libm64
from fastact.activations import REGISTRY, ROUNDED_ONCE
from fastact.testing.ir import as_ufunc, assert_simd, prange_loop_ir, ufunc_loop_ir
from fastact.testing.ulp import ulp_error
from fastact.testing.values import UINT, every_magnitude, quiet_special_values

NAMES = ["exp", "expm1", "log", "log1p", "tanh", "erf", "erfc"]
ODD = ["expm1", "log1p", "tanh", "erf"]  # -0.0 -> -0.0
#: The claimed max errors (ULP) for float64; float32 results are within a hair of 0.5.
BOUND64 = {"exp": 1.0, "expm1": 1.5, "log": 1.0, "log1p": 1.0, "tanh": 1.0, "erf": 1.5, "erfc": 1.5}
#: float32 through the float64 code is rounded once; tanh is computed in float32 (fastact._core.libm32)
BOUND32 = dict.fromkeys(BOUND64, ROUNDED_ONCE) | {"tanh": REGISTRY["tanh"].bound("forward", np.float32)}
LONGDOUBLE_TRUTH = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh}
EXTENDED = np.finfo(np.longdouble).nmant >= 63


def ufunc(name):
    return as_ufunc(getattr(fastact._core.libm64, name))


def mp_truth(name, x):
    fn = {"erf": mpmath.erf, "erfc": mpmath.erfc}[name]
    with mpmath.workdps(40):
        return np.array([np.longdouble(mpmath.nstr(fn(mpmath.mpf(float(v))), 30)) for v in x])


def float64_inputs(name, rng, n):
    """Random inputs over every magnitude, plus dense sweeps where the function moves."""
    sweeps = {
        "exp": [(-746, 710)],
        "expm1": [(-40, 40), (-1, 1)],
        "log": [(0, 4), (1e-320, 1e-300)],
        "log1p": [(-1, 2), (-1e-5, 1e-5)],
        "tanh": [(-20, 20), (-1, 1)],
        "erf": [(-6, 6), (-1.5, 1.5)],
        "erfc": [(-6, 28), (-1, 1)],
    }[name]
    parts = [every_magnitude(n, rng)]
    parts += [rng.uniform(a, b, n // 2) for a, b in sweeps]
    x = np.concatenate(parts)
    return np.abs(x) if name == "log" else x


@pytest.mark.skipif(not EXTENDED, reason="needs an 80-bit np.longdouble")
@pytest.mark.parametrize("name", sorted(LONGDOUBLE_TRUTH))
def test_float64_accuracy_against_longdouble(name, rng):
    x = float64_inputs(name, rng, 1_000_000)
    if name == "log1p":
        x = x[x >= -1]
    with np.errstate(all="ignore"):
        truth = LONGDOUBLE_TRUTH[name](x.astype(np.longdouble))
    with np.errstate(all="raise", under="ignore"):
        y = ufunc(name)(x)
    err = ulp_error(y, truth, np.float64)
    i = int(np.argmax(err))
    assert err[i] <= BOUND64[name], f"{name}({x[i]!r}) = {y[i]!r}, truth {truth[i]!r}: {err[i]} ULP"


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_float64_accuracy_against_mpmath(name, rng):
    x = np.concatenate(
        [
            every_magnitude(10_000, rng, -20, 2),
            rng.uniform(-6, 6, 20_000),
            rng.uniform(-1, 1, 10_000),
            rng.uniform(-1, 28, 10_000) if name == "erfc" else [],
        ]
    )
    truth = mp_truth(name, x)
    y = ufunc(name)(x)
    err = ulp_error(y, truth, np.float64)
    i = int(np.argmax(err))
    assert err[i] <= BOUND64[name], f"{name}({x[i]!r}) = {y[i]!r}, truth {truth[i]!r}: {err[i]} ULP"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_float64_accuracy_against_mpmath_1m(name, rng):
    x = float64_inputs(name, rng, 400_000)
    x = x[np.abs(x) < 30]
    x = np.concatenate([x, rng.uniform(-6, 28, 1_000_000 - x.size)])
    truth = mp_truth(name, x)
    err = ulp_error(ufunc(name)(x), truth, np.float64)
    assert err.max() <= BOUND64[name], f"{name}: {err.max()} ULP at {x[np.argmax(err)]!r}"


def float32_truth(name, x):
    if name in LONGDOUBLE_TRUTH:
        with np.errstate(all="ignore"):
            return LONGDOUBLE_TRUTH[name](x.astype(np.longdouble))
    return ufunc(name)(x.astype(np.float64))


def float32_sweep(name, step, chunk=1 << 24):
    """Max float32 error over every step-th float32 bit pattern (NaNs included)."""
    worst, where = 0.0, None
    for start in range(0, 1 << 32, chunk * step):
        bits_ = np.arange(start, min(start + chunk * step, 1 << 32), step, dtype=np.uint64)
        x = bits_.astype(np.uint32).view(np.float32)
        x = x[~np.isnan(x) | (bits_ & (1 << 22) != 0)]  # a signalling NaN signals (NumPy too)
        with np.errstate(all="raise", under="ignore"):
            y = ufunc(name)(x)
        err = ulp_error(y, float32_truth(name, x), np.float32)
        i = int(np.argmax(err))
        if err[i] > worst:
            worst, where = float(err[i]), (x[i], y[i])
    return worst, where


@pytest.mark.skipif(not EXTENDED, reason="needs an 80-bit np.longdouble")
@pytest.mark.parametrize("name", NAMES)
def test_float32_every_509th(name):
    # 8.4M values of every exponent (509 is prime: no bit pattern is favoured); every float32
    # in the slow test below
    worst, where = float32_sweep(name, 509, chunk=1 << 22)
    assert worst <= BOUND32[name], f"{name}: {worst} ULP at {where}"


@pytest.mark.slow
@pytest.mark.skipif(not EXTENDED, reason="needs an 80-bit np.longdouble")
@pytest.mark.parametrize("name", NAMES)
def test_float32_exhaustive(name):
    worst, where = float32_sweep(name, 1)
    assert worst <= BOUND32[name], f"{name}: {worst} ULP at {where}"


# --- special values -----------------------------------------------------------------------


LIMITS = {  # f(-inf), f(+inf)
    "exp": (0.0, np.inf),
    "expm1": (-1.0, np.inf),
    "log": (np.nan, np.inf),
    "log1p": (np.nan, np.inf),
    "tanh": (-1.0, 1.0),
    "erf": (-1.0, 1.0),
    "erfc": (2.0, 0.0),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_special_values(name, dtype):
    f = ufunc(name)
    dtype = np.dtype(dtype)
    nan_bits = {
        np.float32: [0x7FC00000, 0xFFC00000, 0x7FC00123],
        np.float64: [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF8000000000123],
    }
    nans = np.array(nan_bits[dtype.type], UINT[dtype]).view(dtype)
    assert np.isnan(f(nans)).all()
    lo, hi = LIMITS[name]
    got = f(np.array([-np.inf, np.inf], dtype))
    np.testing.assert_array_equal(got, np.array([lo, hi], dtype))
    zero = f(np.array([0.0, -0.0], dtype))
    if name in ODD:
        assert np.signbit(zero).tolist() == [False, True] and (zero == 0).all()
    if name == "log":
        np.testing.assert_array_equal(zero, [-np.inf, -np.inf])
        assert np.isnan(f(np.array([-1.0, -np.finfo(dtype).smallest_subnormal], dtype))).all()
    if name == "log1p":
        np.testing.assert_array_equal(f(np.array([-1.0], dtype)), [-np.inf])
        assert np.isnan(f(np.array([-1.5, -1e30], dtype))).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "expm1"])
def test_overflow_threshold(name, dtype):
    """The largest input with a finite result gives a finite result, the next one inf."""
    last = {np.float32: np.float32(88.72283), np.float64: np.float64(709.782712893384)}[dtype]
    with mpmath.workdps(40):
        assert mpmath.exp(float(last)) < np.finfo(dtype).max
        assert mpmath.exp(float(np.nextafter(last, dtype(np.inf)))) > np.finfo(dtype).max
    with np.errstate(all="raise"):
        y = ufunc(name)(np.array([last, np.nextafter(last, dtype(np.inf))], dtype))
    assert np.isfinite(y[0]) and y[1] == np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_no_floating_point_flags(name, dtype, rng):
    """Overflow, divide-by-zero and invalid are never raised (quiet NaNs and infinities
    included); underflow is, where a result is subnormal, like NumPy's own np.exp."""
    top = 308 if dtype == np.float64 else 38
    x = np.concatenate([quiet_special_values(dtype), every_magnitude(100_000, rng, -45, top).astype(dtype)])
    with np.errstate(all="raise", under="ignore"):
        ufunc(name)(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_layouts_and_shapes(name, dtype, rng):
    """The ufunc over 0-d, empty, N-D and strided inputs equals it over a flat copy."""
    f = ufunc(name)
    for shape in [(), (0,), (7,), (3, 4, 5)]:
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        expected = f(np.ravel(x)).reshape(np.shape(x))
        np.testing.assert_array_equal(f(x), expected)
        np.testing.assert_array_equal(f(np.asfortranarray(x)), expected)
        if x.ndim:
            np.testing.assert_array_equal(f(np.swapaxes(x, 0, -1)), np.swapaxes(expected, 0, -1))
        assert f(x).shape == np.shape(x) and f(x).dtype == dtype
    big = (rng.standard_normal((9, 11)) * 3).astype(dtype)
    np.testing.assert_array_equal(f(big[::2, ::3]), f(np.ascontiguousarray(big[::2, ::3])))


def test_float32_uses_its_own_type():
    """float32 in, float32 out: the float64 inside never leaks into the result type."""
    for name in NAMES:
        assert ufunc(name)(np.float32(0.5)).dtype == np.float32


# --- vectorization ------------------------------------------------------------------------


@pytest.mark.vector_ir
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_loops_vectorize(name, dtype):
    """A prange loop and numba's ufunc loop over the function compile to SIMD: the LLVM IR
    holds <N x float> / <N x double> vectors. Fresh compiles (cached code has no IR)."""
    f = getattr(fastact._core.libm64, name)
    assert_simd(prange_loop_ir(f, 1, dtype), dtype, f"{name} prange {np.dtype(dtype)}")
    assert_simd(ufunc_loop_ir(f, 1, dtype), dtype, f"{name} ufunc {np.dtype(dtype)}")


def test_math_module_agrees_on_easy_points():
    """A sanity anchor that does not depend on longdouble: Python's math module."""
    for name in NAMES:
        f = ufunc(name)
        for v in (0.5, 1.5, 3.0):
            ref = getattr(math, name)(v)
            assert abs(f(np.float64(v)) - ref) <= 2 * abs(np.spacing(ref))
