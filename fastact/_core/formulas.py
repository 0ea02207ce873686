"""Element formulas of the activation family: a forward and a backward function per activation.

Each is a plain scalar function for compiled code (``register_jitable``): it serves float32 and
float64 alike and returns the argument's dtype. Parameters (``negative_slope``, ``alpha``,
``beta``, ``threshold``) are plain trailing arguments taken at run time, so one compiled kernel
serves every value; they are rounded to the argument's dtype first, as PyTorch does.
Backward functions take ``(dout, saved, *params)``: ``saved`` is the forward *output* for tanh
and the *input* x for every other one (as PyTorch's backward ops). The formulas and defaults
are PyTorch 2.13's (aten/src/ATen/native/cpu/Activation.cpp).

Exactness:

- Piecewise-linear ones (leaky_relu, hardswish, hardsigmoid, forward and backward) and
  ``tanh_backward`` compute in the argument's dtype, every constant in that dtype and no FMA
  contraction: bit-identical to their NumPy twins in ``reference.py`` (hardswish: wherever the
  twin's ``x * 6`` does not overflow; beyond max/6 we return x, the twin inf).
- The transcendental ones compute in float64, carrying the quantities that cancel or get
  amplified as double-doubles (x/sqrt(2) inside erfc, the cubic inside gelu_tanh, beta*x,
  exp, sigmoid, the quotients and products of the derivatives), and round once at the end.
  Measured against mpmath (tests/exactness/test_formulas.py, benchmarks/accuracy_family.py): float64
  within 1 ULP (elu, selu, gelu_tanh, silu, mish), 1.5 (softplus, log_sigmoid, every
  backward) and 2 (gelu: the erf polynomial's rounding near |x| = 1). Near the root of a
  derivative (gelu, gelu_tanh, silu and mish have one) its terms cancel and no formula that
  rounds them keeps relative precision: there the error is within 1 ULP of the size of the
  terms (thousands of ULP of the vanishing result; PyTorch's are far larger).
- float32: every transcendental one rounds once from a float32-specific formula:
  ``libm32`` (elu, selu, tanh, silu's forward, the softplus and log_sigmoid backwards) in
  float32 arithmetic, with float32 pairs where the float64 code has double-doubles (twice the
  SIMD lanes; within 1.11 ULP, tanh 1.5, the ELU and SELU backwards 1.26) or one division of
  a corrected sum (silu 1.82, dout times a sigmoid 1.95), and ``widened`` (gelu in both
  forms, silu's backward, the softplus and log_sigmoid forwards, mish) in float64 without
  pairs (0.51 ULP; mish 0.501 both ways, its backward relative even next to its root), where
  the pairs cost more than the lanes. Their bounds, measured over every float32, are the
  declarations' ``ulp32``.
- No input raises overflow, divide-by-zero or invalid (quiet NaNs included; signalling NaNs
  raise invalid on any use, as in NumPy); NaN in, NaN out; +-inf give the limits (gelu(-inf),
  silu(-inf), mish(-inf), hardswish(-inf) are -0.0 where PyTorch gives NaN); -0.0 is kept where
  the function is odd or passes x through at 0.
"""

import numpy as np
from numba import types

from . import libm32, widened
from .jit import overload, register_jitable
from .libm64 import (
    _F64_TABLES,
    _clamp,
    _log1p,
    _pow2,
    _scale,
    erfc_dd,
    exp_dd,
    expm1_dd_nonpositive,
    inline_here,
    two_prod,
    two_sum,
)
from .libm64 import tanh as _tanh
from .scalar import _magnitude_mask, _unsigned, bitcast, fma, like

# Constants as double-doubles (hi, lo), from mpmath at 50 digits. SELU's are PyTorch's
# decimal literals; the truth the tests use is those decimals, not their float64 roundings.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SCALE_HI, _SCALE_LO = 1.0507009873554805, 3.9874847667154144e-17
_SA_HI, _SA_LO = 1.7580993408473768, 1.41535193800845e-17  # scale * alpha
_RSQRT2_HI, _RSQRT2_LO = 0.7071067811865476, -4.833646656726457e-17
_RSQRT2PI_HI, _RSQRT2PI_LO = 0.3989422804014327, -2.49232720227773e-17
# gelu_tanh: v = 2 sqrt(2/pi) (x + 0.044715 x**3) = C1 x + C3 x**3, v' = C1 + 3 C3 x**2.
_C1_HI, _C1_LO = 1.5957691216057308, -9.96930880911092e-17
_C3_HI, _C3_LO = 0.07135481627260025, -6.175149918155315e-19
_C33_HI, _C33_LO = 0.21406444881780073, 1.2025242832367862e-17
_ABS64 = np.int64(0x7FFFFFFFFFFFFFFF)
_MAX64 = float(np.finfo(np.float64).max)
#: Above it, scale * x rounds to +inf in float64 (checked in the tests).
_SELU_OVER = 1.7109464600266028e308


# --- plumbing: each transcendental formula runs its float32 code (libm32, widened) on float32
# and its float64 code on float64 (_per_dtype)


def _per_dtype(name, f32, f64, doc=None):
    """The formula ``name`` (``doc`` its docstring): a compiled-only forward ``(x)``,
    ``(x, alpha)`` or ``(x, beta, threshold)``, or backward ``(dout, x)``,
    ``(dout, x, alpha)`` or ``(dout, x, beta, threshold)`` (by name, and by f64's arity) that
    runs ``f32`` on float32 x (float32 arithmetic, ``libm32``) and ``f64`` on float64 x."""
    implementations = {types.float32: f32, types.float64: f64}

    def fail(*args):
        raise NotImplementedError(f"fastact._core.formulas.{name} is for compiled code only")

    # numba matches an overload against its stub's signature, names included (and the
    # implementations' too): one stub per shape the formulas here route by dtype.
    shapes = {
        ("forward", 1): (lambda x: fail(), lambda x: implementations.get(x)),
        ("forward", 2): (lambda x, alpha: fail(), lambda x, alpha: implementations.get(x)),
        ("forward", 3): (lambda x, beta, threshold: fail(), lambda x, beta, threshold: implementations.get(x)),
        ("backward", 2): (lambda dout, x: fail(), lambda dout, x: implementations.get(x)),
        ("backward", 3): (lambda dout, x, alpha: fail(), lambda dout, x, alpha: implementations.get(x)),
        ("backward", 4): (
            lambda dout, x, beta, threshold: fail(),
            lambda dout, x, beta, threshold: implementations.get(x),
        ),
    }
    direction = "backward" if name.endswith("_backward") else "forward"
    stub, select = shapes[direction, f64.__code__.co_argcount]
    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = doc
    overload(stub, inline="never")(select)
    return stub


@register_jitable
def _wide(value, x):
    """A parameter rounded to x's dtype (as PyTorch does), then widened to float64."""
    inline_here()
    return np.float64(like(value, x))


@register_jitable
def _is_positive(x):
    """x > 0 by the bits, so that no NaN meets an ordered float compare (it raises invalid on
    x86; LLVM folds NaN guards around such compares away)."""
    inline_here()
    b = bitcast(x)
    return (b > 0) & (b <= bitcast(like(np.inf, x)))


@register_jitable
def _order(x):
    """float64 bits as an integer that orders like the values (NaNs beyond +-inf)."""
    inline_here()
    b = bitcast(x)
    return b ^ ((b >> 63) & _ABS64)


@register_jitable
def _sigmoid_pair(z, zl, table):
    """sigmoid(z + zl) = (sh + sl) 2**sk and sigmoid(-(z + zl)) = (nh + nl) 2**nk for any
    non-NaN float64 z (one of sk, nk is 0; the other side is exp's scale, left to the caller
    so that a product that ends up subnormal is rounded once).

    e = exp(-|z|) as a double-double, d = 1 + e exactly, 1/d by a corrected division, e/d by a
    double-double product: good to ~2**-57 relative (exp_dd's), so callers round once."""
    inline_here()
    zc = _clamp(z, -1000.0, 1000.0)  # exp_dd serves down to about -1400
    negative = bitcast(zc) < 0
    m = zc if negative else -zc
    eh, el, k = exp_dd(m, -zl if negative else zl, table)
    # 1 + e needs e only down to 2**-64: below, e changes 1 / (1 + e) by less than 2**-64
    # relative (2**-11 ULP), so one exact power of two serves (a two-step _scale for k down to
    # -1443 cost 8 more instructions a pair; SiLU's float64 forward 1.14x faster, Intel VM).
    p = _pow2(max(k, -64))
    e = eh * p
    dh = 1.0 + e
    dl = ((1.0 - dh) + e) + el * p
    q1 = 1.0 / dh
    q1l = (fma(-q1, dh, 1.0) - q1 * dl) * q1
    q2, q2e = two_prod(eh, q1)
    q2l = q2e + fma(eh, q1l, el * q1)
    if negative:
        return q2, q2l, k, q1, q1l, 0
    return q1, q1l, 0, q2, q2l, k


@register_jitable
def _times(d, h, l):
    """d * (h + l) with one rounding (barring underflow); an infinite d gives +-inf (not the
    NaN of inf * 0 from a zero l)."""
    inline_here()
    return fma(d, h, _clamp(d, -1e300, 1e300) * l)


# --- leaky_relu ---------------------------------------------------------------------------


@register_jitable
def leaky_relu(x, negative_slope):
    """``x if x > 0 else x * negative_slope`` in x's dtype: bit-identical to the twin."""
    inline_here()
    return x if _is_positive(x) else x * like(negative_slope, x)


@register_jitable
def leaky_relu_backward(dout, x, negative_slope):
    """``dout if x > 0 else dout * negative_slope`` in dout's dtype: bit-identical to the twin."""
    inline_here()
    return dout if _is_positive(x) else dout * like(negative_slope, dout)


# --- elu, selu ----------------------------------------------------------------------------


@register_jitable
def _elu64(x, scale_hi, scale_lo, sa_hi, sa_lo, over, table):
    """scale * (x if x > 0 else alpha * expm1(x)), alpha * scale given as sa_hi + sa_lo;
    above ``over`` scale * x rounds to inf."""
    inline_here()
    xn = _clamp(x, -40.0, 1.0)  # expm1 rounds to -1 below -37.4; NaN -> a bound
    xn = 0.0 if bitcast(xn) > 0 else xn
    eh, el = expm1_dd_nonpositive(xn, table)
    negative_side = fma(sa_hi, eh, fma(sa_hi, el, sa_lo * eh))
    xp = _clamp(x, -1.0, over)
    positive_side = fma(scale_hi, xp, scale_lo * xp)
    positive_side = np.inf if bitcast(x) > bitcast(over) else positive_side
    y = positive_side if _is_positive(x) else negative_side
    return x if (x == 0.0) | (x != x) else y


@register_jitable
def _elu_backward64(dout, x, scale_hi, scale_lo, sa_hi, sa_lo, table):
    """dout * scale if x > 0 else dout * scale * alpha * exp(x)."""
    inline_here()
    xn = _clamp(x, -1000.0, 1.0)
    xn = 0.0 if bitcast(xn) > 0 else xn
    eh, el, k = exp_dd(xn, 0.0, table)
    gh, ge = two_prod(sa_hi, eh)
    gl = ge + fma(sa_hi, el, sa_lo * eh)
    negative_side = _scale(_times(dout, gh, gl), k)
    positive_side = _times(dout, scale_hi, scale_lo)
    y = positive_side if _is_positive(x) else negative_side
    return y if x == x else x


@register_jitable
def _elu_f32(x, alpha):
    inline_here()
    return libm32.elu(x, like(alpha, x))


@register_jitable
def _elu_f64(x, alpha):
    inline_here()
    return _elu64(x, 1.0, 0.0, _wide(alpha, x), 0.0, _MAX64, _F64_TABLES)


@register_jitable
def _elu_backward_f32(dout, x, alpha):
    inline_here()
    return libm32.elu_backward(dout, x, like(alpha, x))


@register_jitable
def _elu_backward_f64(dout, x, alpha):
    inline_here()
    return _elu_backward64(dout, x, 1.0, 0.0, _wide(alpha, x), 0.0, _F64_TABLES)


@register_jitable
def _selu_f64(x):
    inline_here()
    return _elu64(x, _SCALE_HI, _SCALE_LO, _SA_HI, _SA_LO, _SELU_OVER, _F64_TABLES)


@register_jitable
def _selu_backward_f64(dout, x):
    inline_here()
    return _elu_backward64(dout, x, _SCALE_HI, _SCALE_LO, _SA_HI, _SA_LO, _F64_TABLES)


elu = _per_dtype(
    "elu",
    _elu_f32,
    _elu_f64,
    """``x if x > 0 else alpha * expm1(x)``; -0.0 stays -0.0.""",
)
elu_backward = _per_dtype(
    "elu_backward",
    _elu_backward_f32,
    _elu_backward_f64,
    """``dout if x > 0 else dout * alpha * exp(x)``; NaN x gives NaN.""",
)
selu = _per_dtype(
    "selu",
    libm32.selu,
    _selu_f64,
    """scale * elu(x, alpha) with PyTorch's alpha and scale (as exact decimals).""",
)
selu_backward = _per_dtype(
    "selu_backward",
    libm32.selu_backward,
    _selu_backward_f64,
)


# --- gelu (erf form) ----------------------------------------------------------------------


@register_jitable
def _gelu_parts(x, table):
    """(xc, Phi(xc) = (hi + lo) 2**k) for xc = x clamped to +-40, Phi = erfc(-xc/sqrt(2)) / 2
    with xc/sqrt(2) as a double-double (erfc amplifies its rounding by 2 a**2 on the tail)."""
    inline_here()
    xc = _clamp(x, -40.0, 40.0)
    ah, ae = two_prod(-xc, _RSQRT2_HI)
    al = fma(-xc, _RSQRT2_LO, ae)
    h, l, k = erfc_dd(ah, al, table)
    return xc, 0.5 * h, 0.5 * l, k


@register_jitable
def _gelu64(x, table):
    inline_here()
    xc, ph, pl, k = _gelu_parts(x, table)
    y = _scale(_times(xc, ph, pl), k)
    y = x if bitcast(x) > bitcast(40.0) else y  # Phi = 1 from 40 on; +inf included
    return y if x == x else x


@register_jitable
def _gelu_backward64(dout, x, table):
    inline_here()
    # Phi(x) + x phi(x), phi(x) = exp(-x**2/2) / sqrt(2 pi), all as double-doubles and at
    # phi's scale 2**ke (Phi's is within a factor 4 of it wherever Phi is that small).
    xc, ph, pl, k = _gelu_parts(x, table)
    sh, sl = two_prod(xc, xc)
    eh, el, ke = exp_dd(_clamp(-0.5 * sh, -1000.0, 1.0), 0.5 * sl, table)
    fh, fe = two_prod(eh, _RSQRT2PI_HI)
    fl = fe + fma(eh, _RSQRT2PI_LO, el * _RSQRT2PI_HI)
    th, te = two_prod(xc, fh)
    tl = fma(xc, fl, te)
    kc = max(k, ke)
    # One of u, v is 1; the other scales a term that only counts against the first (|x| <=
    # 40, terms below 2**-94 of it vanish in the sum): one power of two, held at 2**-100.
    u = _pow2(max(k - kc, -100))
    v = _pow2(max(ke - kc, -100))
    gh, ge = two_sum(ph * u, th * v)
    y = _scale(_times(dout, gh, ge + pl * u + tl * v), kc)
    return y if x == x else x


@register_jitable
def _gelu_f64(x):
    inline_here()
    return _gelu64(x, _F64_TABLES)


@register_jitable
def _gelu_backward_f64(dout, x):
    inline_here()
    return _gelu_backward64(dout, x, _F64_TABLES)


gelu = _per_dtype(
    "gelu",
    widened.gelu,
    _gelu_f64,
    """x * Phi(x) = x * erfc(-x/sqrt(2)) / 2 (PyTorch's approximate="none").""",
)
gelu_backward = _per_dtype(
    "gelu_backward",
    widened.gelu_backward,
    _gelu_backward_f64,
)


# --- gelu_tanh (approximate="tanh") -------------------------------------------------------


@register_jitable
def _gelu_tanh_parts(x, table):
    """xc, x**2 and sigmoid(+-v) for v = C1 x + C3 x**3: 0.5 (1 + tanh(v/2)) = sigmoid(v),
    with no 1 + tanh to cancel. v is a double-double: sigmoid(v) ~ exp(v) on the left
    tail, where v's rounding would be amplified by |v| (up to 4600)."""
    inline_here()
    xc = _clamp(x, -40.0, 40.0)
    x2h, x2l = two_prod(xc, xc)
    x3h, x3e = two_prod(x2h, xc)
    x3l = fma(x2l, xc, x3e)
    ah, ae = two_prod(_C1_HI, xc)
    bh, be = two_prod(_C3_HI, x3h)
    vh, ve = two_sum(ah, bh)
    vl = ve + (fma(_C1_LO, xc, ae) + (be + fma(_C3_HI, x3l, _C3_LO * x3h)))
    v = vh + vl
    vl = vl - (v - vh)
    return xc, x2h, x2l, _sigmoid_pair(v, vl, table)


@register_jitable
def _gelu_tanh64(x, table):
    inline_here()
    xc, x2h, x2l, (sh, sl, sk, nh, nl, nk) = _gelu_tanh_parts(x, table)
    y = _scale(_times(xc, sh, sl), sk)
    y = x if bitcast(x) > bitcast(40.0) else y
    return y if x == x else x


@register_jitable
def _gelu_tanh_backward64(dout, x, table):
    inline_here()
    # d/dx [x sigmoid(v)] = sigmoid(v) (1 + x v'(x) sigmoid(-v)), v' = C1 + 3 C3 x**2.
    xc, x2h, x2l, (sh, sl, sk, nh, nl, nk) = _gelu_tanh_parts(x, table)
    # x v' sigmoid(-v) only counts against 1 (|x v'| < 2**14): one power of two, as in SiLU's.
    p = _pow2(max(nk, -80))
    nh = nh * p
    nl = nl * p
    th, te = two_prod(_C33_HI, x2h)
    wh, we = two_sum(_C1_HI, th)
    wl = we + (te + fma(_C33_HI, x2l, _C33_LO * x2h) + _C1_LO)
    qh, qe = two_prod(xc, wh)
    ql = fma(xc, wl, qe)
    rh, re = two_prod(qh, nh)
    rl = re + fma(qh, nl, ql * nh)
    th, te = two_sum(1.0, rh)
    tl = te + rl
    gh, ge = two_prod(sh, th)
    gl = ge + fma(sh, tl, sl * th)
    y = _scale(_times(dout, gh, gl), sk)
    return y if x == x else x


@register_jitable
def _gelu_tanh_f64(x):
    inline_here()
    return _gelu_tanh64(x, _F64_TABLES)


@register_jitable
def _gelu_tanh_backward_f64(dout, x):
    inline_here()
    return _gelu_tanh_backward64(dout, x, _F64_TABLES)


gelu_tanh = _per_dtype(
    "gelu_tanh",
    widened.gelu_tanh,
    _gelu_tanh_f64,
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))), computed as x * sigmoid(2u).""",
)
gelu_tanh_backward = _per_dtype(
    "gelu_tanh_backward",
    widened.gelu_tanh_backward,
    _gelu_tanh_backward_f64,
)


# --- silu, log_sigmoid --------------------------------------------------------------------


@register_jitable
def _silu64(x, table):
    inline_here()
    xc = _clamp(x, -1000.0, 1000.0)
    sh, sl, sk, nh, nl, nk = _sigmoid_pair(xc, 0.0, table)
    y = _scale(_times(xc, sh, sl), sk)
    y = x if bitcast(x) > bitcast(1000.0) else y  # sigmoid = 1 there; +inf included
    return y if x == x else x


@register_jitable
def _silu_backward64(dout, x, table):
    inline_here()
    # sigmoid(x) (1 + x sigmoid(-x)), every product and sum as a double-double.
    xc = _clamp(x, -1000.0, 1000.0)
    sh, sl, sk, nh, nl, nk = _sigmoid_pair(xc, 0.0, table)
    # x sigmoid(-x) only counts against 1: below 2**-80 (|x| <= 1000) it is under 2**-70, and
    # one exact power of two serves (as in _sigmoid_pair).
    p = _pow2(max(nk, -80))
    nh = nh * p
    nl = nl * p
    ph, pe = two_prod(xc, nh)
    th, te = two_sum(1.0, ph)
    tl = te + fma(xc, nl, pe)
    gh, ge = two_prod(sh, th)
    gl = ge + fma(sh, tl, sl * th)
    y = _scale(_times(dout, gh, gl), sk)
    return y if x == x else x


@register_jitable
def _silu_f64(x):
    inline_here()
    return _silu64(x, _F64_TABLES)


@register_jitable
def _silu_backward_f64(dout, x):
    inline_here()
    return _silu_backward64(dout, x, _F64_TABLES)


silu = _per_dtype(
    "silu",
    libm32.silu,
    _silu_f64,
    """x * sigmoid(x).""",
)
silu_backward = _per_dtype(
    "silu_backward",
    widened.silu_backward,
    _silu_backward_f64,
)


@register_jitable
def _log_sigmoid64(x, table):
    inline_here()
    # min(x, 0) - log1p(exp(-|x|)), exp(-|x|) = eh + el: log1p(eh + el) = log1p(eh) + el/(1 + eh).
    negative = bitcast(x) < 0
    a = _clamp(bitcast(bitcast(x) & _ABS64), 0.0, 1000.0)
    eh, el, k = exp_dd(-a, 0.0, table)
    eh = _scale(eh, k)
    el = _scale(el, k)
    m = x if negative else 0.0
    y = (m - _log1p(eh)) - el / (1.0 + eh)
    return y if x == x else x


@register_jitable
def _log_sigmoid_backward64(dout, x, table):
    inline_here()
    sh, sl, sk, nh, nl, nk = _sigmoid_pair(x, 0.0, table)  # dout * sigmoid(-x)
    y = _scale(_times(dout, nh, nl), nk)
    return y if x == x else x


@register_jitable
def _log_sigmoid_f64(x):
    inline_here()
    return _log_sigmoid64(x, _F64_TABLES)


log_sigmoid = _per_dtype(
    "log_sigmoid",
    widened.log_sigmoid,
    _log_sigmoid_f64,
    """min(x, 0) - log1p(exp(-|x|)).""",
)


@register_jitable
def _log_sigmoid_backward_f64(dout, x):
    inline_here()
    return _log_sigmoid_backward64(dout, x, _F64_TABLES)


@register_jitable
def _log_sigmoid_backward_f32(dout, x):
    inline_here()
    y = libm32.dout_times_sigmoid(dout, -x, like(0.0, x))  # dout * sigmoid(-x)
    return y if x == x else x


log_sigmoid_backward = _per_dtype(
    "log_sigmoid_backward",
    _log_sigmoid_backward_f32,
    _log_sigmoid_backward_f64,
)


# --- softplus -----------------------------------------------------------------------------


@register_jitable
def _softplus64(x, beta, threshold, z_test, table):
    """``x if z_test > threshold else log1p(exp(beta * x)) / beta``; z_test is beta * x as
    PyTorch rounds it (in the input's dtype), so both take the same branch."""
    inline_here()
    xc = _clamp(x, -1e30, 1e30)
    zh, zl = two_prod(beta, xc)
    zh = _clamp(zh, -1e4, 1e4)
    negative = bitcast(zh) < 0
    m = _clamp(zh if negative else -zh, -1000.0, 1.0)
    eh, el, k = exp_dd(m, -zl if negative else zl, table)
    eh = _scale(eh, k)
    el = _scale(el, k)
    # log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|)).
    lh = _log1p(eh)
    ll = el / (1.0 + eh)
    sh, se = two_sum(0.0 if negative else zh, lh)
    sl = se + ll + (0.0 if negative else zl)
    q = sh / beta
    q = q + (fma(-q, beta, sh) + sl) / beta
    y = x if _order(z_test) > _order(threshold) else q
    return y if x == x else x


@register_jitable
def _softplus_backward64(dout, x, beta, threshold, z_test, table):
    inline_here()
    xc = _clamp(x, -1e30, 1e30)
    zh, zl = two_prod(beta, xc)
    sh, sl, sk, nh, nl, nk = _sigmoid_pair(zh, zl, table)
    y = dout if _order(z_test) > _order(threshold) else _scale(_times(dout, sh, sl), sk)
    return y if x == x else x


@register_jitable
def _softplus_f32(x, beta, threshold):
    inline_here()
    return widened.softplus(x, like(beta, x), like(threshold, x))


@register_jitable
def _softplus_f64(x, beta, threshold):
    inline_here()
    return _softplus64(x, _wide(beta, x), _wide(threshold, x), x * like(beta, x), _F64_TABLES)


softplus = _per_dtype(
    "softplus",
    _softplus_f32,
    _softplus_f64,
    """``x if x * beta > threshold else log1p(exp(beta * x)) / beta`` (PyTorch's).""",
)


@register_jitable
def _softplus_backward_f32(dout, x, beta, threshold):
    """beta * x = zh + zl exactly (a float32 pair) inside the sigmoid; the test against the
    threshold takes zh, beta * x as PyTorch rounds it."""
    inline_here()
    b = like(beta, x)
    xc = libm32._clamp(x, like(-1e30, x), like(1e30, x))  # beta * x stays finite for |beta| < 1e8
    zh, zl = two_prod(b, xc)
    y = libm32.dout_times_sigmoid(dout, zh, zl)
    y = dout if widened._order(zh) > widened._order(like(threshold, x)) else y
    return y if x == x else x


@register_jitable
def _softplus_backward_f64(dout, x, beta, threshold):
    inline_here()
    return _softplus_backward64(dout, x, _wide(beta, x), _wide(threshold, x), x * like(beta, x), _F64_TABLES)


softplus_backward = _per_dtype(
    "softplus_backward",
    _softplus_backward_f32,
    _softplus_backward_f64,
    """``dout if x * beta > threshold else dout * sigmoid(beta * x)``.""",
)


# --- mish ---------------------------------------------------------------------------------


@register_jitable
def _mish_parts(x, table):
    """tanh(softplus(x)) = ((1 + e)**2 - 1) / ((1 + e)**2 + 1) = e (e + 2) / D, e = exp(x),
    D = e (e + 2) + 2. Returns xe = x clamped to [-1000, 40], e = (eh + el) 2**k, the power
    of two p that scales e where it meets 2 (2**k held at 2**-80), e + 2 and D as double-doubles."""
    inline_here()
    xe = _clamp(x, -1000.0, 40.0)  # x exp(x) rounds to 0 below -750
    eh, el, k = exp_dd(xe, 0.0, table)
    # e only counts against 2 here (and against 1 in the backward): one exact power of two,
    # held at 2**-80 (2**-64 of the terms it meets for |x| <= 40), as _sigmoid_pair's.
    p = _pow2(max(k, -80))
    e = eh * p
    ch, ce = two_sum(e, 2.0)
    cl = ce + el * p
    nh, ne = two_prod(e, ch)
    nl = ne + fma(e, cl, el * p * ch)
    dh, de = two_sum(nh, 2.0)
    dl = de + nl
    return xe, eh, el, k, p, ch, cl, dh, dl


@register_jitable
def _mish64(x, table):
    inline_here()
    xe, eh, el, k, p, ch, cl, dh, dl = _mish_parts(x, table)
    # e (e + 2) / D with e unscaled: the quotient is scaled once, at the end.
    nh, ne = two_prod(eh, ch)
    nl = ne + fma(eh, cl, el * ch)
    q = nh / dh
    ql = (fma(-q, dh, nh) + nl - q * dl) / dh
    y = _scale(_times(xe, q, ql), k)
    y = x if bitcast(x) > bitcast(40.0) else y  # tanh(softplus(x)) = 1 from 40 on
    return y if x == x else x


@register_jitable
def _mish_backward64(dout, x, table):
    inline_here()
    # T + x sigmoid(x) (1 - T**2) with T = n/D, n = e (e + 2), sigmoid = e/(1 + e) and
    # 1 - T**2 = 4 (1 + e)**2/D**2: e ((e + 2) D + 4 x (1 + e)) / D**2, the bracket (which
    # vanishes at the root, x = -1.19) and D**2 as double-doubles, e unscaled.
    xe, eh, el, k, p, ch, cl, dh, dl = _mish_parts(x, table)
    e = eh * p  # 1 + e (as in _mish_parts)
    ah, ae = two_prod(ch, dh)
    al = ae + fma(ch, dl, cl * dh)
    uh, ue = two_sum(1.0, e)
    ul = ue + el * p
    x4 = 4.0 * xe
    bh, be = two_prod(x4, uh)
    bl = fma(x4, ul, be)
    sh, se = two_sum(ah, bh)
    sl = se + al + bl
    nh, ne = two_prod(eh, sh)
    nl = ne + fma(eh, sl, el * sh)
    qh, qe = two_prod(dh, dh)
    ql = qe + 2.0 * dh * dl
    g = nh / qh
    gl = (fma(-g, qh, nh) + nl - g * ql) / qh
    y = _scale(_times(dout, g, gl), k)
    y = dout if bitcast(x) > bitcast(40.0) else y
    return y if x == x else x


@register_jitable
def _mish_f64(x):
    inline_here()
    return _mish64(x, _F64_TABLES)


mish = _per_dtype("mish", widened.mish, _mish_f64, """x * tanh(softplus(x)).""")


@register_jitable
def _mish_backward_f64(dout, x):
    inline_here()
    return _mish_backward64(dout, x, _F64_TABLES)


mish_backward = _per_dtype("mish_backward", widened.mish_backward, _mish_backward_f64)


# --- tanh ---------------------------------------------------------------------------------


@register_jitable
def tanh(x):
    """tanh(x), about 1 ULP in float64, within 1.5 ULP in float32 (fastact._core.libm64.tanh)."""
    inline_here()
    return _tanh(x)


@register_jitable
def tanh_backward(dout, y):
    """``dout * (1 - y**2)`` in dout's dtype, unfused: bit-identical to the twin."""
    inline_here()
    return dout * (like(1.0, y) - y * y)


# --- hardswish, hardsigmoid ---------------------------------------------------------------


@register_jitable
def _clip06(v):
    """min(max(v, 0), 6) for v not NaN, by the bits: signed-integer max and min of them are
    the float max and min for these bounds, with no flag (float compares signal on NaN).
    Negative NaNs give 0, positive ones 6: callers that can meet a NaN select it back."""
    inline_here()
    b = bitcast(v)
    return bitcast(like(min(max(b, like(0, b)), bitcast(like(6.0, v))), b))


@register_jitable
def _relu6(v):
    """min(max(v, 0), 6) by the bits (NaN passes, no flag): NumPy's maximum/minimum."""
    inline_here()
    return v if v != v else _clip06(v)


@register_jitable
def hardsigmoid(x):
    """``min(max(x + 3, 0), 6) / 6`` in x's dtype: bit-identical to the twin."""
    inline_here()
    return _relu6(x + like(3.0, x)) / like(6.0, x)


@register_jitable
def hardsigmoid_backward(dout, x):
    """``dout / 6 if -3 < x < 3 else 0`` in dout's dtype: bit-identical to the twin."""
    inline_here()
    # |x| < 3 by the magnitude's bits: NaNs are above inf's and fall outside, with no flag.
    inside = (bitcast(x) & _magnitude_mask(x)) < bitcast(like(3.0, x))
    return dout / like(6.0, dout) if inside else like(0.0, dout)


def _six_x_finite(x):
    """The largest x of x's dtype whose x * 6 is finite (compiled code only)."""
    raise NotImplementedError("compiled code only")


@overload(_six_x_finite)
def _six_x_finite_impl(x):
    limit = {types.float32: np.float32(5.6713724e37), types.float64: 2.996155224770526e307}.get(x)
    if limit is None:
        return None
    return lambda x: limit


@register_jitable
def hardswish(x):
    """``x * min(max(x + 3, 0), 6) / 6`` in x's dtype: bit-identical to the twin wherever the
    twin's x * 6 is finite. Above (x > max/6) we give x, where the twin overflows to inf, and
    at -inf the limit -0.0, where the twin gives NaN."""
    inline_here()
    b = bitcast(x)
    big = b > bitcast(_six_x_finite(x))  # +inf and positive NaNs too (x itself is returned)
    xs = like(-1.0, x) if b == bitcast(like(-np.inf, x)) else x  # -inf * 0 would be NaN
    # LLVM computes y for every lane, the ones `big` discards too, and for some targets
    # (rocketlake) folds away any select on `big` that would keep their product finite: max * 6
    # overflowed there. So y is computed finite for every x instead: for |x| > 1 as
    # ((x / 8) * c) / (6 / 8), the same bits as (x * c) / 6 (scaling by 8 is exact there: no
    # subnormal, no overflow; 0.75 * max / 0.75 rounds to max), for |x| <= 1 as the twin's.
    wide = (b & _magnitude_mask(x)) > bitcast(like(1.0, x))
    scale = like(0.125, x) if wide else like(1.0, x)
    # A negative NaN x reaches the product itself (NaN * 0 is NaN, and quiet): no NaN select.
    y = xs * scale * _clip06(x + like(3.0, x)) / (like(0.75, x) if wide else like(6.0, x))
    return x if big else y


@register_jitable
def hardswish_backward(dout, x):
    """PyTorch's: 0 for x < -3, ``dout * (x / 3 + 0.5)`` for x <= 3, dout above (NaN x: dout)."""
    inline_here()
    b = bitcast(x)
    # x clamped to [-3, 3] by the bits, so that the product below, which LLVM forms for every
    # lane whatever the selects after it, cannot overflow (a flag NumPy would report): as
    # unsigned integers negative floats lie above positive ones and grow with the magnitude,
    # as signed ones positive floats do; NaNs land on a bound.
    xc = bitcast(like(min(like(min(_unsigned(b), _unsigned(bitcast(like(-3.0, x)))), b), bitcast(like(3.0, x))), b))
    inside = bitcast(xc) == b  # -3 <= x <= 3
    middle = dout * (xc / like(3.0, x) + like(0.5, x))
    # x < -3 is (-3, -inf] in the signed bits; negative NaNs lie beyond -inf's.
    below = (b > bitcast(like(-3.0, x))) & (b <= bitcast(like(-np.inf, x)))
    y = middle if inside else dout
    return like(0.0, dout) if below else y
