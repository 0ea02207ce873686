"""Row kernels: softmax, log-softmax, their backward passes and the fused softmax + cross-entropy.

Every kernel takes C-contiguous 2-D arrays ``(rows, n)``; the parallel build spreads rows (or,
for rows shorter than ``_STORE_MIN``, blocks of rows) over threads in shares (``kernels.Pair``).
The loops over a row are plain loops that LLVM vectorizes: the exponentials are branch-free,
the max is an integer max of order-preserving keys, and the row sums are integer sums on a grid
(``_grid``, float64) or float64 sums of stored terms in a function of their own that may
reassociate (float32): float reductions need reassociation to vectorize, and the error-free
transformations around them must not get it. Long rows are taken in blocks of rows that
share one scratch row (an allocation per row cost as much as the row's exps); float32 rows of
up to 16 are taken a vector lane per row (``_softmax_columns_f32``).

Exactness (u = 2**-53; n = row length < 2**20; ULP of the true result, rounded to the dtype):

- float32: float32 arithmetic at eight lanes (the backward passes compute in the arrays'
  dtype, as PyTorch and NumPy do). x - max = hi + lo exactly (TwoSum); exp(hi + lo) as a
  float32 pair e + e_lo (``libm32.exp_ds``) within eps = 2**-25.8 relative (measured over
  4M arguments, tests/exactness/test_softmax.py); sums of the pairs in float64 (n u relative).
  Softmax: (e + e_lo) / S as one FMA with 1/S as a float32 pair, error <= 0.5 + 2 eps 2**24
  (numerator and sum; an ULP is >= 2**-24 of the result) + n 2**-29 < 1.1 ULP (n < 2**16),
  measured up to 0.69. Log-softmax: (x - max) - L in float64 (4u relative: two roundings
  and the one to float32 after them), L = log1p(S - 1) in float64; L's relative error is <=
  eps + 2**-27 (see ``_log_sum_f32``), and |result| >= L, so the error is <= 0.5 + 0.29 +
  0.125 < 0.95 ULP, measured up to 0.52. (Computing float32 in float64 and rounding once gives
  0.5 + 2e-4 ULP at half the lanes.)
- float64 softmax: x - max = hi + lo exactly (TwoSum); exp(x - max) = e + err, e + err being
  exp(hi) (1 + lo) before its last rounding (``_exp_split``: within 0.26 ULP of exp(hi),
  measured over 1M arguments in [-700, 0]; 0.81 quanta where subnormal); the row sum is exact
  on the grid up to 2**(3k - 116) (2**k > n), < u / 64 relative for n < 65536; the quotient is
  q + residual / s with one final rounding. Error <= 0.5 + 2 * 0.26 (numerator) + 2 * 0.26
  (the sum's terms) + 1/32 < 1.6 ULP (the 2: a relative error of one ULP of e is up to two ULP
  of a result at the other end of its binade); measured up to 0.8.
- float64 log-softmax: (hi - L) + (lo - L_lo), hi <= 0 <= L (no cancellation), L =
  log1p(count - 1 + R) with R, the terms below the max, on the grid; where R < 2**-10 it is
  summed again relative to the second value (R = exp(m2 - m) V, V >= 1 on the grid) so that
  R keeps its relative precision however small. Error <= 0.5 (rounding) + 1 (glibc's log1p)
  + 2 * 0.26 (the exps in R) = 2.02 ULP as a worst-case bound (1.52 at the max itself);
  measured up to 1.0, tested <= 2.
"""

import math

import numpy as np
from numba import njit, types

from . import libm32, libm64
from .jit import KERNEL, overload, register_jitable
from .kernels import Pair, _cached, share, wide_vectors
from .scalar import _F32, _F64, _polynomial, bitcast, exp_nonpositive, fma, inline_here

_LOG_FLOOR = 1e-7  # the book's cross_entropy_error adds this inside the log
#: From this row length softmax keeps its exps in a scratch row rather than computing them
#: twice (below it, allocating the row costs more than the exps).
_STORE_MIN = 64


def _key(v):
    """An integer that orders like the float v (-0.0 taken as +0.0; NaNs at the ends)."""
    raise NotImplementedError("compiled code only")


@overload(_key)
def _key_impl(v):
    # Integer max reductions vectorize without fast-math flags; float ones don't. Flipping the
    # magnitude bits of negative floats makes signed-integer order the float order.
    if v == types.float64:
        mask = np.int64(0x7FFFFFFFFFFFFFFF)

        def key(v):
            b = bitcast(v + 0.0)
            return b ^ ((b >> 63) & mask)

        return key
    if v == types.float32:
        # In int32, eight lanes (AVX2 has no int64 max: int64 keys took 2x as long). numba
        # types the shift and the mask in int64; the truncation lets LLVM keep them in int32.
        mask32 = np.int32(0x7FFFFFFF)
        shift = np.int32(31)
        zero = np.float32(0.0)

        def key32(v):
            b = bitcast(v + zero)
            return np.int32(b ^ ((b >> shift) & mask32))

        return key32
    return None


def _from_key(k, like):
    raise NotImplementedError("compiled code only")


@overload(_from_key)
def _from_key_impl(k, like):
    if like == types.float64:
        mask = np.int64(0x7FFFFFFFFFFFFFFF)
        return lambda k, like: bitcast(k ^ ((k >> 63) & mask))
    if like == types.float32:
        mask32 = np.int32(0x7FFFFFFF)
        shift = np.int32(31)
        return lambda k, like: bitcast(np.int32(k ^ ((k >> shift) & mask32)))
    return None


@register_jitable
def _row_max(x):
    """(max, bad): bad when the row holds a NaN or its max is not finite (torch's NaN rows).

    NaNs are found by their keys: a positive NaN's is above +inf's, a negative NaN's below
    -inf's (one more integer min beside the max, where counting x != x took int64 lanes)."""
    hi = _key(x[0])
    lo = hi
    for j in range(x.shape[0]):
        wide_vectors()
        k = _key(x[j])
        hi = max(hi, k)
        lo = min(lo, k)
    inf = _key(x.dtype.type(np.inf))
    minus_inf = _key(x.dtype.type(-np.inf))
    return _from_key(hi, x[0]), hi >= inf or hi <= minus_inf or lo < minus_inf


@register_jitable
def _next_below(x, m):
    """The largest value of the row below m (-inf if none)."""
    km = _key(m)
    lowest = _key(x.dtype.type(-np.inf))
    k2 = lowest
    for j in range(x.shape[0]):
        wide_vectors()
        kj = _key(x[j])
        k2 = max(k2, kj if kj < km else lowest)  # a plain max reduction: it vectorizes
    return _from_key(k2, m)


@register_jitable
def _two_diff(a, b):
    """a - b = hi + lo exactly (TwoSum); lo = 0 where hi is infinite (the TwoSum gives NaN)."""
    hi = a - b
    bb = hi - a
    lo = (a - (hi - bb)) - (b + bb)
    return hi, (lo if lo == lo else 0.0)  # noqa: PLR0124 (a NaN test)


@register_jitable
def _grid(n):
    """Shifters for summing n terms in [0, 1] exactly in int64 (see ``_accumulate``).

    With 2**k > n and q = 2**(k - 53), a term v is split as v = h + l, h a multiple of q
    (|h / q| <= 2**(53 - k), so the h / q of n terms add to < 2**53), |l| <= q / 2, and l is
    rounded to a multiple of q2 = max(q 2**(k - 62), q 2**-51) (|l / q2| <= 2**50: the l / q2
    of n terms add to < 2**62). The sums are exact integers, whatever the order of addition
    (which is what lets LLVM vectorize them: float sums would need reassociation); what the
    rounding of l drops is below n q2 / 2 <= 2**(3k - 116) in all (k <= 20: < u / 8 of the
    sum, which is at least 1).
    """
    k = 3
    while (1 << k) <= n:
        k += 1
    q = _pow2(k - 53)
    q2 = _pow2(k - 53 + max(k - 62, -51))
    return 1.5 * 2.0**52 * q, 1.5 * 2.0**52 * q2, q, q2


@register_jitable
def _pow2(e):
    """2.0 ** e for normal results, from the exponent bits (pow is a libm call)."""
    return bitcast(np.int64(e + 1023) << 52)


@register_jitable
def _accumulate(v, c1, c2, v_lo=0.0):
    """(h / q, l / q2) of a term v + v_lo (v in [0, 1], |v_lo| tiny) as integers: adding c1
    rounds v to a multiple h of q = ulp(c1), the integer difference of the bits is that
    multiple; likewise the rest l = (v - h) + v_lo with c2."""
    t = v + c1
    i1 = bitcast(t) - bitcast(c1)
    i2 = bitcast(((v - (t - c1)) + v_lo) + c2) - bitcast(c2)
    return i1, i2


@register_jitable
def _total(i1, i2, q, q2):
    """The sum as (hi, lo) from the integer sums: i1 q is exact (i1 < 2**53)."""
    return _fast_two_sum(np.float64(i1) * q, np.float64(i2) * q2)


@register_jitable
def _fast_two_sum(a, b):
    s = a + b
    return s, b - (s - a)


# --- float64 ------------------------------------------------------------------------------


@register_jitable
def _exp_split(a):
    """exp(a) for -inf <= a <= 0 (sign bit set) as e + err, e = exp(a) rounded.

    ``scalar.exp_nonpositive``'s reduction and polynomial, with the roundings that matter kept:
    r = a - k ln2 as r0 + r1 (r0 exact, r1 = -k ln2_lo) summed by TwoSum into r + r_lo, and
    exp(r) = 1 + r + t, t = r**2 P(r) (|t| < 0.07), added with Fast2Sum. What is left is the
    polynomial's fit (1.3e-17), t's rounding (< 2**-57) and r_lo's effect on t: measured within
    0.2 ULP of exp(a) (tests/exactness/test_softmax.py).
    """
    log2e, ln2_hi, ln2_lo, lowest, coefficients, shifter, mantissa, unscale = _F64
    a = bitcast(min(bitcast(a), bitcast(lowest)))
    j = fma(a, log2e, shifter)
    kf = j - shifter
    r0 = fma(kf, -ln2_hi, a)  # exact: k ln2_hi has trailing zeros, and r0 is near a
    r1 = kf * -ln2_lo
    r, r_lo = _two_diff(r0, -r1)
    t = r * r * _polynomial(r, coefficients)
    y = 1.0 + r
    y_lo = ((1.0 - y) + r) + (t + r_lo * (1.0 + r))
    e = y + y_lo
    err = (y - e) + y_lo
    bits = bitcast(j)
    scale = bitcast(bits << mantissa)
    return e * scale * unscale, err * scale * unscale


@register_jitable
def _exp_diff_f64(v, m):
    """exp(v - m) = e + (e * lo + err), v - m = hi + lo exactly."""
    hi, lo = _two_diff(v, m)
    e, err = _exp_split(-abs(hi))
    return e, fma(e, lo, err)


@register_jitable
def _sum_f64(x, ref, top):
    """Sum of exp(x - ref) over the x < top of the row, as (hi, lo) on the grid, and how many
    x == top there are (ref <= top; ref < x < top never happens: ref is top or the value just
    below it)."""
    c1, c2, q, q2 = _grid(x.shape[0])
    s1 = 0
    s2 = 0
    count = 0
    for j in range(x.shape[0]):
        wide_vectors()
        e, lo = _exp_diff_f64(x[j], ref)
        count += x[j] == top
        keep = x[j] < top
        i1, i2 = _accumulate(e if keep else 0.0, c1, c2, lo if keep else 0.0)
        s1 += i1
        s2 += i2
    hi, lo = _total(s1, s2, q, q2)
    return hi, lo, count


#: Below this, R (the sum of the terms under the max) is summed again relative to the next
#: value: on the grid its absolute error is < 2**(3k - 116), which is not small relative to R.
_SMALL_R = 2.0**-10


@register_jitable
def _softmax_row_f64(rows, out, i, w):
    inline_here()
    x, o = rows[i], out[i]
    n = x.shape[0]
    if n == 0:
        return
    m, bad = _row_max(x)
    if bad:
        o[:] = np.nan
        return
    if n < _STORE_MIN:
        s_hi, s_lo, _ = _sum_f64(x, m, np.inf)
        inv = 1.0 / s_hi
        for j in range(n):
            wide_vectors()
            e, lo = _exp_diff_f64(x[j], m)
            o[j] = _quotient(e, lo, s_hi, s_lo, inv)
        return
    # Longer rows keep each exp from the sum's pass (e in o, its low part in the scratch row
    # w) instead of computing it twice: both stay in cache.
    c1, c2, q, q2 = _grid(n)
    s1 = 0
    s2 = 0
    for j in range(n):
        wide_vectors()
        e, lo = _exp_diff_f64(x[j], m)
        o[j] = e
        w[j] = lo
        i1, i2 = _accumulate(e, c1, c2, lo)
        s1 += i1
        s2 += i2
    s_hi, s_lo = _total(s1, s2, q, q2)
    inv = 1.0 / s_hi
    for j in range(n):
        wide_vectors()
        o[j] = _quotient(o[j], w[j], s_hi, s_lo, inv)


@register_jitable
def _quotient(e, lo, s_hi, s_lo, inv):
    """(e + lo) / (s_hi + s_lo) = q + (e - q s_hi + lo - q s_lo) / s_hi, q = e / s_hi, with one
    rounding that matters (the last): the residual e - q s_hi is exact from an FMA."""
    q = e * inv
    r = fma(-q, s_hi, e) + (lo - q * s_lo)
    return fma(r, inv, q)


@register_jitable
def _log_sum_f64(x, m):
    """log(sum exp(x - m)) as (hi, lo): log1p(count - 1 + R), R = the sum over x < m.

    Near the max the result is -log1p(R) ~ -R, which needs R to a relative 2**-53: where R is
    small it is summed again relative to the next value m2 (R = exp(m2 - m) V, V >= 1 on the
    grid), so that it keeps its relative precision however small it is.
    """
    r_hi, r_lo, count = _sum_f64(x, m, m)
    m2 = _next_below(x, m) if r_hi < _SMALL_R and count < x.shape[0] else -np.inf
    if m2 > -np.inf:  # else the terms below the max are all exp(-inf) = 0
        v_hi, v_lo, _ = _sum_f64(x, m2, m)
        e, e_lo = _exp_diff_f64(m2, m)
        r_hi = e * v_hi
        r_lo = fma(e, v_hi, -r_hi) + (e_lo * v_hi + e * v_lo)
    u_hi, u_lo = _two_diff(np.float64(count - 1), -r_hi)
    u_hi, u_lo = _fast_two_sum(u_hi, u_lo + r_lo)
    return math.log1p(u_hi), u_lo / (1.0 + u_hi)


@register_jitable
def _log_softmax_row_f64(rows, out, i, w):  # w: unused (the grid sums need no scratch)
    inline_here()
    x, o = rows[i], out[i]
    n = x.shape[0]
    if n == 0:
        return
    m, bad = _row_max(x)
    if bad:
        o[:] = np.nan
        return
    l_hi, l_lo = _log_sum_f64(x, m)
    for j in range(n):
        wide_vectors()
        hi, lo = _two_diff(x[j], m)
        s, e = _two_diff(hi, l_hi)
        t = e + (lo - l_lo)
        # t is NaN only where hi is -inf: the result is -inf
        o[j] = s + t if t == t else s  # noqa: PLR0124


# --- float32: float32 arithmetic, eight lanes, the exps as float32 pairs ---------------------
#
# x - m = hi + lo exactly (TwoSum, hi <= 0), exp(hi + lo) = (e + e_lo) 2**k from libm32.exp_ds
# (a pair good to about 2**-28 relative), sums in float64. Softmax: y = (e + e_lo) / S as one
# FMA with 1/S as a float32 pair; log-softmax: (x - m) - L in float64, L = log(S).

_F32_LOW = np.float32(-125.0)  # exp below it: < 2**-180, nothing a float32 result or sum can hold
_TWO64 = 2.0**64  # the float32 exps are kept times 2**64 (see _exp_diff_f32)
_UNSCALE32 = np.float32(2.0**-64)


@register_jitable
def _diff32(v, m):
    """v - m = hi + lo exactly for v <= m (TwoSum of m - v, negated: hi is -0.0 at the max);
    lo is NaN where hi is -inf (the callers select it away)."""
    s = m - v
    bb = s - m
    return -s, (v + bb) - (m - (s - bb))


@register_jitable
def _exp_diff_f32(v, m):
    """exp(v - m) * 2**64 for v <= m, as a float32 pair e + e_lo (both exact products of
    exp_ds's pair and 2**(k + 64): normal for every term a float32 result can hold, so that
    the corrections stay at full precision where the result is near or below FLT_MIN).
    v - m below -125 is taken as -125 (exp < 2**-180), with no low part."""
    hi, lo = _diff32(v, m)
    low = bitcast(hi) > bitcast(_F32_LOW)  # hi < -125, -inf included (negative floats' bits)
    hi = _F32_LOW if low else hi
    eh, el, j = libm32.exp_ds(hi, np.float32(0.0) if low else lo)
    p2 = libm32._pow2_of(j)
    return eh * p2, el * p2


@register_jitable
def _softmax_row_f32(rows, out, i, w):
    inline_here()
    x, o = rows[i], out[i]
    n = x.shape[0]
    if n == 0:
        return
    m, bad = _row_max(x)
    if bad:
        o[:] = np.float32(np.nan)
        return
    for j in range(n):  # the exps' high parts into o, their low parts into w
        wide_vectors()
        o[j], w[j] = _exp_diff_f32(x[j], m)
    _divide_f32(o, w, _sum_pairs(o, w))


@register_jitable
def _divide_f32(o, w, s):
    """o = (o + w) / S rounded once, S = s 2**-64 (o, w and s are all 2**64 times the exps
    and their sum): 1/S as a float32 pair (ih + il, within 2**-48), the products that matter
    inside one FMA, which gives the result times 2**64 (its corrections stay normal), and one
    rounding more, to the result, only where it is subnormal."""
    inv = _TWO64 / s
    ih = np.float32(inv)
    il = np.float32(inv - np.float64(ih))
    for j in range(o.shape[0]):
        wide_vectors()
        o[j] = fma(o[j], ih, fma(w[j], ih, o[j] * il)) * _UNSCALE32


@register_jitable
def _exps_into(x, ref, top, hi, lo):
    """exp(x - ref) of the row's x < top as pairs into hi and lo (0 for the others: x - ref
    may be positive there), and their sum in float64. hi and lo are two arrays, not offsets
    into one: LLVM vectorizes the stores only then."""
    zero = np.float32(0.0)
    for j in range(x.shape[0]):
        wide_vectors()
        e, e_lo = _exp_diff_f32(x[j], ref)
        keep = x[j] < top
        hi[j] = e if keep else zero
        lo[j] = e_lo if keep else zero
    return _sum_pairs(hi, lo)


@register_jitable
def _log_sum_f32(x, m, w):
    """log(sum exp(x - m)) in float64, w a scratch of 2n.

    S = sum exp(x - m) over the whole row (the max's terms are exactly 1). S >= 2 leaves L =
    log(S) >= log 2, and S's relative error (the terms' 2**-28, the float64 sum's n 2**-53)
    is an absolute one in L, small against every result |x - m - L| >= L. Below 2 the max is
    alone and L = log1p(R), R = S - 1 exact: where R is so small that the sum's absolute
    error n 2**-52 would show in the result -L ~ -R, R is summed again relative to the next
    value m2 (R = exp(m2 - m) V, V >= 1, exp in float64). The terms are 2**64 times the exps
    (see _exp_diff_f32), normal down to 2**-180: none loses relative precision."""
    n = x.shape[0]
    hi = w[:n]
    lo = w[n : n + n]
    for j in range(n):
        wide_vectors()
        hi[j], lo[j] = _exp_diff_f32(x[j], m)
    r = _sum_pairs(hi, lo) / _TWO64 - 1.0
    if r < min(1.0, max(_SMALL_R, n * 2.0**-24)) and n > 1:
        m2 = _next_below(x, m)
        r = 0.0
        if m2 > -np.inf:  # else the terms below the max are all exp(-inf) = 0
            r = math.exp(np.float64(m2) - np.float64(m)) * (_exps_into(x, m2, m, hi, lo) / _TWO64)
    return math.log1p(r)


@register_jitable
def _log_softmax_row_f32(rows, out, i, w):
    inline_here()
    x, o = rows[i], out[i]
    n = x.shape[0]
    if n == 0:
        return
    m, bad = _row_max(x)
    if bad:
        o[:] = np.float32(np.nan)
        return
    lse = _log_sum_f32(x, m, w)
    # (x - m) - L in float64, rounded to float32 once: both terms are <= 0, so nothing cancels
    # and each float64 rounding is 2**-53 of the result (x - m is even exact but for |x| <
    # 2**-29 |m|); L's own error is that small against |result| >= L. Four lanes, but half the
    # additions of the float32 TwoSum it replaces: the loop 2.2x faster (300 -> 134 us over
    # (3072, 256), where a copy takes 95-103).
    mm = np.float64(m)
    for j in range(n):
        wide_vectors()
        o[j] = np.float32((np.float64(x[j]) - mm) - lse)


# --- short rows: the exps of a block of rows in one flat loop ---------------------------------
#
# A row shorter than a few vectors never reaches the vectorized loop body (the remainder loop
# runs instead), so for short rows the exps of a block of rows are taken in one flat loop over
# the block, each element beside its row's max; sums and quotients stay per row (no exp there).
# Same formulas, same bits as the row functions.

_BLOCK = 2048  # elements per block: the scratch rows stay in L1


@register_jitable
def _exp_block_f64(xf, mm, of, w):
    for k in range(xf.shape[0]):
        wide_vectors()
        e, lo = _exp_diff_f64(xf[k], mm[k])
        of[k] = e
        w[k] = lo


@register_jitable
def _exp_block_f32(xf, mm, of, w):
    for k in range(xf.shape[0]):
        wide_vectors()
        of[k], w[k] = _exp_diff_f32(xf[k], mm[k])


@register_jitable
def _block_maxes(xf, n):
    """Each row's max, repeated over its n places (the flat exp loop's second operand), and
    whether the row is bad (``_row_max``), for the rows of the flat block xf."""
    rows = xf.shape[0] // n
    mm = np.empty(xf.shape[0], xf.dtype)
    bad = np.zeros(rows, np.bool_)
    for i in range(rows):
        m, bad[i] = _row_max(xf[i * n : (i + 1) * n])
        for j in range(n):
            mm[i * n + j] = m
    return mm, bad


@register_jitable
def _softmax_block_f64(x, out, r0, r1):
    # The rows' sums, then their quotients, each indexed in the flat block, j in range(n):
    # a view per row, or range(i * n, i * n + n), made the block 1.5x as long at the book's
    # (100, 10) (5.1 -> 3.3 us, and 51 -> 30 us at (1000, 10), Intel VM, the same bits).
    # A NaN row is computed as the others, then filled.
    n = x.shape[1]
    rows = r1 - r0
    of = out.reshape(out.shape[0] * n)[r0 * n : r1 * n]
    xf = x.reshape(x.shape[0] * n)[r0 * n : r1 * n]
    mm, bad = _block_maxes(xf, n)
    w = np.empty(rows * n)
    _exp_block_f64(xf, mm, of, w)
    c1, c2, q, q2 = _grid(n)
    s_his = np.empty(rows)
    s_los = np.empty(rows)
    for i in range(rows):
        s1 = 0
        s2 = 0
        for j in range(n):
            i1, i2 = _accumulate(of[i * n + j], c1, c2, w[i * n + j])
            s1 += i1
            s2 += i2
        s_his[i], s_los[i] = _total(s1, s2, q, q2)
    for i in range(rows):
        s_hi = s_his[i]
        s_lo = s_los[i]
        inv = 1.0 / s_hi
        for j in range(n):
            k = i * n + j
            of[k] = _quotient(of[k], w[k], s_hi, s_lo, inv)
        if bad[i]:
            of[i * n : (i + 1) * n] = np.nan


@register_jitable
def _softmax_block_f32(x, out, r0, r1):
    n = x.shape[1]
    of = out.reshape(out.shape[0] * n)[r0 * n : r1 * n]
    xf = x.reshape(x.shape[0] * n)[r0 * n : r1 * n]
    mm, bad = _block_maxes(xf, n)
    w = np.empty((r1 - r0) * n, np.float32)
    _exp_block_f32(xf, mm, of, w)
    for i in range(r1 - r0):
        o = of[i * n : (i + 1) * n]
        v = w[i * n : (i + 1) * n]
        if bad[i]:
            o[:] = np.float32(np.nan)
            continue
        s = 0.0  # short rows: a plain float64 sum in order (it needs no vectors)
        for j in range(n):
            s += np.float64(o[j]) + np.float64(v[j])
        _divide_f32(o, v, s)


# --- very short float32 rows: a block of rows taken as columns ------------------------------
#
# At the book's (100, 10), work per row (a max, a sum, the quotient's setup) cost more than the
# row's exps: each is a loop of ten that never reaches its vector body, and a dependent chain.
# Up to _COLUMNS_MAX elements a row, a float32 block is transposed into scratch (row i of the
# block is column i: xt[j * R + i]), so that every pass is a loop over the R rows at once, one
# vector lane per row. The same formulas and the same bits (the sums are the same float64
# sums in the same order). Measured, process per version, through the dispatcher: softmax at
# (100, 10) 5.3 -> 4.3 us, (100, 16) 5.9 -> 5.6-5.9 us. Not for float64: its grid sums as
# per-lane integer arrays made (100, 10) no faster and (100, 16) slower (7.7-8.9 -> 9.1 us).

_COLUMNS_MAX = 16


@register_jitable
def _columns_in(x, r0, r1):
    """(x[r0:r1] transposed, flat; each row's max; nonzero where the row has a NaN or a
    non-finite max)."""
    n = x.shape[1]
    rr = r1 - r0
    xt = np.empty(n * rr, x.dtype)
    for i in range(rr):
        for j in range(n):
            xt[j * rr + i] = x[r0 + i, j]
    m = xt[:rr].copy()
    bad = np.zeros(rr, x.dtype)
    for j in range(n):
        c = xt[j * rr : (j + 1) * rr]
        for i in range(rr):
            m[i] = c[i] if c[i] > m[i] else m[i]
            bad[i] += c[i] != c[i]
    for i in range(rr):
        m[i] += 0  # -0.0 to 0.0 (the exps need the max of 0.0 and -0.0 to be 0.0, as _row_max's)
        bad[i] += not abs(m[i]) < np.inf
    return xt, m, bad


@register_jitable
def _softmax_columns_f32(x, out, r0, r1):
    n = x.shape[1]
    rr = r1 - r0
    xt, m, bad = _columns_in(x, r0, r1)
    lo = np.empty(n * rr, np.float32)
    for j in range(n):
        e = xt[j * rr : (j + 1) * rr]
        v = lo[j * rr : (j + 1) * rr]
        for i in range(rr):
            wide_vectors()
            e[i], v[i] = _exp_diff_f32(e[i], m[i])
    s = np.zeros(rr)
    for j in range(n):
        e = xt[j * rr : (j + 1) * rr]
        v = lo[j * rr : (j + 1) * rr]
        for i in range(rr):
            s[i] += np.float64(e[i]) + np.float64(v[i])
    ih = np.empty(rr, np.float32)
    il = np.empty(rr, np.float32)
    for i in range(rr):  # _divide_f32's 1/S pair, a lane per row; NaN for a NaN row
        inv = _TWO64 / s[i]
        h = np.float32(inv)
        ih[i] = h if bad[i] == 0 else np.float32(np.nan)
        il[i] = np.float32(inv - np.float64(h))
    for j in range(n):
        e = xt[j * rr : (j + 1) * rr]
        v = lo[j * rr : (j + 1) * rr]
        for i in range(rr):
            wide_vectors()
            e[i] = fma(e[i], ih[i], fma(v[i], ih[i], e[i] * il[i])) * _UNSCALE32
    for i in range(rr):
        for j in range(n):
            out[r0 + i, j] = xt[j * rr + i]


def _softmax_block(x, out, r0, r1):
    raise NotImplementedError("compiled code only")


@overload(_softmax_block)
def _softmax_block_impl(x, out, r0, r1):
    if x.dtype == types.float32:

        def impl(x, out, r0, r1):
            if x.shape[1] <= _COLUMNS_MAX:
                _softmax_columns_f32(x, out, r0, r1)
            else:
                _softmax_block_f32(x, out, r0, r1)

        return impl
    return {types.float64: _softmax_block_f64}.get(x.dtype)


#: Rows per block for long rows: enough elements that the block's one scratch row costs
#: nothing beside them, and blocks enough (8) to share among the threads.
_ROWS_BLOCK = 16384


@register_jitable
def _blocks(rows, n):
    """(rows per block, number of blocks)."""
    if n < _STORE_MIN:
        per = max(1, _BLOCK // n)
    else:
        per = max(1, min(_ROWS_BLOCK // n, (rows + 7) // 8))
    return per, (rows + per - 1) // per


@register_jitable
def _softmax_rows(x, out, r0, r1):
    """softmax of rows r0 to r1 of x into out, row by row (rows shorter than _STORE_MIN take
    ``_softmax_block``)."""
    w = np.empty(x.shape[1], x.dtype)
    for i in range(r0, r1):
        softmax_row(x, out, i, w)


# --- dispatch by dtype --------------------------------------------------------------------


def softmax_row(rows, out, i, w):
    """softmax of row i of rows into row i of out; w: a scratch row of their dtype and length.

    The 2-D arrays and an index, not the two rows: a row view made by the caller and passed
    to the row function cost about 25 ns a row more than one made inside it (inlined): one
    thread over (3072, 256) float32, 0.92x the time (softmax) and 0.95x (log-softmax)."""
    raise NotImplementedError("compiled code only")


def log_softmax_row(rows, out, i, w):
    """log-softmax of row i of rows into row i of out; w: a scratch row of their dtype, twice
    a row's length (see softmax_row)."""
    raise NotImplementedError("compiled code only")


@overload(softmax_row)
def _softmax_row(rows, out, i, w):
    return {types.float64: _softmax_row_f64, types.float32: _softmax_row_f32}.get(rows.dtype)


@overload(log_softmax_row)
def _log_softmax_row(rows, out, i, w):
    return {types.float64: _log_softmax_row_f64, types.float32: _log_softmax_row_f32}.get(rows.dtype)


def _exp_of(v):
    raise NotImplementedError("compiled code only")


@overload(_exp_of)
def _exp_of_impl(v):
    """exp(v) for v <= 0 in v's dtype (exp_nonpositive: float32 within 1.11 ULP, measured over
    every float32 in [-104, 0]; float64 within 1.06 ULP over 1M samples)."""
    constants = _F64 if v == types.float64 else _F32
    return lambda v: exp_nonpositive(-abs(v), constants)


def _wide(x):
    raise NotImplementedError("compiled code only")


@overload(_wide)
def _wide_impl(x):
    """The accumulation type: float64 for both (float32 sums are taken in float64)."""
    return lambda x: np.float64(x)


# --- kernels ------------------------------------------------------------------------------


def _make_softmax(take_block):
    def kernel(x, out, part, parts):
        per, blocks = _blocks(x.shape[0], x.shape[1])
        for b in share(blocks, part, parts):
            wide_vectors()
            r0 = b * per
            take_block(x, out, r0, min(x.shape[0], r0 + per))

    return kernel


def _make_log_softmax():
    def kernel(x, out, part, parts):
        per, blocks = _blocks(x.shape[0], max(x.shape[1], _STORE_MIN))
        for b in share(blocks, part, parts):
            wide_vectors()
            w = np.empty(2 * x.shape[1], x.dtype)
            for i in range(b * per, min(x.shape[0], (b + 1) * per)):
                log_softmax_row(x, out, i, w)

    return kernel


# Float sums vectorize only when LLVM may reassociate them; these two small functions carry
# that flag alone (it is per instruction, so it stays on their additions when inlined) and
# nothing in them is an error-free transformation that reassociation could undo.
def _sum_products(o, d):
    """sum(float64(o * d)): each product rounded in the arrays' dtype, as NumPy's o * d."""
    s = 0.0
    for j in range(o.shape[0]):
        s += np.float64(o[j] * d[j])
    return s


def _sum_pairs(a, b):
    """sum(float64(a) + float64(b)).

    Compiled apart from its callers, so the 512-bit vectors they ask for did not reach it: on
    the Intel kind LLVM summed 4 doubles a vector. At 8 the float32 softmax rows took
    0.94-0.99x the time (one thread, in turns; (3072, 256) the most), the same bits there. The
    other two sums gained nothing measurable (the backwards, alternating processes)."""
    s = 0.0
    for j in range(a.shape[0]):
        wide_vectors()
        s += np.float64(a[j]) + np.float64(b[j])
    return s


def _sum(d):
    s = 0.0
    for j in range(d.shape[0]):
        s += np.float64(d[j])
    return s


_REASSOC = {**KERNEL, "fastmath": {"reassoc"}}
_sum_products = _cached(njit, _sum_products, **_REASSOC)
_sum = _cached(njit, _sum, **_REASSOC)
_sum_pairs = _cached(njit, _sum_pairs, **_REASSOC)


def _make_softmax_backward():
    # The sequel's dx = out * dout; dx -= out * sum(dx): the same two products and one
    # subtraction per element (no FMA), the row sum taken in float64.
    def kernel(out, dout, dx, part, parts):
        for i in share(out.shape[0], part, parts):
            o = out[i]
            d = dout[i]
            g = dx[i]
            st = o.dtype.type(_sum_products(o, d))
            for j in range(o.shape[0]):
                wide_vectors()
                g[j] = o[j] * d[j] - o[j] * st

    return kernel


def _make_log_softmax_backward():
    # dx = dout - exp(out) * sum(dout), out <= 0 (a log-softmax output), in the arrays' dtype
    # as PyTorch and the NumPy expression compute it; the row sum in float64, rounded once.
    def kernel(out, dout, dx, part, parts):
        for i in share(out.shape[0], part, parts):
            wide_vectors()
            o = out[i]
            d = dout[i]
            g = dx[i]
            s = o.dtype.type(_sum(d))
            for j in range(o.shape[0]):
                wide_vectors()
                g[j] = d[j] - _exp_of(o[j]) * s

    return kernel


def _make_softmax_xent(take_block):
    # SoftmaxWithLoss.forward with class labels: y = softmax(x) row by row, and each row's
    # log(y[t] + 1e-7) (the book's floor), taken in float64 by a vectorized log over the rows.
    # Returns (the terms' sum in row order, whether a label lay outside [-n, n)); such a
    # label's row term is NaN. Negative labels count from the end as NumPy's indexing does.
    # The terms are taken after the loop over the blocks of rows: by the whole loop (part 0 of
    # 1), or, after the shares, by the share past the last (kernels.Pair, finish=True). They
    # live here, not in an array the caller allocates and passes: at the book's (100, 10) each
    # NumPy allocation and argument is a fair part of the call.
    def kernel(x, t, y, part, parts):
        rows, n = x.shape
        per, blocks = _blocks(rows, n)
        for b in share(blocks, part, parts):
            wide_vectors()
            r0 = b * per
            take_block(x, y, r0, min(rows, r0 + per))
        if parts != 1 and part != parts:
            return 0.0, False
        terms = np.empty(rows)
        any_bad = False
        for i in range(rows):
            k = t[i]
            if k < 0:
                k += n
            if k < 0 or k >= n:
                any_bad = True
                terms[i] = np.nan
            else:
                terms[i] = _wide(y[i, k]) + _LOG_FLOOR
        _logs(terms)
        total = 0.0  # in row order
        for i in range(rows):
            total += terms[i]
        return total, any_bad

    return kernel


@register_jitable
def _logs(a):
    """a = log(a), float64, in place (libm's log is a call per element: it does not vectorize)."""
    for i in range(a.shape[0]):
        wide_vectors()
        a[i] = libm64.log_f64(a[i])


def _make_xent_backward_labels():
    # dx = y.copy(); dx[arange, t] -= 1; dx / batch: the same roundings, row by row (batch, an
    # int, divides as NumPy's int scalar does: converted to y's dtype).
    # Returns how many labels lay outside [-n, n): the caller's t may have changed since
    # forward checked it, and such a label is never used as an index (the caller raises). The
    # whole loop counts them as it goes; after the shares, the share past the last counts them
    # again (kernels.Pair, finish=True).
    # The quotients in one flat loop per block of rows: a loop per row never reached its
    # vector body at the book's rows of 10 (float64: 1.4 -> 1.05 us at (100, 10), 11.4 ->
    # 7.0 us at (1000, 10), Intel VM).
    def kernel(y, t, batch, dx, part, parts):
        b = y.dtype.type(batch)
        rows, n = y.shape
        per, blocks = _blocks(rows, n)
        bad = 0
        for block in share(blocks, part, parts):
            r0 = block * per
            r1 = min(rows, r0 + per)
            yb = y.reshape(rows * n)[r0 * n : r1 * n]
            gb = dx.reshape(rows * n)[r0 * n : r1 * n]
            for j in range(yb.shape[0]):
                wide_vectors()
                gb[j] = yb[j] / b
            for i in range(r0, r1):
                k = t[i]
                if k < 0:
                    k += n
                if k < 0 or k >= n:
                    bad += 1
                else:
                    dx[i, k] = (y[i, k] - y.dtype.type(1)) / b
        if part == parts:
            for i in range(rows):
                k = t[i] + n if t[i] < 0 else t[i]
                bad += k < 0 or k >= n
        return bad

    return kernel


def _xent_backward_labels_numpy(y, t, batch, dx):
    # The labels kernel's stand-in (kernels.Pair), in NumPy: the same divisions, the same count.
    rows, n = y.shape
    b = y.dtype.type(batch)
    np.divide(y, b, out=dx)
    k = np.where(t < 0, t + n, t)
    i = np.flatnonzero((k >= 0) & (k < n))
    dx[i, k[i]] = (y[i, k[i]] - y.dtype.type(1)) / b
    return rows - i.size


def _make_xent_backward_onehot():
    # (y - t) / batch, t of y's dtype.
    def kernel(y, t, batch, dx, part, parts):
        b = y.dtype.type(batch)
        for i in share(y.shape[0], part, parts):
            yr = y[i]
            tr = t[i]
            g = dx[i]
            for j in range(yr.shape[0]):
                wide_vectors()
                g[j] = (yr[j] - tr[j]) / b

    return kernel


# Softmax's rows shorter than _STORE_MIN (taken in blocks) and its longer ones (row by row) are
# separate kernels: a call compiles only the one its rows need. As one kernel, the first
# SoftmaxWithLoss at the book's (100, 10) compiled both, 3.7 s of its 13 s first training step
# of SimpleConvNet (float64, cold cache, AMD EPYC).
_MAKERS = {
    "softmax": lambda: _make_softmax(_softmax_rows),
    "softmax_short": lambda: _make_softmax(_softmax_block),
    "log_softmax": _make_log_softmax,
    "softmax_backward": _make_softmax_backward,
    "log_softmax_backward": _make_log_softmax_backward,
    "softmax_xent": lambda: _make_softmax_xent(_softmax_rows),
    "softmax_xent_short": lambda: _make_softmax_xent(_softmax_block),
    "xent_backward_labels": _make_xent_backward_labels,
    "xent_backward_onehot": _make_xent_backward_onehot,
}


#: NumPy functions of a kernel's arguments with its results bit for bit (``kernels.Pair``)
_STAND_INS = {"xent_backward_labels": _xent_backward_labels_numpy}

#: The kernels whose loop is followed by work over all its iterations: after the shares, the
#: serial build runs the share past the last for it (``kernels.Pair``, finish=True).
_FINISHED = {"softmax_xent", "softmax_xent_short", "xent_backward_labels"}


#: The cost per element (``threads.default_thresholds``) of the row kernels: 4, the most the
#: defaults count, so that they run in parallel from 256 KiB (memory-bound ones: 1 MiB).
#: Measured on the 2-core AMD VM, serial time over parallel time through the dispatch,
#: medians, rows of 1000, numba's own libgomp and PyTorch's: from about 100 KiB parallel is as
#: fast, from 195 KiB faster in every case (1.2-1.6x: softmax and log-softmax, both dtypes);
#: 50 KiB was 0.7-1.05x. Softmax's backward has no exp but reads each row twice (its sum,
#: then the products): on the Intel VM its crossover is the same, 0.88x at 97 KiB, 1.1x at
#: 195 KiB, 1.4-1.5x at 390 KiB and 2.7x at 781 KiB (it ran serial there at cost 1). A row
#: kernel spreads rows, not elements, so it pays its wake-up with less work in hand than an
#: element-wise one of the same cost.
_COSTS = {"softmax": 4, "log_softmax": 4, "log_softmax_backward": 4, "softmax_backward": 4, "softmax_xent": 4}


class _Lazy:
    """Pairs built on first use: importing fastact.softmax compiles nothing."""

    def __getattr__(self, name):
        make = _MAKERS.get(name)
        if make is None:
            raise AttributeError(name)
        op = name.removesuffix("_short")  # both softmax kernels share the thresholds
        pair = Pair(
            f"rows_{name}",
            make,
            op=f"rows_{op}",
            cost=_COSTS.get(op, 1),
            stand_in=_STAND_INS.get(name),
            finish=name in _FINISHED,
        )
        setattr(self, name, pair)
        return pair


PAIRS = _Lazy()


def for_rows(name, n):
    """The pair of kernel ``name`` (a ``_MAKERS`` name without ``_short``) for rows of ``n``."""
    if n < _STORE_MIN and f"{name}_short" in _MAKERS:
        return getattr(PAIRS, f"{name}_short")
    return getattr(PAIRS, name)
