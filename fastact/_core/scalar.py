"""Scalar building blocks for the kernels: typed constants and a vectorizable sigmoid.

numba has no SVML, so ``math.exp`` in a loop stays a scalar libm call and blocks SIMD.
The exponential here is branch-free (range reduction, a polynomial, 2**k built from exponent
bits), so LLVM turns the loops that call it into vector code. Each function is a plain
``register_jitable`` function: callable from any numba kernel or ufunc, inlined there.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .jit import overload, register_jitable


def like(value, x):
    """``value`` as a constant of ``x``'s type (inside compiled code only).

    In a float32 kernel a literal ``1.0`` is float64 and silently promotes the whole
    expression; formulas write ``like(1.0, x)`` instead.
    """
    raise NotImplementedError("fastact._core.scalar.like is for compiled code only")


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


@intrinsic
def inline_here(typingctx):
    """Mark the enclosing compiled function ``alwaysinline`` for LLVM.

    numba compiles each jitable function on its own and leaves inlining to LLVM's cost model,
    which refuses the larger ones (tanh, erf, the formulas): the loop around them then holds a
    call and stays scalar (seen in the IR of numba's own ufunc loops). Every function here
    calls this first, so each loop gets one flat body it can vectorize.
    """

    def codegen(context, builder, signature, args):
        builder.function.attributes.add("alwaysinline")
        return context.get_dummy_value()

    return types.none(), codegen


@register_jitable
def two_sum(a, b):
    """a + b = s + e exactly (Knuth's TwoSum: no condition on the magnitudes)."""
    inline_here()
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@register_jitable
def two_prod(a, b):
    """a * b = p + e exactly (barring underflow), from one FMA."""
    inline_here()
    p = a * b
    return p, fma(a, b, -p)


def _unsigned(b):
    """The bits b (int32 or int64) as the unsigned integer of their width (compiled code only)."""
    raise NotImplementedError("compiled code only")


@overload(_unsigned)
def _unsigned_impl(b):
    target = {types.int32: types.uint32, types.int64: types.uint64}.get(b)
    if target is None:
        return None
    return lambda b: target(b)


def _magnitude_mask(x):
    """All bits but the sign, as the integer of x's width (compiled code only)."""
    raise NotImplementedError("compiled code only")


@overload(_magnitude_mask)
def _magnitude_mask_impl(x):
    mask = {types.float32: np.int32(0x7FFFFFFF), types.float64: np.int64(0x7FFFFFFFFFFFFFFF)}.get(x)
    if mask is None:
        return None
    return lambda x: mask


@register_jitable
def sign_bit(x):
    """Whether x's sign bit is set (-0.0 and negative NaN included), without a float compare."""
    return bitcast(x) < 0


@register_jitable
def less_equal_zero(x):
    """x <= 0 without an ordered float compare: NaN gives False and raises no invalid flag.

    LLVM folds any NaN guard around ``x <= 0`` back into one signaling compare, which sets
    the invalid flag on NaN (NumPy then warns after a ufunc loop); integer compares can't trap
    (``x == 0`` would, on a signalling NaN). As signed integers, +0.0 is 0 and the negative
    non-NaN floats (-0.0 .. -inf) are exactly those at or below the bits of -inf; negative
    NaNs lie between -inf and 0. This is IEEE's x <= 0: where the CPU treats subnormal inputs
    as zero (DAZ), NumPy's differs on positive subnormals, and the layers take NumPy's path.
    """
    bits = bitcast(x)
    return (bits == 0) | (bits <= bitcast(like(-np.inf, x)))


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma, one instruction where the CPU has FMA)."""
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


# Per dtype: log2(e); ln 2 split Cody-Waite style (hi + lo carries ln 2 to twice the precision,
# so k * ln 2 is subtracted without losing the low bits of r); the clamp below which exp rounds
# to 0; the coefficients of P in exp(r) = 1 + r + r**2 P(r) on |r| <= ln2/2; the shifter
# 1.5 * 2**m + bias + K whose low bits, after an FMA rounds a * log2(e) onto them, hold k + bias + K;
# the mantissa width m; and 2**-K.
#
# P: Chebyshev fits (mpmath.chebyfit, 50 digits) of (exp(r) - 1 - r) / r**2 on |r| <= 0.3466,
# degree 9 for float64 and 4 for float32: the fit error times r**2 is 1.3e-17 and 7.8e-9,
# about a tenth of an ULP of exp(r). Lower degrees miss that by 30x; each degree more is one
# FMA per element for nothing.
_F64 = (
    1.4426950408889634,
    6.93147180369123816490e-01,
    1.90821492927058770002e-10,
    -746.0,
    _split(
        (
            2.510038319586702e-08,
            2.7620085455018414e-07,
            2.7557268464831627e-06,
            2.4801521302241082e-05,
            0.00019841269863050506,
            0.001388888891720967,
            0.008333333333330063,
            0.041666666666624136,
            0.16666666666666669,
            0.5000000000000001,
        )
    ),
    1.5 * 2.0**52 + 1023 + 512,
    np.int64(52),
    2.0**-512,
)
_F32 = (
    np.float32(1.44269504088896341),
    np.float32(0.693359375),
    np.float32(-2.12194440e-4),
    np.float32(-104.0),
    _split(
        tuple(
            np.float32(c)
            for c in (0.0013926181810489343, 0.008363177629994445, 0.041666554627878084, 0.16666576998242924, 0.5)
        )
    ),
    np.float32(1.5 * 2.0**23 + 127 + 64),
    np.int32(23),
    np.float32(2.0**-64),
)


# Fits for results that end in float32, shared by libm64 (evaluated in float64) and libm32
# (in float32, each coefficient rounded to float32); highest degree first.
#: P in exp(r) = 1 + r + r**2 P(r) on |r| <= ln2/2: mpmath.chebyfit of (exp(r) - 1 - r) / r**2,
#: 40 digits, degree 6 (3e-12).
EXP_FIT32 = (
    2.4859578222625295e-05,
    0.0001989927395864936,
    0.001388885404961482,
    0.008333298483754886,
    0.041666666718980845,
    0.16666666718997508,
    0.5,
)
#: P in erf(x) = x (2/sqrt(pi) + z P(z)), z = x**2, |x| < 1: mpmath.chebyfit of erf(x)/x in z
#: on [0, 1], degree 8 (8e-13), the constant term then replaced by 2/sqrt(pi).
ERF_FIT32 = (
    1.058938064107502e-06,
    -1.3909340021874599e-05,
    0.0001195656256820733,
    -0.0008542637997087229,
    0.005223783477189248,
    -0.026866133235095593,
    0.11283791308604582,
    -0.3761263888963531,
)


@register_jitable
def exp_nonpositive(a, constants):
    """exp(a) for -inf <= a <= 0, in a's dtype; any NaN gives some finite value."""
    log2e, ln2_hi, ln2_lo, lowest, coefficients, shifter, mantissa, unscale = constants
    # The clamp is an integer min of the bits: the more negative a float, the larger its bits
    # as a signed integer (negative NaNs the largest); one instruction, and no FP flag raised.
    a = bitcast(min(bitcast(a), bitcast(lowest)))
    # ... and an integer max holds a at -2**-60 or below: exp rounds to 1 from there up to 0,
    # and a tinier r would make r * r underflow (a flag NumPy reports after a ufunc loop).
    a = bitcast(max(bitcast(a), bitcast(like(-(2.0**-60), a))))
    # One FMA rounds a * log2(e) to the nearest integer k, held in j's low mantissa bits
    # (no floor, no float-to-int conversion); kf = k exactly.
    j = fma(a, log2e, shifter)
    kf = j - shifter
    r = fma(kf, -ln2_lo, fma(kf, -ln2_hi, a))
    # 1 + (r + r**2 * P): the two largest terms are added last, each rounding once.
    y = like(1.0, a) + fma(r * r, _polynomial(r, coefficients), r)
    # Shifting j's bits up leaves (k + bias + K) in the exponent field: 2**(k + K). y * 2**k is
    # taken as (y * 2**(k + K)) * 2**-K, whose first factor is always normal, so a subnormal
    # result is rounded once, in the last product.
    bits = bitcast(j)
    return y * bitcast(like(bits << mantissa, bits)) * unscale


def _ratio(num, t):
    """num / (1 + t) for 0 <= t <= 1, closer than the seed's two roundings (compiled only).

    1 + t is split into its rounded sum d and its exact rounding error e (Fast2Sum), and the
    true division does the rest; what is corrected after it depends on which unit bounds the
    kernel (measured, AVX-512):

    - float64: the divider (16 cycles per 8 lanes), so the FMA units have room for the full
      correction: the residual num - q (d + e), exact from an FMA, times a rough 1 / d (the
      line 24/17 - 8/17 d, within 1/17). What is left is about one rounding of the quotient.
    - float32: the FMA units, so only e is corrected: q (1 - e), where e / d is due; off by at
      most a quarter ULP, and every float32 input stays within 1.98 ULP (tested exhaustively).

    Newton steps from FMAs instead of the division are exact too, but cost 7 more operations
    per element than the divider, which runs beside the FMA units.
    """
    raise NotImplementedError("compiled code only")


# Below these, the rounding error e of 1 + t is under 2**-60 (2**-30) of the result's ULP: its
# correction changes nothing, and the product q * e would only underflow. e is then taken as 0.
_NEGLIGIBLE = 2.0**-60
_NEGLIGIBLE32 = np.float32(2.0**-30)


@overload(_ratio)
def _ratio_impl(num, t):
    if t == types.float64:

        def ratio(num, t):
            d = 1.0 + t
            e = (1.0 - d) + t
            e = e if t > _NEGLIGIBLE else 0.0  # else q * e underflows (NumPy would report it)
            q = num / d
            r = fma(-q, d, num) - q * e
            return fma(r, fma(d, -8.0 / 17.0, 24.0 / 17.0), q)

        return ratio
    if t == types.float32:
        one, zero = np.float32(1.0), np.float32(0.0)

        def ratio(num, t):
            d = one + t
            e = (one - d) + t
            e = e if t > _NEGLIGIBLE32 else zero  # else q * e underflows
            q = num / d
            return fma(-q, e, q)

        return ratio
    return None


@register_jitable
def _sigmoid_of(x, constants):
    # -inf's exact 0 must not come out of the exponential, whose tiny result raises the
    # underflow flag (NumPy reports it after a ufunc loop): it is computed as sigmoid(0) and
    # replaced. Finite inputs with subnormal results raise it, as NumPy's exp does.
    minus_inf = bitcast(x) == bitcast(like(-np.inf, x))  # float32's x == -inf signals on NaN
    a = like(-0.0, x) if minus_inf else -abs(x)  # (+0.0 is outside the clamp's domain)
    # For x >= 0 the result 1 / (1 + t) is 1 once t < 2**-54: a is held at -60 or above
    # there, so that no tiny t is computed (its underflow flag, too, NumPy would report).
    # An integer min of the bits is a float max for negative values, NaN-safe (see below).
    a = a if sign_bit(x) else bitcast(min(bitcast(a), bitcast(like(-60.0, x))))
    t = exp_nonpositive(a, constants)
    # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: neither can overflow. No ordered
    # float compare touches NaN (it would raise the invalid flag, which NumPy reports after a
    # ufunc loop); == is a quiet compare.
    s = _ratio(t if sign_bit(x) else like(1.0, x), t)
    s = like(0.0, x) if minus_inf else s
    return s if x == x else x


@register_jitable
def sigmoid_f64(x):
    return _sigmoid_of(x, _F64)


@register_jitable
def sigmoid_f32(x):
    return _sigmoid_of(x, _F32)


def sigmoid(x):
    """The sigmoid of one float32 or float64 value (compiled code only)."""
    raise NotImplementedError("fastact._core.scalar.sigmoid is for compiled code only")


@overload(sigmoid)
def _sigmoid(x):
    return {types.float32: sigmoid_f32, types.float64: sigmoid_f64}.get(x)
