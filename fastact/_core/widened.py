"""float32 in and out, float64 inside: formulas whose float32 pairs cost more than float64's
halved SIMD lanes.

A float32 x converts to float64 exactly, and so do x * x and beta * x (24-bit factors, 48-bit
products): the quantities that erfc and exp amplify arrive exact. From there a short exp
(``EXP_FIT32``: 3e-12), for GELU one rational (2**-31.7) and for the log1p of Softplus and
LogSigmoid an atanh series (2**-36.5) carry each result to within ~2**-30 relative before
its one rounding to float32: within 0.51 ULP, where the float32 pairs
they replace (``libm32``) gave 0.78-1.77 ULP. Measured on the Intel VM at 1M (2 threads,
layers, old and new in alternating processes): GELU forward 1.35x and backward 1.8x,
GELU-tanh 2x both ways, Softplus forward 1.4x, LogSigmoid forward and SiLU backward 1.2x,
SiLU forward and the sigmoid backwards the same speed (at 1.77 and 0.78 ULP before; SiLU's
forward and the sigmoid backwards of Softplus and LogSigmoid have since gone back to float32,
``libm32``, with no pairs past exp's: 1.26-1.55x faster at under 2 ULP). Mish came here from
the float64 double-double code (rounded once): 2.5-3x faster forward and 2.1-2.8x backward,
still within 0.501 ULP (Intel VM, 1M, the conv view and the book's (100, 50)). Functions
with one division and no pairs (sigmoid, tanh) stay in float32: there the halved lanes cost
1.2-1.55x. The float64 divisions here stay too: float32's division and a Newton step instead
made every one of these loops 1.05-1.2x slower (alone, 1M quotients on one core: 534 against
307 us; here the divider is not what bounds the loop).

Each backward multiplies dout by a float64 factor and rounds once, so its bound holds for any
dout: 0.5 ULP plus the factor's relative error times 2**24 (the slow tests in
tests/exactness/test_single.py sweep the factors over every float32). Branch-free, no ordered
float compare a NaN could reach (clamps act on the bits); no flag but underflow where a result
is subnormal, as in ``libm32``.
"""

import numpy as np

from .jit import register_jitable
from .libm32 import _clamp as _clamp32
from .libm64 import _EXP_P32, _F64_TABLES, _clamp, _pow2, _reduce, exp_unscaled
from .scalar import _polynomial, _split, bitcast, fma, inline_here

_ABS = np.int32(0x7FFFFFFF)
_SIGN = np.int32(-0x80000000)
_RSQRT2PI = 0.3989422804014327  # 1 / sqrt(2 pi), within 2**-54


@register_jitable
def _exp(y):
    """exp(y) for -746 < y < 709 in float64, within ~2**-37 relative (``EXP_FIT32``)."""
    inline_here()
    r, rl, k = _reduce(y, 0.0)
    return _pow2(k) * (1.0 + fma(r * r, _polynomial(r, _EXP_P32), r))


@register_jitable
def _at_or_below_minus(x, far):
    """x <= -far (-inf and negative NaNs included), on the bits: negative floats order
    backwards as integers of their width."""
    inline_here()
    return (bitcast(x) < 0) & (bitcast(x) >= bitcast(-far))


@register_jitable
def _order(x):
    """float32 bits as an integer that orders like the values (NaNs beyond +-inf): a compare
    that no NaN turns into an invalid flag."""
    inline_here()
    b = bitcast(x)
    return b ^ ((b >> np.int32(31)) & _ABS)


@register_jitable
def _dout_times(dout, x, g, far):
    """dout g (g in float64) rounded once, for a derivative g that is 1 from x = far on and
    vanishes negative from -far down: there dout itself and 0.0 with the sign of -dout (no
    arithmetic: dout may be inf). NaN x gives x."""
    inline_here()
    y = np.float32(np.float64(dout) * g)
    y = dout if bitcast(x) >= bitcast(far) else y
    y = bitcast(np.int32((bitcast(dout) ^ _SIGN) & _SIGN)) if _at_or_below_minus(x, far) else y
    return y if x == x else x


# --- gelu (erf form) ----------------------------------------------------------------------

# Phi(-a) = exp(-a**2 / 2) R(a) for a = |x|, and R(a) (a + 4) is smooth in q = (a - 4) / (a + 4)
# on a in [0, 15] (q in [-1, 0.58]): a polynomial of degree 11 in q, fitted to relative error
# by least squares on Chebyshev nodes reweighted towards minimax (Lawson) against mpmath at
# 40 digits: 2**-31.7 relative. One division, and no erf/erfc switch at a = 0.5 as the float32
# pairs had.
_R_GELU = _split(
    (
        1.5899501285871995e-05,
        -1.3805728949792693e-05,
        -0.00021833134785470147,
        0.00014429830618771945,
        0.0016276144455032897,
        -0.0034832344044741738,
        -0.007539849476757807,
        0.06039705022671552,
        -0.18652187393497918,
        0.38713737818025035,
        -0.6078966416202349,
        0.7552851305851247,
    )
)
#: From |x| = 15 on, float32 gelu(x) rounds to x or to -0.0 and its derivative to 1 or 0.
_GELU_FAR = np.float32(15.0)


@register_jitable
def _gelu_parts(x):
    """(a, E, F): a = |x| clamped to 15, E = exp(-a**2 / 2), F = Phi(-a) = E R(a) (~2**-31)."""
    inline_here()
    a = abs(np.float64(_clamp32(x, -_GELU_FAR, _GELU_FAR)))  # NaN lands on a bound
    e = _exp(-0.5 * a * a)
    d = 1.0 / (a + 4.0)
    return a, e, e * (_polynomial((a - 4.0) * d, _R_GELU) * d)


@register_jitable
def gelu(x):
    """x Phi(x): x F for x < 0 and x (1 - F) above (F = Phi(-|x|) <= 1/2), rounded once."""
    inline_here()
    a, e, f = _gelu_parts(x)
    y = np.float32(np.float64(x) * (f if bitcast(x) < 0 else 1.0 - f))
    y = np.float32(-0.0) if _at_or_below_minus(x, _GELU_FAR) else y  # -inf's limit
    return y if x == x else x


@register_jitable
def gelu_derivative(x):
    """Phi(x) + x phi(x) in float64 for float32 x below 15 in magnitude: h = F - a phi(a) =
    F - E a / sqrt(2 pi) for x < 0 and 1 - h above. Near the root (x = -0.7518) the terms
    cancel; their ~2**-31 is then what counts, in ULPs of the terms."""
    inline_here()
    a, e, f = _gelu_parts(x)
    h = f - e * (a * _RSQRT2PI)
    return h if bitcast(x) < 0 else 1.0 - h


@register_jitable
def gelu_backward(dout, x):
    inline_here()
    return _dout_times(dout, x, gelu_derivative(x), _GELU_FAR)


# --- sigmoid's kin: silu, and the forwards of log_sigmoid and softplus ---------------------

#: sigmoid(-200) = 1.4e-87: times any float32 dout it rounds to zero, and 200 e**-200 too.
_SIGMOID_FAR = 200.0
_FAR32, _FAR32_LOW = np.float32(_SIGMOID_FAR), np.float32(-_SIGMOID_FAR)


@register_jitable
def silu_derivative(x):
    """sigmoid(x) (1 + x sigmoid(-x)) = e (1 + x + e) / (1 + e)**2 in float64, e = exp(x), for
    |x| <= 200 (e**200 < 1e87: nothing overflows, and no sign to select: sigmoid(x) = e / (1 +
    e) keeps e's relative precision at either end). 1 + x is exact; every term is positive
    from -1 up. Near the root (x = -1.2785) 1 + x + e cancels: there the error counts in ULPs
    of the terms. (With e = exp(-|x|) and both sigmoids selected by sign, the loop took 1.07x
    as long: one thread, 1M, Intel VM.)"""
    inline_here()
    z = np.float64(_clamp32(x, _FAR32_LOW, _FAR32))
    e = _exp(z)
    u = 1.0 + e
    return e * ((1.0 + z) + e) / (u * u)


@register_jitable
def silu_backward(dout, x):
    inline_here()
    return _dout_times(dout, x, silu_derivative(x), _FAR32)


# log1p(e) = 2 atanh(s) = 2s + 2 s z R(z), s = e / (2 + e), z = s**2 <= 1/9 for 0 <= e <= 1:
# R a Chebyshev fit (mpmath.chebyfit, 40 digits) of degree 5 on [0, 1/9], 2**-36.5 of the
# result; no reduction by sqrt2 needed.
_LOG1P_R = _split(
    (
        0.10393808427873376,
        0.08732351232720387,
        0.11132355604500663,
        0.1428515286094183,
        0.2000000538497483,
        0.33333333325011805,
    )
)


@register_jitable
def _log1p_exp(a):
    """log1p(exp(-a)) for float64 0 <= a <= 200, within ~2**-36 relative."""
    inline_here()
    e = _exp(-a)
    s = e / (2.0 + e)
    z = s * s
    return fma((s + s) * z, _polynomial(z, _LOG1P_R), s + s)


@register_jitable
def log_sigmoid(x):
    """min(x, 0) - log1p(exp(-|x|)), rounded once; x itself from x <= -200, +0.0 from 200 (the
    limit at +inf, as the float64 formula's)."""
    inline_here()
    xc = np.float64(_clamp32(x, _FAR32_LOW, _FAR32))
    y = np.float32((xc if bitcast(x) < 0 else 0.0) - _log1p_exp(abs(xc)))
    y = x if _at_or_below_minus(x, _FAR32) else y
    y = np.float32(0.0) if bitcast(x) >= bitcast(_FAR32) else y
    return y if x == x else x


@register_jitable
def softplus(x, beta, threshold):
    """``x if x * beta > threshold else log1p(exp(beta * x)) / beta`` (PyTorch's), with
    log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|)), z = beta * x exact, rounded once; 0 where
    z <= -200 (e**z / beta rounds to 0 for any beta above 1e-30)."""
    inline_here()
    xc = _clamp32(x, np.float32(-1e30), np.float32(1e30))  # beta * x stays finite for |beta| < 1e8
    z = np.float64(beta) * np.float64(xc)
    total = (z if bitcast(z) > 0 else 0.0) + _log1p_exp(_clamp(abs(z), -1.0, _SIGMOID_FAR))
    q = np.float32(total * (1.0 / np.float64(beta)))  # the reciprocal leaves the loop
    q = np.float32(0.0) if _at_or_below_minus(z, _SIGMOID_FAR) else q
    y = x if _order(xc * beta) > _order(threshold) else q
    return y if x == x else x


# --- mish ---------------------------------------------------------------------------------


#: From 20 up tanh(softplus(x)) is 1 in float64, and mish's derivative within 2**-51 of 1.
_MISH_TOP = np.float32(20.0)


@register_jitable
def mish(x):
    """x tanh(softplus(x)) = x T, rounded once: T = tanh(log(1 + e)) = n / (n + 2), n = e (e +
    2), e = exp(x) (a short exp, 2**-37) for x clamped to [-200, 20]. n and n + 2 are sums of
    positive terms, so T keeps e's relative precision (n at most doubles it, n / (n + 2) damps
    it by 2 / (n + 2) <= 1) and its roundings at 2**-53. -0.0 from x <= -200 (x e**x rounds to
    -0.0 in float32 from -110 on); from 20 up T is exactly 1 and the result x (inf from inf)."""
    inline_here()
    xc = np.float64(_clamp32(x, _FAR32_LOW, _MISH_TOP))  # NaN lands on a bound
    e = _exp(xc)
    n = e * (e + 2.0)
    y = np.float32((np.float64(x) if bitcast(x) > 0 else xc) * (n / (n + 2.0)))
    return y if x == x else x


#: mish's derivative near its root r (r_hi + r_lo, mpmath): sum of _MISH_ROOT_TAYLOR[k] h**(k + 1),
#: h = x - r, within 2**-44 relative for |h| <= 2**-10 (mpmath.taylor, 60 digits).
_MISH_ROOT_HI, _MISH_ROOT_LO = -1.1924312145154952, -4.8484829848031044e-17
_MISH_ROOT_TAYLOR = _split((-0.020271822716684245, 0.04190782104360987, 0.20473126408010586, 0.2669479140495345))
_MISH_ROOT_BAND = 2.0**-10


@register_jitable
def mish_derivative(x):
    """T + x sigmoid(x) (1 - T**2) in float64 for float32 x in [-200, 20] (where it is 1 above),
    within ~2**-44 relative however close x lies to the root: as one quotient in e = exp(x),

        (4 (1 + x) e + (6 + 4x) e**2 + 4 e**3 + e**4) / (2 + 2e + e**2)**2,

    every term positive from -1 up. Below, the numerator's last sum cancels towards the root
    (x = -1.19243): its terms carry ~2**-53 relative (e as ``libm64._exp`` computes it; 1 + x
    and 6 + 4x exact there), which the cancellation would amplify
    up to 0.13 float32 ULP at the float32 next to the root. Within 2**-10 of the root (where |g|
    < 2.6e-4 and that error would be over 2**-17 ULP) the Taylor polynomial in h = x - r, h
    exact to 2**-53 relative, takes over."""
    inline_here()
    z = np.float64(_clamp32(x, _FAR32_LOW, _MISH_TOP))
    y, k = exp_unscaled(z, _F64_TABLES)
    e = _pow2(k) * y  # k >= -289: one exact power of two
    num = e * fma(fma(e + 4.0, e, fma(4.0, z, 6.0)), e, 4.0 + 4.0 * z)
    den = fma(e + 2.0, e, 2.0)
    h = (z - _MISH_ROOT_HI) - _MISH_ROOT_LO  # z - _MISH_ROOT_HI exact (Sterbenz) in the band
    near = abs(h) <= _MISH_ROOT_BAND
    return h * _polynomial(h, _MISH_ROOT_TAYLOR) if near else num / (den * den)


@register_jitable
def mish_backward(dout, x):
    inline_here()
    return _dout_times(dout, x, mish_derivative(x), _FAR32)


# --- gelu_tanh (approximate="tanh") -------------------------------------------------------

# v = 2 sqrt(2/pi) (x + 0.044715 x**3) = C1 x + C3 x**3 (PyTorch's 0.044715 as the exact
# decimal: C3 = C1 * 0.044715 to 2**-53), v' = C1 + 3 C3 x**2.
_C1 = 1.5957691216057308
_C3 = 0.07135481627260025
_C33 = 0.21406444881780073
#: |x| beyond it: sigmoid(v) rounds to 1 (x >= 11), x sigmoid(v) to -0.0 (x <= -11).
_GELU_TANH_FAR = np.float32(11.0)


@register_jitable
def _gelu_tanh_parts(x):
    """(xc, xc**2, e) for xc = x clamped to +-11 in float64: xc**2 exact, e = exp(v) with v
    within 2**-52 relative (|v| <= 113, so exp's argument within 2**-45 absolute, and e < 1e50)."""
    inline_here()
    xc = np.float64(_clamp32(x, -_GELU_TANH_FAR, _GELU_TANH_FAR))
    x2 = xc * xc
    return xc, x2, _exp(xc * fma(_C3, x2, _C1))


@register_jitable
def gelu_tanh(x):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) = x sigmoid(v) = x e / (1 + e), rounded
    once."""
    inline_here()
    xc, x2, e = _gelu_tanh_parts(x)
    y = np.float32(np.float64(x) * (e / (1.0 + e)))  # x, not its clamp: inf from inf
    y = np.float32(-0.0) if _at_or_below_minus(x, _GELU_TANH_FAR) else y
    return y if x == x else x


@register_jitable
def gelu_tanh_derivative(x):
    """sigmoid(v) (1 + x v' sigmoid(-v)) = e (1 + e + x v') / (1 + e)**2 in float64 for |x| <
    11 (as ``silu_derivative``: 1.07x faster forward and 1.16x backward than with both sigmoids
    selected by sign). Near the root (x = -0.7522) the terms cancel: there the error counts in
    ULPs of the terms."""
    inline_here()
    xc, x2, e = _gelu_tanh_parts(x)
    u = 1.0 + e
    return e * (u + xc * fma(_C33, x2, _C1)) / (u * u)


@register_jitable
def gelu_tanh_backward(dout, x):
    inline_here()
    return _dout_times(dout, x, gelu_tanh_derivative(x), _GELU_TANH_FAR)
