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


# --- float64 -------------------------------------------------------------------------------
# Cody-Waite split of ln 2: the high part has trailing zero bits, so k * _LN2_HI is exact.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# Taylor terms 1/13! .. 1/0!: on |r| <= ln2/2 the truncation error is 4e-18, far below an ULP,
# and a polynomial needs no division (the division is the one slow vector instruction).
_EXP64 = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))
# exp(-746) rounds to 0.0: clamping there keeps k in int range.
_FLOOR64 = -746.0


@register_jitable
def _pow2_64(k):
    return bitcast((k + np.int64(1023)) << np.int64(52))


@register_jitable
def exp_nonpositive_f64(a):
    """exp(a) for -inf <= a <= 0 (not NaN)."""
    a = a if a > _FLOOR64 else _FLOOR64
    kf = np.floor(a * _LOG2E + 0.5)
    r = (a - kf * _LN2_HI) - kf * _LN2_LO
    y = _horner(r, _EXP64)
    # 2**k in two normal halves, so a subnormal result is rounded once, in the last product.
    k = np.int64(kf)
    k1 = k >> np.int64(1)
    return y * _pow2_64(k1) * _pow2_64(k - k1)


# --- float32, computed natively in float32 lanes (twice the SIMD width of float64) ----------
_LOG2E_F = np.float32(1.44269504088896341)
_LN2_HI_F = np.float32(0.693359375)
_LN2_LO_F = np.float32(-2.12194440e-4)
# Cephes' minimax coefficients for expf on |r| <= ln2/2, then the exact 1 and 1.
_EXP32 = tuple(
    np.float32(c)
    for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
              1.6666665459e-1, 5.0000001201e-1, 1.0, 1.0)
)
_FLOOR32 = np.float32(-104.0)
_HALF_F = np.float32(0.5)


@register_jitable
def _pow2_32(k):
    # numba widens int32 arithmetic to int64: narrow back before reinterpreting the bits.
    return bitcast(np.int32((k + np.int32(127)) << np.int32(23)))


@register_jitable
def exp_nonpositive_f32(a):
    """exp(a) for float32 -inf <= a <= 0 (not NaN)."""
    a = a if a > _FLOOR32 else _FLOOR32
    kf = np.floor(a * _LOG2E_F + _HALF_F)
    r = (a - kf * _LN2_HI_F) - kf * _LN2_LO_F
    y = _horner(r, _EXP32)
    k = np.int32(kf)
    k1 = k >> np.int32(1)
    return y * _pow2_32(k1) * _pow2_32(k - k1)


@register_jitable
def _ratio(num, t):
    """num / (1 + t), within a fraction of an ULP, with one division.

    1 + t is split into its rounded sum d and the exact rounding error e; the quotient from
    the reciprocal is then corrected by its residual, which an FMA gives exactly. The seed's
    four roundings shrink to about one.
    """
    one = like(1.0, t)
    d = one + t
    e = (one - d) + t
    inv = one / d
    q = num * inv
    r = fma(-q, d, num) - q * e
    return fma(r, inv, q)


@register_jitable
def _sigmoid_with(x, exp_nonpositive):
    zero = like(0.0, x)
    # Ordered comparisons with NaN raise the invalid flag (and NumPy then warns), so NaN is
    # swapped for 0 first and restored at the end; == and != are quiet.
    v = x if x == x else zero
    t = exp_nonpositive(-abs(v))
    # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: neither can overflow.
    s = _ratio(t if sign_bit(v) else like(1.0, x), t)
    return s if x == x else x


@register_jitable
def sigmoid_f64(x):
    return _sigmoid_with(x, exp_nonpositive_f64)


@register_jitable
def sigmoid_f32(x):
    return _sigmoid_with(x, exp_nonpositive_f32)


def sigmoid(x):
    """The sigmoid of one float32 or float64 value (compiled code only)."""
    raise NotImplementedError("fastact._math.sigmoid is for compiled code only")


@overload(sigmoid)
def _sigmoid(x):
    return {types.float32: sigmoid_f32, types.float64: sigmoid_f64}.get(x)
