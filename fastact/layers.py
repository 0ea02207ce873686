"""The book's layer classes, ``Relu`` and ``Sigmoid``, on fused compiled kernels.

They keep the seed's interface and results (see CONTRACT.md): ``forward(x)``,
``backward(dout)``, ``mask`` / ``out``, ``params`` / ``grads``. Float32 and float64 arrays go
through the compiled kernels; every other input takes a NumPy path with the seed's results.
Instances hold only arrays and lists, so they pickle and deepcopy like the seed's.
"""

import numbers

import numpy as np

from . import _apply, _threads
from ._kernels import KERNEL_DTYPES, KERNELS

_BOOL = np.dtype(np.bool_)
_F32, _F64 = KERNEL_DTYPES


_RELU = KERNELS["relu"]
_SIGMOID = KERNELS["sigmoid"]


class ForwardNotCalledError(RuntimeError):
    """``backward`` was called before any ``forward``: there is nothing to differentiate."""


def _not_called(layer, saved):
    return ForwardNotCalledError(
        f"{layer}.backward() was called before {layer}.forward(): "
        f"there is no {saved} yet (the book's layer would silently compute garbage)"
    )


def _require_array(a, where, what):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{where} needs {what} as a NumPy array, got {type(a).__name__}")


def _require_numeric(a, where):
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{where} needs a numeric array, got dtype {a.dtype}")


class Relu:
    """ReLU: ``forward`` returns ``x`` with every ``x <= 0`` set to +0.0, bit for bit as the seed.

    ``backward(dout)`` zeroes ``dout`` where ``x <= 0`` in place and returns ``dout`` itself.
    ``Relu(inplace=True)`` also writes the forward result into ``x`` and returns ``x``, saving
    the output allocation (like PyTorch's ``ReLU(inplace=True)``); the default is the book's.
    """

    def __init__(self, inplace=False):
        self.mask = None
        self.params = []
        self.grads = []
        self.inplace = inplace

    def forward(self, x):
        # The common cases first, in as few Python steps as possible: at the book's sizes each
        # step costs a few percent of the call.
        if type(x) is np.ndarray and ((dt := x.dtype) is _F64 or dt is _F32) and not self.inplace:
            if x.nbytes <= _threads.UFUNC_MAX_BYTES["relu_forward"] and x.ndim:
                self.mask = x <= 0  # NumPy's comparison is the seed's mask itself
                return _RELU.ufunc(x)
            if x.flags.aligned:
                out = np.empty_like(x)
                mask = np.empty_like(x, dtype=_BOOL)
                _apply.forward(_RELU, x, out, mask)
                self.mask = mask
                return out
        _require_array(x, "Relu.forward", "x")
        _require_numeric(x, "Relu.forward")
        if self.inplace and not x.flags.writeable:
            raise ValueError("Relu(inplace=True).forward writes into x, but x is read-only")
        if not _apply.served(x):
            return self._forward_numpy(x)
        out = x if self.inplace else np.empty_like(x)
        mask = np.empty_like(x, dtype=np.bool_)
        _apply.forward(_RELU, x, out, mask)
        self.mask = mask
        return out

    def _forward_numpy(self, x):
        # The seed's own steps, for dtypes and layouts the kernels don't take.
        mask = x <= 0
        out = x if self.inplace else x.copy()
        out[mask] = 0
        self.mask = np.asarray(mask)
        return out

    def backward(self, dout):
        mask = self.mask
        if (type(dout) is np.ndarray and type(mask) is np.ndarray and dout.shape == mask.shape
                and ((dt := dout.dtype) is _F64 or dt is _F32)):
            if dout.nbytes <= _threads.UFUNC_MAX_BYTES["relu_backward"]:
                # One compiled ufunc call writing into dout (out by position: parsing out=
                # costs more than the work on 100 elements). NumPy refuses, before writing,
                # what the checks below report: a read-only dout, a mask of another dtype
                # set by hand.
                try:
                    return _RELU.backward_ufunc(dout, mask, dout)
                except (TypeError, ValueError):
                    pass
            elif mask.dtype is _BOOL and (flags := dout.flags).writeable and flags.aligned:
                _apply.backward(_RELU, dout, mask, dout)
                return dout
        if mask is None:
            raise _not_called("Relu", "mask")
        _require_array(dout, "Relu.backward", "dout (it is written in place, as in the book)")
        if dout.shape != np.shape(mask):
            raise ValueError(
                f"Relu.backward: dout has shape {dout.shape} but forward's input had shape "
                f"{np.shape(mask)}; nothing was written"
            )
        if not dout.flags.writeable:
            raise ValueError(
                "Relu.backward writes into dout in place (as the book's layer does), "
                "but dout is read-only"
            )
        # What the kernels don't take (other dtypes, byte order, alignment, masks set by hand):
        # the seed's own statement.
        _require_numeric(dout, "Relu.backward")
        dout[mask] = 0
        return dout

    def __repr__(self):
        return "Relu(inplace=True)" if self.inplace else "Relu()"


def _sigmoid_input(x):
    """``x`` as an array the kernels take, and the dtype NumPy gives the seed's expression."""
    if not isinstance(x, np.ndarray):
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Number, np.generic)):
            raise TypeError(
                f"Sigmoid.forward needs a NumPy array or a number, got {type(x).__name__}"
            )
    x = np.asarray(x)  # also drops ndarray subclasses, which the flat kernels can't walk
    _require_numeric(x, "Sigmoid.forward")
    kind = x.dtype.kind
    if kind == "b":
        raise TypeError(
            "Sigmoid.forward: bool input has no sigmoid in the book either (-x is not defined "
            "for bool); convert it first, e.g. x.astype(np.float64)"
        )
    if _apply.served(x):
        return x, x.dtype
    if kind in "iu" or x.dtype == np.float16 or x.dtype.char in "fd":
        result = np.result_type(x.dtype.newbyteorder("="), np.float16)
        # Computed in float32 or float64 and rounded once; ints convert before negation, so
        # unsigned input cannot wrap around as it does in the seed's -x.
        compute = np.float32 if result == np.float16 else result
        return x.astype(compute, order="K"), result
    return None, x.dtype  # longdouble, complex: the seed's expression


class Sigmoid:
    """Sigmoid: ``forward`` returns 1 / (1 + exp(-x)) to within 2 ULP, without overflow warnings.

    The result is also kept as ``layer.out`` (the same object), and ``backward(dout)`` returns
    a new array equal bit for bit to the seed's ``dout * (1.0 - out) * out``.
    """

    def __init__(self):
        self.out = None
        self.params = []
        self.grads = []

    def forward(self, x):
        if type(x) is np.ndarray and ((dt := x.dtype) is _F64 or dt is _F32):  # common cases
            if x.nbytes <= _threads.UFUNC_MAX_BYTES["sigmoid_forward"]:
                self.out = out = _SIGMOID.ufunc(x)  # a NumPy scalar for 0-d x, as the seed gives
                return out
            if x.flags.aligned and x.ndim:
                self.out = out = np.empty_like(x)
                _apply.forward(_SIGMOID, x, out)
                return out
        xk, result = _sigmoid_input(x)
        if xk is None:
            with np.errstate(over="ignore"):  # exp(-x) -> inf makes the right 0, quietly
                out = 1 / (1 + np.exp(-x))
        else:
            out = np.empty_like(xk)
            _apply.forward(_SIGMOID, xk, out)
            if out.dtype != result:
                out = out.astype(result)
            if out.ndim == 0:
                out = out[()]  # a NumPy scalar, as NumPy gives for 0-d input
        self.out = out
        return out

    def backward(self, dout):
        out = self.out
        if (type(dout) is np.ndarray and type(out) is np.ndarray
                and ((dt := dout.dtype) is _F64 or dt is _F32) and (out.dtype is dt or out.dtype == dt)
                and dout.shape == out.shape):
            if dout.nbytes <= _threads.UFUNC_MAX_BYTES["sigmoid_backward"]:
                return _SIGMOID.backward_ufunc(dout, out)
            if dout.flags.aligned and out.flags.aligned:
                dx = np.empty_like(out)
                _apply.backward(_SIGMOID, dout, out, dx)
                return dx
        if out is None:
            raise _not_called("Sigmoid", "out")
        # Broadcasting, mixed dtypes, scalars: the seed's expression is the definition.
        return dout * (1.0 - out) * out

    def __repr__(self):
        return "Sigmoid()"
