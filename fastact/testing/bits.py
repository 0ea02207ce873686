"""Bit-for-bit comparison: equal bits, not just equal values (-0.0 != +0.0, NaN payloads)."""

import numpy as np

from .values import UINT


def bits(a):
    """a's values as unsigned integers: equal bits, not just equal values (-0.0 != +0.0)."""
    a = np.array(a, order="C")  # keeps 0-d arrays 0-d
    return a.view(UINT[a.dtype]) if a.dtype in UINT else a


def assert_same_bits(actual, expected, context="", nan_payloads=True):
    """Equal bits everywhere. With ``nan_payloads=False``, a NaN result only has to be NaN:
    when two NaNs meet in arithmetic, IEEE 754 leaves open whose payload survives, and the
    operand order a compiler picks for a * b decides it."""
    assert actual.dtype == expected.dtype, f"{context}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{context}: shape {actual.shape} != {expected.shape}"
    diff = bits(actual) != bits(expected)
    if not nan_payloads and actual.dtype.kind == "f":
        diff &= ~(np.isnan(actual) & np.isnan(expected))
    if diff.any():
        i = np.argwhere(diff)[0]
        raise AssertionError(
            f"{context}: {diff.sum()} of {diff.size} elements differ, first at {tuple(i)}: "
            f"{np.asarray(actual)[tuple(i)]!r} != {np.asarray(expected)[tuple(i)]!r}"
        )
