"""The true sigmoid and the contract's check against it: normal results within a few ULP of the
correctly rounded value, subnormal ones within the smallest normal number. NumPy only."""

import numpy as np

#: The seed's own worst error (``1 / (1 + np.exp(-x))``), in ULPs of the correctly rounded
#: sigmoid, measured on the machine kinds: the bound the contract holds ``fastact.functions.sigmoid``
#: and the self-check's Sigmoid to (the declaration's ``ulp`` promises 2 of the true value).
SEED_ULP = {"float32": 3.5, "float64": 2.6}


#: From here on exp(-|x|) is 0 in long double.
_EXP_ZERO = 12000.0


def true_sigmoid(x):
    """The sigmoid in long double (64-bit mantissa on x86), NaN where x is NaN."""
    with np.errstate(all="ignore"):  # a signalling NaN sets the invalid flag on any use
        xl = np.asarray(x, dtype=np.longdouble)
        # exp(-|x|) is 0 in long double from |x| = 11400 on (2**-16445 is its least); the
        # x87 takes ~10x as long to say so (half the float32 sweep's values: 0.38 of 0.48 s)
        a = np.abs(xl)
        t = np.zeros_like(a)
        near = ~(a >= _EXP_ZERO)  # (NaN included: it stays NaN below)
        t[near] = np.exp(-a[near])
        s = np.where(xl >= 0, 1 / (1 + t), t / (1 + t))
    return np.where(np.isnan(xl), xl, s)


def assert_within_ulp(actual, x, maxulp=2):
    """Normal results within ``maxulp`` of the correctly rounded sigmoid; subnormal ones within
    the smallest normal number (the contract's allowance); NaN exactly where x is NaN."""
    truth = true_sigmoid(x)
    rounded = truth.astype(actual.dtype)
    nan = np.isnan(x)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    normal = ~nan & (rounded >= np.finfo(actual.dtype).tiny)
    np.testing.assert_array_max_ulp(actual[normal], rounded[normal], maxulp=maxulp)
    tiny = ~nan & ~normal
    assert np.all(np.abs(actual[tiny].astype(np.longdouble) - truth[tiny]) < np.finfo(actual.dtype).tiny)
