"""The activation family's true values, forward and backward: from mpmath at 40 digits
(``TRUTH``: what the accuracy tests and ``benchmarks/accuracy_family.py`` measure fastact's
formulas against), and in float64 from libm (``FLOAT64``: the truth of the sweeps over every
float32). Imports mpmath: for tests and benchmarks only."""

import math

import mpmath
import numba
import numpy as np

with mpmath.workdps(50):  # the decimals themselves, not their 15-digit roundings
    ALPHA = mpmath.mpf("1.6732632423543772848170429916717")
    SCALE = mpmath.mpf("1.0507009873554804934193349852946")
    KAPPA = mpmath.mpf("0.044715")


def _sig(v):
    return 1 / (1 + mpmath.exp(-v))


def _phi_cdf(v):
    return mpmath.erfc(-v / mpmath.sqrt(2)) / 2


def _gelu_v(v):
    return 2 * mpmath.sqrt(2 / mpmath.pi) * (v + KAPPA * v**3)


def _softplus(v):
    return mpmath.log1p(mpmath.exp(v))


def _gelu_tanh_derivative(v):
    s, n = _sig(_gelu_v(v)), _sig(-_gelu_v(v))
    dv = 2 * mpmath.sqrt(2 / mpmath.pi) * (1 + 3 * KAPPA * v * v)
    return s * (1 + v * dv * n), s * (1 + abs(v * dv * n))


def _mish_derivative(v):
    t = mpmath.tanh(_softplus(v))
    second = v * _sig(v) * (1 - t * t)
    return t + second, abs(t) + abs(second)


def _hardswish_derivative(v):
    if v < -3:
        return 0, 0
    return ((v / 3 + mpmath.mpf(1) / 2), abs(v / 3) + mpmath.mpf(1) / 2) if v <= 3 else (1, 1)


def _slope():
    return mpmath.mpf(np.float64(0.01))


#: name -> (forward(x), backward derivative(x) -> (value, size of its terms)) at the default
#: parameters. The size of the terms bounds what rounding can do where the derivative's terms
#: cancel (near its root). The sigmoid and tanh backward take the output y.
TRUTH = {
    "sigmoid": (_sig, lambda y: (y * (1 - y), y * (1 + y))),
    "leaky_relu": (
        lambda v: v if v > 0 else v * _slope(),
        lambda v: (1, 1) if v > 0 else (_slope(),) * 2,
    ),
    "elu": (lambda v: v if v > 0 else mpmath.expm1(v), lambda v: (1, 1) if v > 0 else (mpmath.exp(v),) * 2),
    "selu": (
        lambda v: SCALE * (v if v > 0 else ALPHA * mpmath.expm1(v)),
        lambda v: (SCALE, SCALE) if v > 0 else (SCALE * ALPHA * mpmath.exp(v),) * 2,
    ),
    "gelu": (
        lambda v: v * _phi_cdf(v),
        lambda v: (_phi_cdf(v) + v * mpmath.npdf(v), _phi_cdf(v) + abs(v) * mpmath.npdf(v)),
    ),
    "gelu_tanh": (lambda v: v * _sig(_gelu_v(v)), _gelu_tanh_derivative),
    "silu": (lambda v: v * _sig(v), lambda v: (_sig(v) * (1 + v * _sig(-v)), _sig(v) * (1 + abs(v) * _sig(-v)))),
    "tanh": (mpmath.tanh, lambda y: (1 - y * y, 1 + y * y)),
    "softplus": (lambda v: v if v > 20 else _softplus(v), lambda v: (1, 1) if v > 20 else (_sig(v),) * 2),
    "mish": (lambda v: v * mpmath.tanh(_softplus(v)), _mish_derivative),
    "hardswish": (lambda v: v * min(max(v + 3, 0), 6) / 6, _hardswish_derivative),
    "hardsigmoid": (
        lambda v: min(max(v + 3, 0), 6) / 6,
        lambda v: (mpmath.mpf(1) / 6,) * 2 if -3 < v < 3 else (0, 0),
    ),
    "log_sigmoid": (lambda v: -_softplus(-v), lambda v: (_sig(-v),) * 2),
}

#: Where a backward's value vanishes while its terms don't (float64).
ROOTS = {"gelu": -0.7517915726308, "gelu_tanh": -0.7522, "silu": -1.2784645427610738, "mish": -1.1924312145154952}


def to_longdouble(v):
    """v as np.longdouble; what is far below float64's subnormals becomes a signed 0."""
    if abs(v) < mpmath.mpf("1e-4000"):
        return np.longdouble(-0.0 if v < 0 else 0.0)
    return np.longdouble(mpmath.nstr(v, 25))


def truth(name, direction, x, dout):
    """(truth, size of terms) for each element, as longdoubles (40-digit evaluation); backward:
    dout times the derivative."""
    f, g = TRUTH[name]
    values, sizes = [], []
    with mpmath.workdps(40):
        for v, d in zip(x.tolist(), dout.tolist()):
            v = mpmath.mpf(v)
            if direction == "forward":
                t = f(v)
                size = abs(t)
            else:
                t, size = g(v)
                t, size = d * t, abs(d) * size
            values.append(to_longdouble(t))
            sizes.append(to_longdouble(size))
    return np.array(values), np.array(sizes)


# --- float64 truths for float32, compiled ------------------------------------------------------

jit = numba.njit(error_model="numpy")


@jit
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@jit
def _log_sigmoid(x):
    return min(x, 0.0) - math.log1p(math.exp(-abs(x)))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
C1 = 2 * math.sqrt(2 / math.pi)
C3 = C1 * 0.044715


@jit
def _elu(x, alpha, scale):
    y = scale * (x if x > 0 else alpha * math.expm1(x))
    return y, abs(y)


@jit
def _elu_backward(x, alpha, scale):
    g = scale * (1.0 if x > 0 else alpha * math.exp(x))
    return g, abs(g)


@jit
def _gelu_tanh(x):
    y = x * _sigmoid(C1 * x + C3 * x**3)
    return y, abs(y)


@jit
def _gelu_tanh_backward(x):
    v = C1 * x + C3 * x**3
    s, n, w = _sigmoid(v), _sigmoid(-v), C1 + 3 * C3 * x**2
    return s * (1 + x * w * n), s * (1 + abs(x * w * n))


@jit
def _gelu(x):
    y = x * 0.5 * math.erfc(-x / math.sqrt(2.0))
    return y, abs(y)


@jit
def _gelu_backward(x):
    phi = x * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    cdf = 0.5 * math.erfc(-x / math.sqrt(2.0))
    return cdf + phi, cdf + abs(phi)


@jit
def _mish(x):
    y = x * math.tanh(-_log_sigmoid(-x))  # softplus(x) = -log_sigmoid(-x), relative-exact
    return y, abs(y)


@jit
def _mish_backward(x):
    sp = -_log_sigmoid(-x)
    s = math.exp(min(x, 0.0)) / (1.0 + math.exp(-abs(x)))  # sigmoid(x), no overflow
    w = x * s / math.cosh(sp) ** 2  # 1 - tanh**2 without cancelling
    return math.tanh(sp) + w, math.tanh(sp) + abs(w)


@jit
def _silu_backward(x):
    s, n = _sigmoid(x), _sigmoid(-x)
    return s * (1.0 + x * n), s * (1.0 + abs(x * n))


#: (name, direction) -> the formula in float64 from libm (``math``: exp, expm1, log1p, tanh,
#: erfc, each within an ULP or two of float64: 2**-28 of a float32 ULP), compiled, giving
#: (value, size of its terms): the truth the sweep over every float32 of each float32-native
#: formula (``Declaration.ulp32``) is measured against; mpmath (``TRUTH``) would take days.
FLOAT64 = {
    ("sigmoid", "forward"): jit(lambda x: (_sigmoid(x), _sigmoid(x))),
    ("elu", "forward"): jit(lambda x: _elu(x, 1.0, 1.0)),
    ("elu", "backward"): jit(lambda x: _elu_backward(x, 1.0, 1.0)),
    ("selu", "forward"): jit(lambda x: _elu(x, SELU_ALPHA, SELU_SCALE)),
    ("selu", "backward"): jit(lambda x: _elu_backward(x, SELU_ALPHA, SELU_SCALE)),
    ("tanh", "forward"): jit(lambda x: (math.tanh(x), abs(math.tanh(x)))),
    ("silu", "forward"): jit(lambda x: (x * _sigmoid(x), abs(x * _sigmoid(x)))),
    ("silu", "backward"): _silu_backward,
    ("log_sigmoid", "forward"): jit(lambda x: (_log_sigmoid(x), abs(_log_sigmoid(x)))),
    ("log_sigmoid", "backward"): jit(lambda x: (_sigmoid(-x), _sigmoid(-x))),
    ("softplus", "forward"): jit(lambda x: (x if x > 20 else -_log_sigmoid(-x), abs(_log_sigmoid(-x)))),
    ("softplus", "backward"): jit(lambda x: (1.0 if x > 20 else _sigmoid(x), _sigmoid(x))),
    ("gelu", "forward"): _gelu,
    ("gelu", "backward"): _gelu_backward,
    ("gelu_tanh", "forward"): _gelu_tanh,
    ("gelu_tanh", "backward"): _gelu_tanh_backward,
    ("mish", "forward"): _mish,
    ("mish", "backward"): _mish_backward,
}
