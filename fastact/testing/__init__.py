"""Helpers that tests, benchmarks and the self-check share. Never imported by the runtime.

- ``values``: the dtypes, shapes, special values, random samples and memory layouts tests use
- ``bits``: bit-for-bit comparison (``bits``, ``assert_same_bits``)
- ``ulp``: the one ULP-error measure (``ulp_error``, ``max_ulp_error``)
- ``sigmoid``: the true sigmoid and the contract's check against it
- ``gradients``: the central-difference ``numerical_gradient``
- ``processes``: ``run_python`` in a fresh interpreter
- ``ir``: scalar functions as ufuncs and the LLVM IR of their loops (imports numba)
- ``truths``: the activation family's true values from mpmath (imports mpmath: tests only)
- ``canary``, ``entry_points``: outputs of every layout inside sentinel buffers, and every
  public entry point driven through them

The NumPy-only helpers are importable from here as well (``from fastact.testing import
FLOATS, assert_same_bits, sample``).
"""

from .bits import assert_same_bits, bits
from .gradients import numerical_gradient
from .processes import run_python
from .sigmoid import assert_within_ulp, true_sigmoid
from .ulp import max_ulp_error, ulp_error
from .values import (
    FLOATS,
    SHAPES,
    UINT,
    every_magnitude,
    float_arrays,
    layouts,
    quiet_special_values,
    sample,
    sampled_layouts,
    special_values,
)

__all__ = [
    "FLOATS",
    "SHAPES",
    "UINT",
    "assert_same_bits",
    "assert_within_ulp",
    "bits",
    "every_magnitude",
    "float_arrays",
    "layouts",
    "max_ulp_error",
    "numerical_gradient",
    "quiet_special_values",
    "run_python",
    "sample",
    "sampled_layouts",
    "special_values",
    "true_sigmoid",
    "ulp_error",
]
