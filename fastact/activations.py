"""What each activation is: per-element formulas and what its backward needs. One entry each.

A formula is a plain scalar function compiled into every kernel and ufunc that uses it. It must
work for float32 and float64 alike, so constants go through ``like(value, x)``: a bare ``1.0``
would promote a float32 kernel to float64 and change its bits.

Adding an activation means adding one ``Activation`` here (plus its NumPy twin in
``reference.py`` and a layer class if it needs the book's interface); kernels, ufuncs, tests
and benchmarks are built from this registry.
"""

from dataclasses import dataclass
from typing import Callable, Optional

from numba.extending import register_jitable

from ._math import less_equal_zero, like, sigmoid as _sigmoid


@dataclass(frozen=True)
class Activation:
    name: str
    #: y = forward(x) for one element.
    forward: Callable
    #: dx = backward(dout, saved) for one element; ``saved`` is mask(x) when ``mask`` is given,
    #: else the forward output y.
    backward: Callable
    #: What forward keeps for backward when y alone does not tell (one bool per element).
    mask: Optional[Callable] = None
    #: The book's layer writes dx into dout and returns it (Relu) instead of a new array.
    backward_in_place: bool = False

    @property
    def saves(self):
        return "mask" if self.mask is not None else "out"


@register_jitable
def _relu_mask(x):
    return less_equal_zero(x)  # x <= 0, quiet on NaN like NumPy's own comparison


@register_jitable
def _relu(x):
    # NaN <= 0 is False, so NaN passes through as in the seed; -0.0 and -inf become +0.0.
    return like(0.0, x) if _relu_mask(x) else x


@register_jitable
def _relu_backward(dout, mask):
    return like(0.0, dout) if mask else dout


@register_jitable
def _sigmoid_backward(dout, y):
    # The seed's dout * (1.0 - out) * out, in that order and in the array's dtype.
    return dout * (like(1.0, y) - y) * y


RELU = Activation("relu", _relu, _relu_backward, mask=_relu_mask, backward_in_place=True)
SIGMOID = Activation("sigmoid", _sigmoid, _sigmoid_backward)

REGISTRY = {act.name: act for act in (RELU, SIGMOID)}
