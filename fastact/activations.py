"""What each activation is: one declaration each, from which everything else is built.

A declaration names the function (``fastact.<name>``) and the layer class (``fastact.<layer>``),
gives the per-element formulas, says what backward needs from forward, and declares the
scalar parameters with their defaults. Kernels and ufuncs (``_core.kernels``), the layer class
(``layers``), the dispatch thresholds (``_core.threads``, from ``cost``), tests, benchmarks, the
self-check and the report all iterate over ``REGISTRY``; the NumPy twin of each is found by
name in ``reference`` (``reference.<name>`` and ``reference.<name>_backward``).

Formulas are plain scalar functions compiled into every kernel and ufunc that uses them, for
float32 and float64 alike: constants go through ``like(value, x)`` (a bare ``1.0`` would
promote a float32 kernel to float64 and change its bits). Parameters arrive at run time as
trailing scalars of the array's dtype, so one compiled kernel serves every value.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Optional

import numpy as np

from ._core import formulas as F
from ._core.jit import register_jitable
from ._core.scalar import bitcast, less_equal_zero, like
from ._core.scalar import sigmoid as _sigmoid

#: The float32 bound where float32 goes through the float64 code: one rounding of a result
#: within a few float64 ULP (2**-28 float32 ULP each) of the truth.
ROUNDED_ONCE = 0.501

#: What forward keeps for backward, under which attribute of the layer.
SAVES = {"mask": "mask", "output": "out", "input": "x", "nothing": None}


@dataclass(frozen=True)
class Param:
    name: str
    default: float


@dataclass(frozen=True)
class Declaration:
    #: the function: ``fastact.<name>``, twin ``reference.<name>``
    name: str
    #: the layer class: ``fastact.<layer>`` (called with ``layer_kwargs``: GELU's tanh form
    #: is ``GELU(approximate="tanh")``)
    layer: str
    #: y = forward(x, *params) for one element
    forward: Callable
    #: dx = backward(dout, saved, *params) for one element, ``saved`` as ``saves`` says
    backward: Callable
    #: what backward needs: "mask" (one bool per element, from ``mask``), "output" (y),
    #: "input" (x) or "nothing"
    saves: str
    #: mask(x, *params) -> bool, when ``saves == "mask"``
    mask: Optional[Callable] = None
    params: tuple = ()
    #: vector operations per element, roughly (1 for a select, ~40 for an exp and a
    #: division): sets where the paths cross by default (``_core.threads.thresholds``)
    cost: int = 1
    #: the same for backward, where it differs (Sigmoid's and Tanh's are two multiplies)
    backward_cost: Optional[int] = None
    #: the book's layer writes dx into dout and returns it (Relu) instead of a new array
    backward_in_place: bool = False
    #: whether LLVM vectorizes backward in the strided 4-D walk (with gathers), as it does
    #: the plain arithmetic of Sigmoid's; False where it does so only in a contiguous loop
    #: (Hardswish's and Hardsigmoid's bit tricks), so that a saved array in another layout
    #: is better transposed first (``_core.dispatch.backward``)
    walks_strided: bool = True
    #: the promise: max error in ULP against the true value (forward and backward); 0:
    #: bit-identical to the NumPy twin. The bounds below are what is measured, within it.
    ulp: float = 0
    #: max error in ULP of the true value, (forward, backward), in float64, measured against
    #: mpmath (``fastact.testing.truths``) by the accuracy tests; 0: the twin's bits. Where a
    #: backward's terms cancel (near its root) the error counts in ULPs of the terms.
    ulp64: tuple = (0, 0)
    #: the same for float32 where the formula is computed in float32 (``_core.libm32``),
    #: measured over every float32 (``-m slow``); None where float32 goes through the float64
    #: code (``ROUNDED_ONCE``) or is the twin's bits
    ulp32: tuple = (None, None)
    #: PyTorch's op, for benchmarks and accuracy reports (never imported here): forward as an
    #: expression of ``F`` (``torch.nn.functional``) and ``x``; backward, the op autograd runs,
    #: of ``A`` (``torch.ops.aten``), ``d`` (dout), ``x`` and ``y`` (forward's output); at
    #: PyTorch's defaults, which are fastact's
    torch: tuple = ()
    layer_kwargs: tuple = ()
    #: NumPy stand-ins for flat kernels (``_core.kernels.Pair.stand_in``), by ``Kernels``
    #: attribute ("forward", "backward"): functions of the kernel's arguments with its bits,
    #: run while its serial build compiles in the background
    stand_ins: tuple = ()

    @cached_property  # read on every layer call
    def attribute(self):
        """The layer attribute holding what backward needs (``mask``, ``out``, ``x``)."""
        return SAVES[self.saves]

    def cost_of(self, direction):
        return self.cost if direction == "forward" or self.backward_cost is None else self.backward_cost

    @property
    def defaults(self):
        return tuple(p.default for p in self.params)

    def bound(self, direction, dtype):
        """The max error in ULP of the true value for ``direction`` in ``dtype`` (0: the
        twin's bits)."""
        i = direction == "backward"
        if np.dtype(dtype) == np.float64:
            return self.ulp64[i]
        native = self.ulp32[i]
        if native is not None:
            return native
        return ROUNDED_ONCE if self.ulp64[i] else 0


@register_jitable
def _relu_mask(x):
    return less_equal_zero(x)  # x <= 0, quiet on NaN like NumPy's own comparison


@register_jitable
def _relu(x):
    # NaN <= 0 is False, so NaN passes through as in the seed; -0.0 and -inf become +0.0.
    return like(0.0, x) if _relu_mask(x) else x


@register_jitable
def _relu_backward(dout, mask):
    # The seed's dout[mask] = 0, without a branch: the kernels see the mask as uint8 (numba's
    # bool loads cost ~4x in loops that don't vectorize, such as the strided 4-D walk), and
    # anding the bits with mask - 1 (all ones for 0, zero for 1: NumPy's bools are 0 or 1)
    # keeps dout's bits or gives +0.0. Measured on the book's conv backward (a strided dout
    # against a transposed mask): 1.5 ms, where a select on a bool took 9 ms and comparing
    # the mask with 0 first 9 ms too. numba widens int32 arithmetic to int64: like() brings
    # the bits back to dout's width.
    bits = bitcast(dout)
    return bitcast(like(bits & (like(mask, bits) - 1), bits))


def _relu_forward_numpy(x, out, mask, params):
    # The flat forward kernel's stand-in: the mask x <= 0 (False for NaN), out x or +0.0.
    m = mask.view(np.bool_)
    np.less_equal(x, 0, out=m)
    np.copyto(out, x)
    np.copyto(out, 0, where=m)


def _relu_backward_numpy(dout, mask, params):
    # The in-place backward kernel's stand-in: the seed's dout[mask] = 0.
    np.copyto(dout, 0, where=mask.view(np.bool_))


RELU = Declaration(
    "relu",
    "Relu",
    _relu,
    _relu_backward,
    "mask",
    mask=_relu_mask,
    backward_in_place=True,
    torch=("F.relu(x)", "A.threshold_backward(d, y, 0)"),
    stand_ins=(("forward", _relu_forward_numpy), ("backward", _relu_backward_numpy)),
)


@register_jitable
def _sigmoid_backward(dout, y):
    # The seed's dout * (1.0 - out) * out, in that order and in the array's dtype.
    return dout * (like(1.0, y) - y) * y


SIGMOID = Declaration(
    "sigmoid",
    "Sigmoid",
    _sigmoid,
    _sigmoid_backward,
    "output",
    cost=40,
    backward_cost=1,
    ulp=2,
    ulp64=(2, 0),
    ulp32=(2, None),
    torch=("F.sigmoid(x)", "A.sigmoid_backward(d, y)"),
)

# The family: PyTorch's names, formulas and defaults (see _core.formulas for the exactness of each).
FAMILY = (
    Declaration(
        "leaky_relu",
        "LeakyReLU",
        F.leaky_relu,
        F.leaky_relu_backward,
        "input",
        params=(Param("negative_slope", 0.01),),
        torch=("F.leaky_relu(x, 0.01)", "A.leaky_relu_backward(d, x, 0.01, False)"),
    ),
    Declaration(
        "elu",
        "ELU",
        F.elu,
        F.elu_backward,
        "input",
        params=(Param("alpha", 1.0),),
        cost=40,
        ulp=2,
        ulp64=(1.0, 1.5),
        ulp32=(0.96, 1.26),
        torch=("F.elu(x)", "A.elu_backward(d, 1.0, 1.0, 1.0, False, x)"),
    ),
    Declaration(
        "selu",
        "SELU",
        F.selu,
        F.selu_backward,
        "input",
        cost=40,
        ulp=2,
        ulp64=(1.0, 1.5),
        ulp32=(1.11, 1.26),
        torch=("F.selu(x)", "A.elu_backward(d, 1.6732632423543772, 1.0507009873554805, 1.0, False, x)"),
    ),
    Declaration(
        "gelu",
        "GELU",
        F.gelu,
        F.gelu_backward,
        "input",
        cost=60,
        ulp=2,
        ulp64=(2.0, 1.5),
        ulp32=(0.51, 0.51),
        torch=("F.gelu(x)", "A.gelu_backward(d, x)"),
    ),
    Declaration(
        "gelu_tanh",
        "GELU",
        F.gelu_tanh,
        F.gelu_tanh_backward,
        "input",
        cost=60,
        ulp=2,
        ulp64=(1.0, 1.5),
        ulp32=(0.51, 0.51),
        torch=("F.gelu(x, approximate='tanh')", "A.gelu_backward(d, x, approximate='tanh')"),
        layer_kwargs=(("approximate", "tanh"),),
    ),
    Declaration(
        "silu",
        "SiLU",
        F.silu,
        F.silu_backward,
        "input",
        cost=40,
        ulp=2,
        ulp64=(1.0, 1.5),
        ulp32=(1.82, 0.51),
        torch=("F.silu(x)", "A.silu_backward(d, x)"),
    ),
    Declaration(
        "tanh",
        "Tanh",
        F.tanh,
        F.tanh_backward,
        "output",
        cost=40,
        backward_cost=1,
        ulp=2,
        ulp64=(1.0, 0),
        ulp32=(1.5, None),
        torch=("F.tanh(x)", "A.tanh_backward(d, y)"),
    ),
    Declaration(
        "softplus",
        "Softplus",
        F.softplus,
        F.softplus_backward,
        "input",
        params=(Param("beta", 1.0), Param("threshold", 20.0)),
        cost=60,
        ulp=2,
        ulp64=(1.5, 1.5),
        ulp32=(0.51, 1.95),
        torch=("F.softplus(x)", "A.softplus_backward(d, x, 1.0, 20.0)"),
    ),
    Declaration(
        "mish",
        "Mish",
        F.mish,
        F.mish_backward,
        "input",
        cost=80,
        ulp=2,
        ulp64=(1.0, 1.5),
        # float64 without pairs (``_core.widened``), rounded once: within 2**-12 ULP of one
        # rounding, the backward near its root too
        ulp32=(ROUNDED_ONCE, ROUNDED_ONCE),
        torch=("F.mish(x)", "A.mish_backward(d, x)"),
    ),
    Declaration(
        "hardswish",
        "Hardswish",
        F.hardswish,
        F.hardswish_backward,
        "input",
        walks_strided=False,
        torch=("F.hardswish(x)", "A.hardswish_backward(d, x)"),
    ),
    Declaration(
        "hardsigmoid",
        "Hardsigmoid",
        F.hardsigmoid,
        F.hardsigmoid_backward,
        "input",
        walks_strided=False,
        torch=("F.hardsigmoid(x)", "A.hardsigmoid_backward(d, x)"),
    ),
    Declaration(
        "log_sigmoid",
        "LogSigmoid",
        F.log_sigmoid,
        F.log_sigmoid_backward,
        "input",
        cost=60,
        ulp=2,
        ulp64=(1.5, 1.5),
        ulp32=(0.51, 1.95),
        torch=("F.logsigmoid(x)", "A.log_sigmoid_backward(d, x, A.log_sigmoid_forward(x)[1])"),
    ),
)

REGISTRY = {act.name: act for act in (RELU, SIGMOID, *FAMILY)}
