"""Branch-free scalar math that vectorizes: exp, expm1, log, log1p, tanh, erf, erfc.

numba has no vector math library (no SVML), and ``math.expm1``, ``log1p``, ``tanh``, ``erf``
are libm calls: one of them in a loop body keeps the whole loop scalar. The functions here are
written from FMAs, selects and integer bit operations only, so the loops that call them
vectorize (checked in LLVM IR by the tests), and they are accurate to about one ULP.

Each public name (``exp(x)`` ...) is an ``overload``: called from compiled code with a float32
or float64, it picks the implementation for that type. The float64 implementations below are
the real ones; float32 values are computed by the float64 code with shorter polynomials (good to
~1e-11 relative) and rounded once to float32, which makes the float32 results correctly
rounded except within a hair of a rounding tie. tanh is the exception: float32 is computed in
float32 (``libm32.tanh``: its bound over every float32 is the tanh declaration's ``ulp32``; 4x faster).

Exactness (measured against mpmath, see tests/exactness/test_special.py and
benchmarks/accuracy_family.py): every function within 2 ULP everywhere (most within 1); NaN in,
NaN out; the limits at +-inf; -0.0 kept by the odd functions (tanh, erf, expm1, log1p).

Floating-point flags: no input raises overflow, divide-by-zero or invalid (those make NumPy
warn after a ufunc loop), except a *signalling* NaN, which raises invalid on any arithmetic use
as in NumPy's own ufuncs. Out-of-range results (exp(1000) = inf, log(0) = -inf, log(-1) = NaN)
are built from bits and selects, never by overflowing arithmetic; ordered float compares and
float min/max are avoided where a NaN may reach them (on x86 they raise invalid on any NaN),
integer compares of the bits take their place. Results that are subnormal set the underflow
flag, like NumPy's own ``np.exp(-740)``; NumPy ignores underflow by default.
"""

import numpy as np
from numba import types

from . import libm32
from .jit import overload, register_jitable
from .scalar import _F64, ERF_FIT32, EXP_FIT32, _polynomial, _split, bitcast, fma, inline_here, two_prod, two_sum

# --- shared pieces ------------------------------------------------------------------------


_LOG2E = _F64[0]
_LN2_HI = _F64[1]  # 32 significant bits: k * _LN2_HI is exact for |k| < 2**21
_LN2_LO = _F64[2]
_SHIFT = 1.5 * 2.0**52  # adding it rounds to an integer, held in the low mantissa bits
_SHIFT_BITS = np.int64(0x4338000000000000)
_ABS = np.int64(0x7FFFFFFFFFFFFFFF)
_SIGN = np.int64(-0x8000000000000000)
_INF_BITS = np.int64(0x7FF0000000000000)
_NAN = float("nan")

#: The largest x whose exp(x) rounds to a finite float64 (fdlibm's o_threshold); above it,
#: exp and expm1 are +inf.
_EXP_MAX = 7.09782712893383973096e02
#: exp(x) rounds to 0 below about -745.13; the clamp keeps 2**k buildable.
_EXP_MIN = -746.0
#: expm1(x) rounds to -1 for x below about -37.4.
_EXPM1_MIN = -40.0

# Polynomial tables, highest degree first, each split for _polynomial (odd and even powers).
# P in exp(r) = 1 + r + r**2 P(r) on |r| <= ln2/2: Chebyshev fits (mpmath.chebyfit, 40 digits)
# of (exp(r) - 1 - r) / r**2, degree 10 for float64 (fit error 1.7e-19 after the r**2 factor;
# scalar's degree 9, 1.3e-17, is half an ULP of expm1 where it cancels near x = ln2/2) and 6
# for float32 (3e-12): plenty before rounding to float32.
_EXP_P64 = _split(
    (
        2.0914898727175524e-09,
        2.5105513541847086e-08,
        2.755727313289604e-07,
        2.7557254685728803e-06,
        2.480158732595111e-05,
        0.0001984126987538548,
        0.0013888888888883633,
        0.008333333333325973,
        0.04166666666666667,
        0.1666666666666667,
        0.5,
    )
)
_EXP_P32 = _split(EXP_FIT32)

# erfc(a) = exp(-a**2) (1 + P(q)) / (1 + 2a), q = (a - 3) / (a + 3), for 0 <= a <= 27.3
# (q in [-1, 0.802]). (1 + 2a) exp(a**2) erfc(a) is smooth in q up to q = 1 (a = inf), so a
# polynomial in q fits it on the whole half line: Chebyshev fits of degree 24 (error 1.7e-18)
# and 14 (2.3e-11, for float32).
_ERFC_K = 3.0
_ERFC_P64 = _split(
    (
        5.583806429327011e-10,
        2.956106464354406e-10,
        -7.615512116966854e-09,
        -1.071688681929811e-08,
        4.1077038138468834e-08,
        9.760149970565255e-08,
        -1.4176265099424317e-07,
        -6.126772231340554e-07,
        3.5755855578470205e-07,
        3.470101046768449e-06,
        -7.320875578021364e-07,
        -2.0099694021318905e-05,
        4.9497245033204926e-06,
        0.00012509913767568294,
        -0.0001051598572358333,
        -0.0007798322386276469,
        0.0018886903670115092,
        0.0025293918129280163,
        -0.023770514919204698,
        0.0683080273441382,
        -0.11927366341529073,
        0.12964515870275697,
        -0.04756229435345094,
        -0.13562110612458114,
        0.25300805826972966,
    )
)
_ERFC_P32 = _split(
    (
        -2.7779548631351142e-06,
        -1.4180302590016042e-05,
        1.047268026307195e-05,
        0.00012063298487864836,
        -0.00011041047321188258,
        -0.0007781631039885293,
        0.0018911306392899727,
        0.0025290912102774654,
        -0.023771097482205232,
        0.06830804829211244,
        -0.11927359684570489,
        0.12964515868068238,
        -0.04756229722560911,
        -0.13562110614541045,
        0.25300805829010387,
    )
)
#: The clamp for |x|: erfc rounds to 0 from 27.23 on; 28.5 leaves room for callers that
#: multiply erfc by up to ~40 before they round (gelu), at the price of evaluating the
#: polynomial a hair beyond its fitted range (q = 0.81), where every result rounds to 0.
_ERFC_MAX = 28.5
_TWO_OVER_SQRT_PI = 1.1283791670955126
_C0_HI = _TWO_OVER_SQRT_PI
_C0_LO = 1.533545961316588e-17  # 2/sqrt(pi) - _C0_HI
#: Below it erfc is 1 -+ erf, above it the q-polynomial.
_ERFC_SMALL = 0.8

# erf(x) = x (2/sqrt(pi) + z P(z)), z = x**2, for |x| < 1: Chebyshev fits of erf(x)/x in z on
# [0, 1], degree 11 (error 7e-18) and 8 (8e-13, for float32), whose constant term is replaced by
# 2/sqrt(pi) as a double-double (it is within the fit error of it). From |x| = 1 on, erf = 1 - erfc(|x|), where
# erfc <= 0.16 and the subtraction loses nothing.
_ERF_P64 = (
    -7.795898827002142e-10,
    1.3720064546777686e-08,
    -1.6208483801871705e-07,
    1.6447424703317362e-06,
    -1.492473690741966e-05,
    0.00012055294904839707,
    -0.0008548325975389692,
    0.0052239776071164225,
    -0.02686617064323777,
    0.11283791670945006,
    -0.37612638903183543,
)
_ERF_P64 = _split(_ERF_P64)
_ERF_P32 = _split(ERF_FIT32)

# log(1 + f) = f - f**2/2 + s (f**2/2 + R(s**2)), s = f / (2 + f): fdlibm's minimax
# coefficients for R (error below 2**-58.45 on |s| <= 0.1716).
_LG = (
    1.479819860511658591e-01,
    1.531383769920937332e-01,
    1.818357216161805012e-01,
    2.222219843214978396e-01,
    2.857142874366239149e-01,
    3.999999999940941908e-01,
    6.666666666666735130e-01,
)
_LG = _split(_LG)
_SQRT_HALF_BITS = np.int64(0x3FE6A09E667F3BCD)
_ONE_BITS = np.int64(0x3FF0000000000000)
_MANTISSA = np.int64(0x000FFFFFFFFFFFFF)
_TINY_BITS = np.int64(0x0010000000000000)  # the smallest normal float64

_F64_TABLES = (_EXP_P64, _ERFC_P64, _ERF_P64)
_F32_TABLES = (_EXP_P32, _ERFC_P32, _ERF_P32)


@register_jitable
def _clamp(x, lowest, highest):
    """x limited to [lowest, highest] (lowest < 0 < highest) by integer compares of the bits:
    no flag for any input; NaNs land on one of the bounds (the callers select NaN back)."""
    inline_here()
    b = bitcast(x)
    return bitcast(min(b, bitcast(highest)) if b >= 0 else min(b, bitcast(lowest)))


@register_jitable
def _pow2(k):
    """2.0**k for -1022 <= k <= 1023, from the exponent bits."""
    inline_here()
    return bitcast((k + 1023) << 52)


@register_jitable
def _scale(y, k):
    """y * 2**k for -1100 < k <= 1024 and y * 2**(k >> 1) normal (0.5 < y < 64 is plenty):
    two exact power-of-two factors, so a subnormal result is rounded once (in the last
    product) and 2**1024 is never formed."""
    inline_here()
    k1 = k >> 1
    return y * _pow2(k1) * _pow2(k - k1)


@register_jitable
def _reduce(x, extra):
    """x - extra = k ln2 + r + rl with |r| <= ln2/2 (+ a hair) and rl the rounding error of r,
    for |x| <= 746 and |extra| tiny against r's ULP budget; returns (r, rl, k as int64).
    rl matters where the result cancels against 2**k (expm1 near -ln2) or is scaled up."""
    inline_here()
    j = fma(x, _LOG2E, _SHIFT)
    kf = j - _SHIFT
    # Cody-Waite: kf * _LN2_HI is exact and x - kf * _LN2_HI too (Sterbenz).
    r0 = fma(kf, -_LN2_HI, x)
    t = fma(kf, -_LN2_LO, -extra)
    r = r0 + t
    return r, (r0 - r) + t, bitcast(j) - _SHIFT_BITS


@register_jitable
def _tail(r, rl, table):
    """exp(r + rl) - 1 - r, to well below r's ULP (|r| <= 0.35, |rl| <= ulp(r))."""
    inline_here()
    return fma(r * r, _polynomial(r, table[0]), rl)


@register_jitable
def exp_dd(x, extra, table):
    """exp(x - extra) = (hi + lo) * 2**k (hi + lo good to ~2**-57 relative, the rounding of the
    polynomial's small terms: an eighth of an ULP of hi; 0.7 <= hi <
    1.42), for -1400 <= x <= 709.7 and |extra| tiny (a low-order part of the argument).
    Callers multiply before they scale (``_scale``), so that a product that ends up subnormal
    is rounded once."""
    inline_here()
    r, rl, k = _reduce(x, extra)
    s = 1.0 + r
    e = (1.0 - s) + r
    t = _tail(r, rl, table) + e
    hi = s + t
    return hi, t - (hi - s), k


@register_jitable
def expm1_dd_nonpositive(x, table):
    """expm1(x) as hi + lo for -40 <= x <= 0 (good to ~2**-57 relative, as exp_dd); hi is +0.0
    at x = -0.0."""
    inline_here()
    r, rl, k = _reduce(x, 0.0)
    c = 1.0 - _pow2(-k)
    s, e = two_sum(c, r)
    t = _tail(r, rl, table) + e
    hi = s + t
    lo = t - (hi - s)
    p = _pow2(k)  # k >= -58: one exact power of two
    return hi * p, lo * p


# --- exp, expm1 ---------------------------------------------------------------------------


@register_jitable
def exp_unscaled(x, table):
    """(y, k) with exp(x) = y 2**k for |x| <= 746, y in [0.7, 1.42] within about half an ULP:
    1 + r exactly as s + e (Fast2Sum), the rest added once."""
    inline_here()
    r, rl, k = _reduce(x, 0.0)
    s = 1.0 + r
    e = (1.0 - s) + r
    return s + (_tail(r, rl, table) + e), k


@register_jitable
def _exp(x, table):
    inline_here()
    y, k = exp_unscaled(_clamp(x, _EXP_MIN, _EXP_MAX), table)
    y = _scale(y, k)
    overflow = bitcast(x) > bitcast(_EXP_MAX)  # +inf and positive NaNs (selected back below)
    y = np.inf if overflow else y
    return y if x == x else x


@register_jitable
def _expm1(x, table):
    inline_here()
    a = _clamp(x, _EXPM1_MIN, _EXP_MAX)
    r, rl, k = _reduce(a, 0.0)
    # expm1(x) = 2**k (c + r + tail), c = 1 - 2**-k: c + r may cancel (k = 1, r < 0), so it is
    # taken exactly (TwoSum) and everything is rounded once, in the last sum. For k = 0, c = 0
    # and small x keep their relative precision. 2**-k only matters while k < 54; capping it
    # keeps it buildable for large k.
    c = 1.0 - _pow2(-min(k, 60))
    s = c + r
    bb = s - c
    e = (c - (s - bb)) + (r - bb)
    y = _scale(s + (_tail(r, rl, table) + e), k)
    y = np.inf if bitcast(x) > bitcast(_EXP_MAX) else y
    # x == 0: -0.0 stays -0.0 (the sum gives +0.0); x != x: NaN.
    return x if (x == 0.0) | (x != x) else y


# --- log, log1p ---------------------------------------------------------------------------


@register_jitable
def _log_parts(u):
    """For a positive normal u: (e, f, hfsq, s*(hfsq + R)) with u = 2**e (1 + f),
    sqrt(1/2) <= 1 + f < sqrt(2) and log(1 + f) = f - (hfsq - s*(hfsq + R))."""
    inline_here()
    b = bitcast(u) + (_ONE_BITS - _SQRT_HALF_BITS)
    e = (b >> 52) - 1023
    m = bitcast((b & _MANTISSA) + _SQRT_HALF_BITS)
    f = m - 1.0  # exact: m is within a factor 2 of 1
    s = f / (2.0 + f)
    z = s * s
    hfsq = 0.5 * f * f
    return float(e), f, hfsq, s * (hfsq + z * _polynomial(z, _LG))


@register_jitable
def _log(x):
    inline_here()
    b = bitcast(x)
    normal = (b >= _TINY_BITS) & (b < _INF_BITS)
    subnormal = (b > 0) & (b < _TINY_BITS)
    # A subnormal x is its bits times 2**-1074: the integer converts to float64 exactly.
    # Anything outside (0, inf) is replaced by 1 so that no arithmetic below meets a NaN, a
    # zero or an infinity. (Selects are branch-free and LLVM may move arithmetic into their
    # arms, so the replacement is done on values that cannot overflow either way.)
    u = x if normal else (float(b) if subnormal else 1.0)
    e, f, hfsq, t = _log_parts(u)
    e = e - 1074.0 if subnormal else e
    y = e * _LN2_HI - ((hfsq - (t + e * _LN2_LO)) - f)
    y = np.inf if b == _INF_BITS else y
    y = _NAN if b < 0 else y  # negative numbers and -inf; -0.0 was caught above
    y = -np.inf if (b & _ABS) == 0 else y
    return y if x == x else x


@register_jitable
def _log1p(x):
    inline_here()
    b = bitcast(x)
    # x > -1 and finite, by bits: positive finite, or negative above the bits of -1.0
    # (more negative floats have larger signed bits).
    inside = ((b >= 0) & (b < _INF_BITS)) | ((b < 0) & (b < bitcast(-1.0)))
    v = x if inside else 0.0
    u = 1.0 + v
    # 1 + v = u + c exactly (TwoSum); log(1 + v) = log(u) + c/u to well below an ULP.
    bb = u - 1.0
    c = (1.0 - (u - bb)) + (v - bb)
    e, f, hfsq, t = _log_parts(u)
    y = e * _LN2_HI - ((hfsq - (t + (e * _LN2_LO + c / u))) - f)
    y = np.inf if b == _INF_BITS else y
    y = -np.inf if b == bitcast(-1.0) else y
    y = y if inside | (b == _INF_BITS) | (b == bitcast(-1.0)) else _NAN
    return x if (x == 0.0) | (x != x) else y


# --- tanh ---------------------------------------------------------------------------------


# tanh(x) = x + x**3 Q(x**2) for |x| < 0.25: a Chebyshev fit (mpmath.chebyfit, 60 digits) of
# degree 7 in x**2, error 1e-19 relative to x. Above, 1 - 2 / (e**2|x| + 1) (_tanh_from_exp).
_TANH_Q = _split(
    (
        0.0005336803027405916,
        -0.0014502234715960424,
        0.0035918341340072982,
        -0.008863226966122328,
        0.021869488400359696,
        -0.053968253967195144,
        0.1333333333333302,
        -0.3333333333333333,
    )
)
_TANH_SMALL = 0.25


@register_jitable
def _tanh_from_exp(a, table):
    """tanh(a) = 1 - u, u = 2 / D, D = e**2a + 1, for 0.25 <= a <= 20 (tanh(20) rounds to 1).

    D = (2**k + 1) + 2**k r + 2**k tail(r) is summed as a pair dh + dl (two Fast2Sums: 2**k
    + 1 is exact while it matters, 2**k r exact, and |2**k r| <= 0.35 * 2**k); u = 2 / dh is
    corrected by its exact residual 2 - u dh less u dl, times 1 / dh = u / 2 (no reciprocal
    guess); 1 - u is split exactly (Fast2Sum) and the correction added to its low part, so
    the result is rounded once. What is left is D's error (the exponential's, ~2**-56
    relative), damped by 2 e / (e + 1)**2 <= 0.47: a quarter ULP at a = 0.25, the least
    tanh. (Below 0.25, 1 - u would cancel away that error's margin: the polynomial.)

    It replaced expm1(2a) / (expm1(2a) + 2) with the polynomial up to 0.625 (102 instructions
    per 8 lanes, 73 now): 1M float64 on one thread 2460 -> 1950 us (Intel VM)."""
    inline_here()
    r, rl, k = _reduce(a + a, 0.0)
    p = _pow2(k)
    p1 = p + 1.0  # exact for k <= 52; beyond, u is far below tanh's ULP
    pr = p * r
    s = p1 + pr
    e = (p1 - s) + pr
    tl = fma(p, _tail(r, rl, table), e)
    dh = s + tl
    dl = (s - dh) + tl
    u = 2.0 / dh
    residual = fma(-u, dh, 2.0) - u * dl
    y = 1.0 - u
    yl = (1.0 - y) - u
    return y + fma(-residual, 0.5 * u, yl)


@register_jitable
def _tanh64(x, table):
    inline_here()
    a = _clamp(bitcast(bitcast(x) & _ABS), 0.0, 20.0)  # NaN -> 20, selected back below
    z = a * a
    small = fma(a * z, _polynomial(z, _TANH_Q), a)
    y = small if a < _TANH_SMALL else _tanh_from_exp(a, table)
    y = bitcast(bitcast(y) | (bitcast(x) & _SIGN))
    return y if x == x else x


# --- erfc, erf ----------------------------------------------------------------------------


@register_jitable
def _erfc_positive(a, lo, table):
    """erfc(a + lo) = (hi + lo) * 2**k (0.25 < hi < 2) for 0 <= a <= 28.5 and |lo| <= ulp(a): lo carries the rounding
    error of an argument computed in double-double (GELU's x/sqrt(2)), which erfc would
    amplify by 2a**2. What is left is the rounding of the polynomial, ~0.3 ULP."""
    inline_here()
    d = a + _ERFC_K
    q = (a - _ERFC_K) / d
    p = _polynomial(q, table[1])
    # y = exp(a**2) erfc(a) = (1 + p) / (1 + 2a), as yh + yl: both sums exact (Fast2Sum),
    # the quotient corrected by its residual.
    nh = 1.0 + p
    nl = p - (nh - 1.0)
    a2 = a + a
    dh = 1.0 + a2
    dl = a2 - (dh - 1.0) if a2 < 1.0 else 1.0 - (dh - a2)
    yh = nh / dh
    yl = ((fma(-yh, dh, nh) + nl) - yh * dl) / dh
    # erfc(a + lo) = exp(-(a + lo)**2) (y(a) + lo y'(a)), y' = 2a y - 2/sqrt(pi).
    yl = fma(lo, fma(a2, yh, -_TWO_OVER_SQRT_PI), yl)
    # exp(-(a + lo)**2) = exp(-s - (sl + 2a lo)), s + sl = a**2 exactly: the low parts go into
    # the reduced argument.
    s = a * a
    sl = fma(a, a, -s)
    r, rl, k = _reduce(-s, fma(a2, lo, sl))
    # (yh + yl) (1 + r + tail), 1 + r = eh + el exactly.
    eh = 1.0 + r
    el = (1.0 - eh) + r + _tail(r, rl, table)
    ph, pe = two_prod(yh, eh)
    pl = pe + fma(yh, el, yl * eh)
    return ph, pl, k


@register_jitable
def _erf_tail(a, z, table):
    """erf(a)/a - _C0_HI for 0 <= a < 1, z = a*a: erf(a) = a*_C0_HI + a*tail with one rounding."""
    inline_here()
    return fma(z, _polynomial(z, table[2]), _C0_LO)


@register_jitable
def erfc_dd(x, lo, table):
    """erfc(x + lo) = (hi + lo) * 2**k (|lo| <= ulp(x)), for any x; NaN for NaN."""
    inline_here()
    negative = bitcast(x) < 0
    a = _clamp(bitcast(bitcast(x) & _ABS), 0.0, _ERFC_MAX)
    h, l, k = _erfc_positive(a, -lo if negative else lo, table)
    # 2 - erfc(a) needs erfc(a) only down to 2**-80 (it changes the sum by less than 2**-80
    # relative): one exact power of two instead of _scale's two steps (k reaches -1180).
    p = _pow2(max(k, -80))
    h2, e2 = two_sum(2.0, -(h * p))
    h = h2 if negative else h
    l = e2 - l * p if negative else l
    k = 0 if negative else k
    # Below 0.8, 1 - erf(x): 1 + p would lose up to an ULP near a = 0.
    sa = x + lo  # |x| < 0.8: lo only matters here through this sum
    sa = 0.0 if a >= _ERFC_SMALL else sa
    mh, ml = two_prod(-sa, _C0_HI)
    nh, ne = two_sum(1.0, mh)
    nl = ne + fma(-sa, _erf_tail(sa, sa * sa, table), ml)
    small = a < _ERFC_SMALL
    h = nh if small else h
    l = nl if small else l
    k = 0 if small else k
    h = h if x == x else x
    return h, l, k


@register_jitable
def _erfc(x, table):
    inline_here()
    h, l, k = erfc_dd(x, 0.0, table)
    return _scale(h + l, k)


@register_jitable
def _erf(x, table):
    inline_here()
    a = _clamp(bitcast(bitcast(x) & _ABS), 0.0, 6.0)  # erf(6) rounds to 1; NaN -> 6
    z = a * a
    small = fma(a, _C0_HI, a * _erf_tail(a, z, table))
    h, l, k = _erfc_positive(a, 0.0, table)
    p = _pow2(k)  # erfc(6) > 2**-56: one exact power of two
    large = (1.0 - h * p) - l * p
    y = small if a < 1.0 else large
    y = bitcast(bitcast(y) | (bitcast(x) & _SIGN))
    return y if x == x else x


# --- float32: the float64 code with the short tables, rounded once -------------------------

_F32_HUGE_BITS = np.int64(0x47EFFFFFF0000000)  # 2**128 - 2**103: float64s from here round to inf


@register_jitable
def _narrow(y):
    """y as float32, +-inf for finite values that round beyond FLT_MAX, without the overflow
    flag a float conversion would raise; NaN stays NaN. The value converted is clamped on its
    bits first (LLVM may hoist a conversion above a select, never above integer arithmetic)."""
    inline_here()
    b = bitcast(y)
    a = b & _ABS
    over = (a >= _F32_HUGE_BITS) & (a <= _INF_BITS)
    a = a if a > _INF_BITS else min(a, _F32_HUGE_BITS - 1)
    safe = np.float32(bitcast(a | (b & _SIGN)))
    inf = np.float32(bitcast(_INF_BITS | (b & _SIGN)))
    return inf if over else safe


@register_jitable
def exp_f64(x):
    inline_here()
    return _exp(x, _F64_TABLES)


@register_jitable
def exp_f32(x):
    inline_here()
    return _narrow(_exp(np.float64(x), _F32_TABLES))


@register_jitable
def expm1_f64(x):
    inline_here()
    return _expm1(x, _F64_TABLES)


@register_jitable
def expm1_f32(x):
    inline_here()
    return _narrow(_expm1(np.float64(x), _F32_TABLES))


@register_jitable
def log_f64(x):
    inline_here()
    return _log(x)


@register_jitable
def log_f32(x):
    inline_here()
    return np.float32(_log(np.float64(x)))


@register_jitable
def log1p_f64(x):
    inline_here()
    return _log1p(x)


@register_jitable
def log1p_f32(x):
    inline_here()
    return np.float32(_log1p(np.float64(x)))


@register_jitable
def tanh_f64(x):
    inline_here()
    return _tanh64(x, _F64_TABLES)


@register_jitable
def tanh_f32(x):
    inline_here()
    return libm32.tanh(x)


@register_jitable
def erf_f64(x):
    inline_here()
    return _erf(x, _F64_TABLES)


@register_jitable
def erf_f32(x):
    inline_here()
    return np.float32(_erf(np.float64(x), _F32_TABLES))


@register_jitable
def erfc_f64(x):
    inline_here()
    return _erfc(x, _F64_TABLES)


@register_jitable
def erfc_f32(x):
    inline_here()
    return np.float32(_erfc(np.float64(x), _F32_TABLES))


# --- the public names: dispatch on the argument's type ------------------------------------


def _dispatching(name, f32, f64):
    def stub(x):
        raise NotImplementedError(f"fastact._core.libm64.{name} is for compiled code only")

    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = f"{name}(x) of one float32 or float64 value (compiled code only)."

    @overload(stub, inline="never")
    def _impl(x):
        return {types.float32: f32, types.float64: f64}.get(x)

    return stub


exp = _dispatching("exp", exp_f32, exp_f64)
expm1 = _dispatching("expm1", expm1_f32, expm1_f64)
log = _dispatching("log", log_f32, log_f64)
log1p = _dispatching("log1p", log1p_f32, log1p_f64)
tanh = _dispatching("tanh", tanh_f32, tanh_f64)
erf = _dispatching("erf", erf_f32, erf_f64)
erfc = _dispatching("erfc", erfc_f32, erfc_f64)
