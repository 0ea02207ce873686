"""float32 computed in float32: eight lanes per AVX2 vector where the float64 route has four.

Through their float64 code (rounded once: within a hair of half an ULP) the family's float32
results cost float64's lanes and long polynomials: 3-8x slower than PyTorch's float32
kernels. The functions here keep float32 in float32 (2.6-4x faster than that route). Where a
quantity needs more than 24 bits on the way (expm1(x) before alpha times it, the exp the
float32 softmax sums) it is a float32 pair hi + lo ("double-single", the float32 twin of the
float64 code's double-doubles, from the same type-generic two_prod and FMAs), and the result
is rounded once at the end. Where the pairs cost more than float64's halved lanes (GELU in
both forms, SiLU's backward, the forwards of Softplus and LogSigmoid) the float32 formula is
``widened``'s instead; what stays here is ELU, SELU, tanh, SiLU's forward and dout times a
sigmoid (the backwards of Softplus and LogSigmoid; these two with no pairs past exp's, at
1.82 and 1.95 ULP) and the exps the float32 row kernels take (``exp_ds``).

The price is accuracy: 0.94-1.82 ULP instead of 0.5, each bound measured over every float32
(each declaration's ``ulp32`` in ``fastact.activations``; tests/exactness/test_single.py,
``-m slow``). Branch-free, with no ordered float compare that a NaN could reach (see
``libm64``): the loops around them vectorize, and they raise no floating-point flag but
underflow where a result is subnormal.
"""

import numpy as np

from .jit import register_jitable
from .scalar import EXP_FIT32, _polynomial, _split, bitcast, fma, inline_here, two_prod

_f = np.float32
_ABS = np.int32(0x7FFFFFFF)
_SIGN = np.int32(-0x80000000)
_LOG2E = _f(1.4426950408889634)
# ln 2 = _LN2_HI + _LN2_LO: _LN2_HI has 9 significant bits, so k * _LN2_HI is exact for every
# k here (|k| < 2**15) and x - k * _LN2_HI too (Sterbenz).
_LN2_HI = _f(0.693359375)
_LN2_LO = _f(-2.1219444005469057e-04)
# Adding _SHIFT rounds to an integer k held in the low mantissa bits, offset so that those bits
# shifted into the exponent field give 2**(k + 64) (k >= -190): see _pow2_of.
_SHIFT = _f(1.5 * 2.0**23 + 127 + 64)
_UNSCALE = _f(2.0**-64)
# P in exp(r) = 1 + r + r**2 P(r) on |r| <= ln2/2: libm64's float32 fit (degree 6, 3e-12),
# each coefficient rounded to float32 (the error that adds is 2**-24 of terms below 0.06).
_EXP_P = _split(tuple(_f(c) for c in EXP_FIT32))
#: exp(x) for x <= _EXP_LOW contributes nothing a float32 result of these functions can hold.
_EXP_LOW = _f(-110.0)
_MAX = _f(np.finfo(np.float32).max)


@register_jitable
def _clamp(x, lowest, highest):
    """x limited to [lowest, highest] (lowest <= 0 <= highest) by integer compares of the bits,
    so no NaN meets a float compare; NaNs land on a bound (callers select NaN back)."""
    inline_here()
    b = bitcast(x)
    return bitcast(np.int32(min(b, bitcast(highest)) if b >= 0 else min(b, bitcast(lowest))))


@register_jitable
def _pow2_of(j):
    """2**(k + 64) for the k that exp_ds's j holds (int32 bit operations only: no int64 lanes)."""
    inline_here()
    bits = bitcast(j)
    return bitcast(np.int32(bits << np.int32(23)))


@register_jitable
def _times_pow2(g, j):
    """g * 2**k for the k that j holds (k >= -190), for any finite g: by the exact factor 2**k
    while k >= -63 (g's rounding stays the only one unless |g| < 2**-63 and the result is
    subnormal); below, through 2**(k + 64) <= 2 and then 2**-64, so that a subnormal result is
    rounded once (scaling by 2**(k + 64) first would overflow a large g where k is near 0)."""
    inline_here()
    p2 = _pow2_of(j)
    return g * (p2 * _UNSCALE) if bitcast(j) >= bitcast(_SHIFT) - np.int32(63) else g * p2 * _UNSCALE


@register_jitable
def _reduce(a, extra):
    """a + extra = k ln2 + r + rl, |r| <= ln2/2 (+ a hair), rl r's rounding error (TwoSum),
    for -190 <= a <= 0 and |extra| tiny (a low-order part of the argument); k is held in j
    (see _pow2_of)."""
    inline_here()
    j = fma(a, _LOG2E, _SHIFT)
    kf = j - _SHIFT
    r0 = fma(kf, -_LN2_HI, a)
    t = fma(kf, -_LN2_LO, extra)
    r = r0 + t
    rr = r - r0
    return r, (r0 - (r - rr)) + (t - rr), j


@register_jitable
def _tail(r, rl):
    """exp(r + rl) - 1 - r, to well below r's ULP."""
    inline_here()
    return fma(r * r, _polynomial(r, _EXP_P), rl)


@register_jitable
def exp_ds(a, extra):
    """exp(a + extra) = (hi + lo) * 2**k for -125 <= a <= 0 and |extra| tiny: hi in [0.7, 1.42], hi + lo good to about
    0.1 ULP of hi (the polynomial's small terms rounded in float32); k is held in j's bits:
    (y * _pow2_of(j)) * _UNSCALE is y * 2**k, rounded once (the first factor stays normal).

    exp(r + rl) = 1 + r + (r**2 P(r) + rl), with 1 + r split exactly (Fast2Sum, |r| < 1)."""
    inline_here()
    r, rl, j = _reduce(a, extra)
    s = _f(1.0) + r
    e = (_f(1.0) - s) + r
    tail = _tail(r, rl) + e
    hi = s + tail
    return hi, tail - (hi - s), j


@register_jitable
def expm1_reduced(a):
    """(p, j) for -125 <= a <= 30 with no pairs: exp(a) = (1 + p) 2**k and expm1(a) = 2**k p +
    (2**k - 1), p = expm1(r) on |r| <= ln2/2 to about 0.55 ULP of r, k held in j. A third of
    exp_ds's operations, where the bound allows its error (tanh, silu, the ELU backward)."""
    inline_here()
    j = fma(a, _LOG2E, _SHIFT)
    kf = j - _SHIFT
    r = fma(kf, -_LN2_LO, fma(kf, -_LN2_HI, a))
    return fma(r * r, _polynomial(r, _EXP_P), r), j


@register_jitable
def exp_split(a):
    """exp(a) = (hi + lo) 2**k for -125 <= a <= 0: 1 + p of expm1_reduced split exactly
    (Fast2Sum), within 0.757 * 2**-24 relative (every float32 swept: test_single.py)."""
    inline_here()
    p, j = expm1_reduced(a)
    hi = _f(1.0) + p
    return hi, (_f(1.0) - hi) + p, j


@register_jitable
def tanh(x):
    """tanh(x), float32 in float32, within 1.5 ULP.

    |x| < 0.625: x + x**3 Q(x**2) (0.71 ULP). Above: t / (t + 2), t = expm1(2|x|) = 2**k p +
    (2**k - 1) rounded once (p = expm1(r) on |r| <= ln2/2, by the exp's polynomial), with no
    pairs: t's error is damped by 2 / (t + 2) <= 0.45 there, and the sum and the quotient round
    once each (1.50 ULP, measured over every float32). Below 0.625 the same quotient reaches
    2.4 ULP (t + 2 rounds at 2**-23 of a result near t / 2), hence the polynomial.

    This replaced a double-single 1 - 2e / (1 + e) with a residual-corrected division (0.82
    ULP): 1.65x faster at 1M (398 -> 242 us, Intel VM, 2 threads), which puts it within 1.5x
    of PyTorch's float32 tanh instead of 3x; a correction of t + 2's rounding here (Fast2Sum,
    q (1 - dl / d)) cost as much again for 0.5 ULP."""
    inline_here()
    a = _clamp(bitcast(np.int32(bitcast(x) & _ABS)), _f(0.0), _f(10.0))  # tanh rounds to 1 from 9.01
    z = a * a
    small = fma(a * z, _polynomial(z, _TANH_Q), a)
    p, j = expm1_reduced(a + a)
    s = _pow2_of(j) * _UNSCALE  # 2**k, 0 <= k <= 29: exact
    t = fma(s, p, s - _f(1.0))  # s - 1 exact up to k = 24; above, tanh rounds to 1 anyway
    y = small if a < _f(0.625) else t / (t + _f(2.0))
    y = bitcast(np.int32(bitcast(y) | (bitcast(x) & _SIGN)))
    return y if x == x else x


# tanh(x) = x + x**3 Q(x**2) on |x| < 0.625: a Chebyshev fit (mpmath.chebyfit, 40 digits) of
# degree 5 in x**2, error 6e-10 relative to x (a hundredth of an ULP); degree 4 would be 0.28 ULP.
_TANH_Q = _split(
    tuple(
        _f(c)
        for c in (
            0.002292744816178142,
            -0.008343945515839153,
            0.02176891865102821,
            -0.053959259577204544,
            0.1333330355691574,
            -0.3333333317214036,
        )
    )
)


# --- dout times sigmoid: the backwards of softplus and log_sigmoid -------------------------

#: sigmoid(-200) < 2**-288: times any float32 dout it rounds to zero.
_SIGMOID_FAR = _f(200.0)
_I = np.int32


@register_jitable
def _pow2(k):
    """2**k for int32 -126 <= k <= 127, from the exponent bits."""
    inline_here()
    return bitcast(_I((k + _I(127)) << _I(23)))


@register_jitable
def sigmoid_denominator(z, zl):
    """(d, K) with (1 + exp(-(z + zl))) = d 2**K, K = max(k, 0) for exp(-z) ~ 2**k, d in
    [0.7, 2.5], for non-NaN float32 z (clamped to +-200) and |zl| below half an ULP of z.

    exp(-z) = (hi + lo) 2**k (1 + p not rounded, zl folded into the reduced argument) enters
    d through one Fast2Sum: 1 + (hi + lo) 2**k for k <= 0, 2**-k + hi + lo above (the larger
    term first either way); d itself is that sum rounded once. Its relative error, swept over
    every float32 (tests/exactness/test_single.py), bounds ``dout_times_sigmoid``'s for any
    dout."""
    inline_here()
    zc = _clamp(z, -_SIGMOID_FAR, _SIGMOID_FAR)
    j = fma(zc, -_LOG2E, _SHIFT)
    kf = j - _SHIFT
    # expm1_reduced's reduction with zl in it: its fma(kf, -_LN2_LO, r0) rounds the same once,
    # but taking zl there would change the bits of tanh, SiLU and the ELU backward
    r = fma(kf, -_LN2_HI, -zc) + fma(kf, -_LN2_LO, -zl)  # -zc - zl - k ln2, one rounding
    p = fma(r * r, _polynomial(r, _EXP_P), r)
    hi = _f(1.0) + p
    lo = (_f(1.0) - hi) + p
    k = _I(bitcast(j) - bitcast(_SHIFT))  # -289 <= k <= 289 (int32 throughout: numba widens int32 sums)
    k_positive = k > _I(0)
    # 2**-k for k > 0, 2**k otherwise, floored at 2**-100: below 2**-50 it is lost in d anyway
    s = _pow2(_I(max(_I(-k) if k_positive else k, _I(-100))))
    a = hi if k_positive else _f(1.0)
    b = s if k_positive else hi * s
    lo_part = lo if k_positive else lo * (s if k >= _I(-24) else _f(0.0))  # no subnormal lo 2**k
    dh = a + b
    return dh + (((a - dh) + b) + lo_part), _I(k if k_positive else _I(0))


@register_jitable
def dout_times_sigmoid(dout, z, zl):
    """dout sigmoid(z + zl) = dout / (1 + exp(-(z + zl))) = (dout / d) 2**-K, float32 in
    float32 (``silu``'s quotient with dout for x): what rounds is d (``sigmoid_denominator``)
    and the division, so for any dout the error is 0.5 ULP plus d's relative error times 2**24
    (1.44 * 2**-24 at worst over every float32 z: 1.95 ULP; 1.69 measured at dout = 1). 2**-K
    scales the quotient in three steps of at most 2**-126 each, the largest last: exact, or
    one more rounding of a subnormal result. A dout from 2**126 up is halved first and the
    scale doubled (dout / d reaches 1.43 dout). The float64 route it replaced (``widened``: 0.51 ULP) took 1.3-1.5x
    the time of the layer's backward at 1M (half the lanes, a float64 division)."""
    inline_here()
    d, k = sigmoid_denominator(z, zl)
    big = (bitcast(dout) & _ABS) >= bitcast(_f(2.0**126))
    q = (dout * (_f(0.5) if big else _f(1.0))) / d
    kk = _I(_I(-k) + (_I(1) if big else _I(0)))
    k1 = _I(max(kk, _I(-126)))
    k2 = _I(max(_I(kk - k1), _I(-126)))
    return q * _pow2(_I(kk - k1 - k2)) * _pow2(k2) * _pow2(k1)


# --- elu, selu ----------------------------------------------------------------------------

# SELU's constants (PyTorch's decimals) as float32 pairs: scale, and scale * alpha.
_SCALE_HI, _SCALE_LO = _f(1.050701), _f(-3.4792652e-08)
_SA_HI, _SA_LO = _f(1.7580993), _f(2.3296717e-08)
#: The largest float32 x whose scale * x is finite (the next one rounds to inf; tested).
_SELU_OVER = _f(3.2386221e38)
#: expm1(x) rounds to -1 below -17.33 (e**x under half an ULP of 1); the clamp keeps 2**-k small.
_EXPM1_LOW = _f(-18.0)


@register_jitable
def _times_expm1(ah, al, x):
    """(ah + al) * expm1(x) for -18 <= x <= 0, rounded once (to ~0.55 ULP).

    x = k ln2 + r: expm1(x) = 2**k (c + r + tail), c = 1 - 2**-k, exact while k >= -24; the
    sum c + r is exact (TwoSum) and the constant multiplies the pair before the one rounding.
    Below (k < -24, x < -16.6) expm1(x) = e**x - 1 with e**x under an ULP of 1: one FMA."""
    inline_here()
    r, rl, j = _reduce(x, _f(0.0))
    minus_k = np.int32(bitcast(_SHIFT) - bitcast(j))
    p2 = _pow2_of(j)
    c = _f(1.0) - bitcast(np.int32((minus_k + np.int32(127)) << np.int32(23)))  # 1 - 2**-k, exact
    sh = c + r
    bb = sh - c
    sl = ((c - (sh - bb)) + (r - bb)) + _tail(r, rl)
    ph, pe = two_prod(ah, sh)
    near = _times_pow2(fma(ah, sl, fma(al, sh, pe)) + ph, j)
    e = (_f(1.0) + (r + _tail(r, rl))) * p2 * _UNSCALE  # e**x, under an ULP of 1 here
    far = fma(ah, e, -ah) - al
    return near if minus_k <= np.int32(24) else far


@register_jitable
def _elu(x, scale_hi, scale_lo, sa_hi, sa_lo, over):
    """scale * (x if x > 0 else alpha * expm1(x)), alpha * scale given as sa_hi + sa_lo; above
    ``over`` scale * x rounds to inf (returned without the overflow flag)."""
    inline_here()
    xn = _clamp(x, _EXPM1_LOW, _f(0.0))
    negative_side = _times_expm1(sa_hi, sa_lo, xn)
    xp = _clamp(x, _f(-0.0), over)  # negative x -> -0.0 (an infinite one would meet scale_lo = 0)
    # LLVM computes this side for every lane and, for some targets (generic x86-64), drops the
    # clamp to `over` in the lanes the inf select below discards: scale * x overflowed there.
    # So x >= 2**64 is scaled down by 2**64 (exact), multiplied (the same bits, scaled), and
    # scaled back by adding 64 to the exponent's bits: an integer add, no flag on any lane.
    # (ELU's `over` is the maximum, scale 1: nothing can overflow, and LLVM folds this away.)
    big = (bitcast(x) >= bitcast(_f(2.0**64))) & (over != _MAX)
    xs = xp * (_f(2.0**-64) if big else _f(1.0))
    ys = bitcast(fma(scale_hi, xs, scale_lo * xs))
    positive_side = bitcast(np.int32(ys + (np.int32(64 << 23) if big else np.int32(0))))
    positive_side = _f(np.inf) if bitcast(x) > bitcast(over) else positive_side
    y = positive_side if bitcast(x) > 0 else negative_side
    return x if (x == _f(0.0)) | (x != x) else y


@register_jitable
def _elu_backward(dout, x, scale_hi, scale_lo, sa_hi, sa_lo):
    """dout * scale if x > 0 else dout * scale * alpha * exp(x), rounded once.

    exp(x) from exp_split: within 0.757 * 2**-24 of exp(x), relative, for every float32 x <= 0
    (swept: test_single.py). The one rounding adds 0.5 ULP, so for any dout the result is
    within 1.26 ULP. (exp_ds's pairs gave 0.78 at 1.2x the time.)"""
    inline_here()
    xn = _clamp(x, _EXP_LOW, _f(0.0))
    hi, lo, j = exp_split(xn)
    gh, ge = two_prod(sa_hi, hi)
    gl = ge + fma(sa_hi, lo, sa_lo * hi)
    negative_side = _times_pow2(fma(dout, gh, _clamp(dout, -_MAX, _MAX) * gl), j)
    # x <= -110: exp(x) * scale * alpha * dout is 0 (with its sign; no arithmetic: dout may be inf)
    zero = bitcast(np.int32((bitcast(dout) ^ bitcast(sa_hi)) & _SIGN))
    negative_side = zero if (bitcast(x) < 0) & (bitcast(x) >= bitcast(_EXP_LOW)) else negative_side
    positive_side = fma(dout, scale_hi, _clamp(dout, -_MAX, _MAX) * scale_lo)
    y = positive_side if bitcast(x) > 0 else negative_side
    return y if x == x else x


@register_jitable
def elu(x, alpha):
    inline_here()
    return _elu(x, _f(1.0), _f(0.0), alpha, _f(0.0), _MAX)


@register_jitable
def elu_backward(dout, x, alpha):
    inline_here()
    return _elu_backward(dout, x, _f(1.0), _f(0.0), alpha, _f(0.0))


@register_jitable
def selu(x):
    inline_here()
    return _elu(x, _SCALE_HI, _SCALE_LO, _SA_HI, _SA_LO, _SELU_OVER)


@register_jitable
def selu_backward(dout, x):
    inline_here()
    return _elu_backward(dout, x, _SCALE_HI, _SCALE_LO, _SA_HI, _SA_LO)


# --- silu ---------------------------------------------------------------------------------

#: silu(x) = x for x >= 110 (exp(-110) is below half a float32 ULP of 1); silu(-110) = -2e-46
#: rounds to -0.0, and so does everything below.
_SILU_FAR = _f(110.0)


@register_jitable
def silu(x):
    """x / (1 + exp(-x)), float32 in float32, within 1.82 ULP (every float32 swept).

    exp(-x) = (hi + lo) 2**k (``exp_split``: 1 + p not rounded) enters the denominator
    without overflow: 1 + (hi + lo) 2**k for k <= 0; for k > 0 (x < 0) numerator and
    denominator are divided by 2**k, the denominator being 2**-k + hi + lo, and the quotient
    is scaled back at the end (exactly while the result is normal, rounded once below). The
    larger of the first two terms has the larger exponent, so Fast2Sum gives their sum and its
    error; what rounds is the last addition, the division and exp's reduction: 1.82 ULP at
    worst (x = -91.2). With exp's 1 + p rounded the same quotient reached 2.8, without the
    Fast2Sum 2.2.

    Against the float64 route it replaced (``widened``, 0.51 ULP) it runs at twice the lanes
    with a float32 division: 1.26-1.39x faster at 1M (Intel VM, 2 threads). The backward
    stays widened: float32 versions either rounded their factor before dout multiplies it
    (half an ULP more for other douts) or, exact for every dout, took 1.5x the time
    (CHANGELOG, 0.3.0)."""
    inline_here()
    xc = _clamp(x, -_SILU_FAR, _SILU_FAR)
    hi, lo, j = exp_split(-xc)
    k_positive = bitcast(j) > bitcast(_SHIFT)
    # 2**(64 - k) for k > 0, 2**(64 + k) otherwise: normal for |k| <= 159 (j_neg holds -k,
    # exactly: 2 _SHIFT is an even integer below 2**25)
    j_neg = (_SHIFT + _SHIFT) - j
    p2 = _pow2_of(j_neg if k_positive else j)
    s = p2 * _UNSCALE
    a = hi if k_positive else _f(1.0)
    b = s if k_positive else hi * s
    lo_part = lo if k_positive else lo * s
    dh = a + b
    dl = (a - dh) + b
    q = xc / (dh + (dl + lo_part))
    y = (q * p2) * _UNSCALE if k_positive else q
    y = x if bitcast(x) >= bitcast(_SILU_FAR) else y  # +inf included
    return y if x == x else x
