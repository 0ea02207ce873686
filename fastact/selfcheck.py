"""Check fastact against the seed's twins on this machine: the first half of ``python -m fastact``.

Each check runs one layer and dtype on both kernel builds (serial, parallel) and on the
book's layouts, and compares with ``fastact.reference``: bits for Relu and both backwards, the
error against the true sigmoid (in ULP) for Sigmoid forward.
"""

import numpy as np

from . import _threads, reference
from .layers import Relu, Sigmoid

#: The contract's bounds: the seed's own worst error on this machine kind.
ULP_BOUND = {"float32": 3.5, "float64": 2.6}


def _inputs(dtype, rng):
    """A mix of every magnitude and the special values, in the book's shapes and layouts."""
    fi = np.finfo(dtype)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, fi.max, -fi.max, fi.tiny,
                         -fi.tiny, fi.smallest_subnormal, -fi.smallest_subnormal, 800.0, -800.0],
                        dtype=dtype)
    sweep = np.concatenate([
        (rng.standard_normal(400_000) * 10.0 ** rng.integers(-8, 3, 400_000)).astype(dtype),
        np.linspace(-750 if dtype == "float64" else -104, 40, 200_000).astype(dtype),
        specials,
    ])
    conv = rng.standard_normal((8, 24, 24, 30)).astype(dtype)
    conv.reshape(-1)[:specials.size] = specials
    return {"flat": sweep, "book (100, 50)": sweep[:5000].reshape(100, 50),
            "conv view": conv.transpose(0, 3, 1, 2)}


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    same = a == b
    both_nan = np.isnan(a) & np.isnan(b)
    signs = np.signbit(a) == np.signbit(b)  # -0.0 == +0.0, but not bit for bit
    return bool(np.all((same & signs) | both_nan))


def max_ulp_error(y, x):
    """Worst error of y = sigmoid(x) against the true value, in ULP of the true value, over
    the inputs whose true result is a normal number (the contract's measure)."""
    xl = x.astype(np.longdouble)
    with np.errstate(all="ignore"):
        t = np.exp(-np.abs(xl))
        truth = np.where(xl >= 0, 1 / (1 + t), t / (1 + t))
    rounded = truth.astype(y.dtype)
    normal = np.isfinite(xl) & (rounded >= np.finfo(y.dtype).tiny)
    ulp = np.spacing(rounded[normal]).astype(np.longdouble)
    return float(np.max(np.abs(y[normal].astype(np.longdouble) - truth[normal]) / ulp))


def _check_relu(x):
    """(ok, None): forward, mask and backward equal to the seed's, bit for bit."""
    fast, seed = Relu(), reference.Relu()
    out, expected = fast.forward(x), seed.forward(x.copy())
    ok = _same_bits(out, expected) and np.array_equal(fast.mask, seed.mask)
    dout = np.flip(np.ascontiguousarray(x)).reshape(x.shape).copy()
    ok &= _same_bits(fast.backward(dout.copy()), seed.backward(dout.copy()))
    return ok, None


def _check_sigmoid(x):
    """(ok, worst ULP): forward within the bound, backward equal to the seed's bits."""
    fast = Sigmoid()
    out = fast.forward(x)
    err = max_ulp_error(out.reshape(-1), np.ascontiguousarray(x).reshape(-1)) if out.size else 0.0
    twin = reference.Sigmoid()
    twin.out = out
    dout = np.flip(np.ascontiguousarray(x)).reshape(x.shape).copy()
    dout[~np.isfinite(dout)] = 1.0
    with np.errstate(all="ignore"):
        backward_ok = _same_bits(fast.backward(dout), twin.backward(dout))
    return err <= ULP_BOUND[str(x.dtype)] and backward_ok, err


def run_checks(seed=0):
    """Yield (layer, dtype, build, ok, detail) for every combination."""
    rng = np.random.default_rng(seed)
    for dtype in ("float32", "float64"):
        inputs = _inputs(dtype, rng)
        for build in ("ufunc", "serial", "parallel"):
            with _threads.forced(build):
                for layer, check in (("Relu", _check_relu), ("Sigmoid", _check_sigmoid)):
                    results = [check(x) for x in inputs.values()]
                    ok = all(r[0] for r in results)
                    if layer == "Relu":
                        detail = "forward, mask, backward bit-exact" if ok else "bits differ"
                    else:
                        worst = max(r[1] for r in results)
                        detail = (f"forward max {worst:.2f} ULP (bound {ULP_BOUND[dtype]}), "
                                  "backward bit-exact" if ok else f"max {worst:.2f} ULP or bits differ")
                    yield layer, dtype, build, ok, detail
