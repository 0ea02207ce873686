"""Scalar building blocks for the kernels: typed constants and a vectorizable sigmoid.

numba has no SVML, so ``math.exp`` in a loop stays a scalar libm call and blocks SIMD.
The exponential here is branch-free (range reduction, a polynomial, 2**k built from exponent
bits), so LLVM turns the loops that call it into vector code. Each function is a plain
``register_jitable`` function: callable from any numba kernel or ufunc, inlined there.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable


def like(value, x):
    """``value`` as a constant of ``x``'s type (inside compiled code only).

    In a float32 kernel a literal ``1.0`` is float64 and silently promotes the whole
    expression; formulas write ``like(1.0, x)`` instead.
    """
    raise NotImplementedError("fastact._math.like is for compiled code only")


@overload(like)
def _like(value, x):
    target = x

    def impl(value, x):
        return target(value)

    return impl


_SAME_WIDTH = {
    types.int64: types.float64,
    types.int32: types.float32,
    types.float64: types.int64,
    types.float32: types.int32,
}


@intrinsic
def bitcast(typingctx, value):
    """The bits of a float64 as int64 and back (float32 and int32 alike), unchanged."""
    result = _SAME_WIDTH.get(value)
    if result is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(result))

    return result(value), codegen


@register_jitable
def sign_bit(x):
    """Whether x's sign bit is set (-0.0 and negative NaN included), without a float compare."""
    return bitcast(x) < 0


@register_jitable
def less_equal_zero(x):
    """x <= 0 without an ordered float compare: NaN gives False and raises no invalid flag.

    LLVM folds any NaN guard around ``x <= 0`` back into one signaling compare, which sets
    the invalid flag on NaN (NumPy then warns after a ufunc loop); integer compares can't trap.
    As signed integers, +0.0 is 0 and the negative non-NaN floats (-0.0 .. -inf) are exactly
    those at or below the bits of -inf; negative NaNs lie between -inf and 0.
    """
    bits = bitcast(x)
    return (bits == 0) | (bits <= bitcast(like(-np.inf, x)))


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding: the exact residual of a division in two operations."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(a)
        fn = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty] * 3))
        return builder.call(fn, args)

    return a(a, b, c), codegen


@register_jitable
def _horner(r, coefficients):
    """coefficients[0] * r**n + ... + coefficients[n], one FMA per term."""
    p = coefficients[0]
    for c in coefficients[1:]:
        p = fma(p, r, c)
    return p


def _split(coefficients):
    """Highest degree first -> (odd, even) powers, each as a polynomial in r**2."""
    reversed_ = coefficients[::-1]
    return reversed_[1::2][::-1], reversed_[0::2][::-1]


@register_jitable
def _polynomial(r, split):
    """The polynomial as odd(r**2) * r + even(r**2): two independent FMA chains of half the
    length, so the out-of-order core overlaps them (one Horner chain is latency-bound)."""
    odd, even = split
    r2 = r * r
    return fma(_horner(r2, odd), r, _horner(r2, even))


# Per dtype: log2(e); ln 2 split Cody-Waite style (the high part has trailing zero bits, so
# k * ln2_hi is exact); the clamp below which exp rounds to 0; polynomial coefficients for
# exp(r) on |r| <= ln2/2; the exponent bias, mantissa width and shift K of 2**(k + K).
_F64 = (
    1.4426950408889634,
    6.93147180369123816490e-01,
    1.90821492927058770002e-10,
    -746.0,
    # exp(r) = 1 + r + r**2 * P(r) with P's Taylor terms 1/13! .. 1/2!: truncation error
    # 4e-18 on |r| <= ln2/2, far below an ULP, and no division (the slowest vector op).
    _split(tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))),
    np.int64(1023 + 512),
    np.int64(52),
    2.0 ** -512,
)
_F32 = (
    np.float32(1.44269504088896341),
    np.float32(0.693359375),
    np.float32(-2.12194440e-4),
    np.float32(-104.0),
    # P's coefficients: Cephes' minimax fit for expf.
    _split(tuple(np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                         4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))),
    np.int32(127 + 64),
    np.int32(23),
    np.float32(2.0 ** -64),
)


@register_jitable
def exp_nonpositive(a, constants):
    """exp(a) for -inf <= a <= 0, in a's dtype; any NaN gives some finite value."""
    log2e, ln2_hi, ln2_lo, lowest, coefficients, bias, mantissa, unscale = constants
    # The clamp compares bits as integers: the more negative a float, the larger its bits as a
    # signed integer (negative NaNs the largest), and an integer compare raises no FP flag.
    a = lowest if bitcast(a) > bitcast(lowest) else a
    kf = np.floor(a * log2e + like(0.5, a))
    r = (a - kf * ln2_hi) - kf * ln2_lo
    # 1 + (r + r**2 * P): the two largest terms are added last, each rounding once.
    y = like(1.0, a) + fma(r * r, _polynomial(r, coefficients), r)
    # y * 2**k as (y * 2**(k + K)) * 2**-K: the first factor is always a normal number, so a
    # subnormal result is rounded once, in the last product.
    k = like(kf, bias)
    return y * bitcast(like((k + bias) << mantissa, bias)) * unscale


@register_jitable
def _newton(y, d):
    """One Newton step towards 1 / d: squares y's relative error."""
    return fma(y, fma(-d, y, like(1.0, d)), y)


def _reciprocal(d):
    """1 / d for 1 <= d <= 2 from FMAs alone, to 2**-32 (float64) or 2**-16 (float32).

    A vector division costs as much as the whole exponential here (about 17 cycles per
    8 float64 lanes). The line 24/17 - 8/17 d is within 1/17 of 1 / d on [1, 2]; each Newton
    step squares the error, and the caller's residual correction squares it once more.
    """
    raise NotImplementedError("compiled code only")


@register_jitable
def _reciprocal_start(d):
    return fma(d, like(-8.0 / 17.0, d), like(24.0 / 17.0, d))


@overload(_reciprocal)
def _reciprocal_impl(d):
    # The steps are written out: a loop inside the element formula stops LLVM from
    # vectorizing the kernel's loop around it.
    start = _reciprocal_start
    if d == types.float64:
        return lambda d: _newton(_newton(_newton(start(d), d), d), d)
    if d == types.float32:
        return lambda d: _newton(_newton(start(d), d), d)
    return None


@register_jitable
def _ratio(num, t):
    """num / (1 + t) for 0 <= t <= 1, within a fraction of an ULP, without a division.

    1 + t is split into its rounded sum d and the exact rounding error e; the quotient from
    the approximate reciprocal is then corrected by its residual, which an FMA gives exactly:
    one more Newton step, which squares the reciprocal's error again. The seed's four
    roundings shrink to about one.
    """
    one = like(1.0, t)
    d = one + t
    e = (one - d) + t
    inv = _reciprocal(d)
    q = num * inv
    r = fma(-q, d, num) - q * e
    return fma(r, inv, q)


@register_jitable
def _sigmoid_of(x, constants):
    t = exp_nonpositive(-abs(x), constants)
    # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: neither can overflow. No ordered
    # float compare touches NaN (it would raise the invalid flag, which NumPy reports after a
    # ufunc loop); x == x is a quiet compare.
    s = _ratio(t if sign_bit(x) else like(1.0, x), t)
    return s if x == x else x


@register_jitable
def sigmoid_f64(x):
    return _sigmoid_of(x, _F64)


@register_jitable
def sigmoid_f32(x):
    return _sigmoid_of(x, _F32)


def sigmoid(x):
    """The sigmoid of one float32 or float64 value (compiled code only)."""
    raise NotImplementedError("fastact._math.sigmoid is for compiled code only")


@overload(sigmoid)
def _sigmoid(x):
    return {types.float32: sigmoid_f32, types.float64: sigmoid_f64}.get(x)
