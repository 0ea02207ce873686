"""Errors in units in the last place (ULP): the one measure the accuracy tests, the benchmarks
and the self-check (``python -m fastact check``) state their bounds in. NumPy only."""

import numpy as np


def ulp_error(actual, truth, dtype, *, unit="truth"):
    """|actual - truth| in ULPs of ``dtype``, element by element, as np.longdouble.

    ``unit="truth"``: the ULP of the binade truth itself lies in (below the smallest normal,
    the subnormal ULP), the strict measure. ``unit="rounded"``: the ULP of truth rounded to
    dtype (``np.spacing``), one binade up where truth rounds up to a power of 2: the measure
    the softmax and sigmoid bounds are stated in.

    Equal values (infinities, zeros of either sign) and NaN against NaN count 0; a finite
    result against an infinite truth (or the reverse), or NaN against a number, counts inf.
    """
    if unit not in ("truth", "rounded"):
        raise ValueError(f"unit is 'truth' or 'rounded', not {unit!r}")
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    t = np.asarray(truth, np.longdouble)
    y = np.asarray(actual)
    err = np.zeros(np.broadcast_shapes(t.shape, y.shape), np.longdouble)
    with np.errstate(all="ignore"):
        rounded = t.astype(dtype)
        # The arithmetic on the finite pairs only: every other element is set below, and
        # x87 arithmetic on a NaN costs ~100x a number's (log over every 509th float32,
        # half of them negative: 3.0 -> 0.6 s in this function).
        finite = np.isfinite(t) & np.isfinite(y)
        tf = t[finite]
        if unit == "truth":
            _, e = np.frexp(tf)
            smallest = int(np.log2(fi.smallest_subnormal))
            ulp = np.ldexp(np.longdouble(1), np.maximum(e.astype(np.int64) - fi.nmant - 1, smallest))
        else:
            ulp = np.spacing(np.abs(rounded[finite])).astype(np.longdouble)
        err[finite] = np.abs(y[finite].astype(np.longdouble) - tf) / ulp
    inf = np.isinf(rounded) | np.isinf(y)
    err[inf] = np.where(y[inf] == rounded[inf], 0, np.inf)
    err[(y == t) | (np.isnan(y) & np.isnan(t))] = 0
    err[np.isnan(y) != np.isnan(t)] = np.inf
    return err


def max_ulp_error(actual, truth, dtype, *, unit="truth"):
    """The largest ``ulp_error`` as a float (0.0 for no elements)."""
    err = ulp_error(actual, truth, dtype, unit=unit)
    return float(err.max()) if err.size else 0.0
