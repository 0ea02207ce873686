"""The book's layer classes on fused compiled kernels: one generic activation layer built from
each declaration in ``activations.REGISTRY``, subclassed only for the book's own quirks
(Relu's in-place backward, Sigmoid's scalar input).

They keep the seed's interface and results (see docs/contract.md): ``forward(x)``,
``backward(dout)``, what backward needs under a plain attribute (``mask``, ``out``, ``x``),
``params`` / ``grads``. Float32 and float64 arrays go through the compiled kernels; every other
input takes a NumPy path with the twin's results. Instances hold only arrays, lists and
numbers, so they pickle and deepcopy like the seed's. A forward that fails (bad input, no
memory, an interrupt) leaves the layer's previous state as it was: attributes are assigned
only once the result is complete.
"""

import inspect
import numbers
import warnings

import numpy as np

from .. import reference
from .._core import dispatch
from .._core.kernels import KERNEL_DTYPES, KERNELS
from .._core.layouts import may_self_overlap
from .._core.threads import run
from ..activations import REGISTRY
from ._base import JIT_OFF, not_called, require_array, require_numeric

_BOOL = np.dtype(np.bool_)
_NDARRAY = np.ndarray  # a module global: one lookup, not two, in the per-call checks
_U8 = np.dtype(np.uint8)
_F32, _F64 = KERNEL_DTYPES


def _compute_dtype(x, where):
    """(the array the kernels take, the dtype of the result) for an input the fast path did
    not take: NumPy's dtype for the twin's float expression, computed in float32 or float64
    and rounded once (float16 in float32; ints convert before any negation, so unsigned input
    cannot wrap around). None for what NumPy itself must compute (longdouble, complex)."""
    kind = x.dtype.kind
    if kind == "b":
        raise TypeError(
            f"{where}: bool input has no value here (the book's -x is not defined "
            "for bool either); convert it first, e.g. x.astype(np.float64)"
        )
    if dispatch.served(x):
        return x, x.dtype
    if kind in "iu" or x.dtype == np.float16 or x.dtype.char in "fd":
        result = np.result_type(x.dtype.newbyteorder("="), np.float16)
        compute = np.float32 if result == np.float16 else result
        return x.astype(compute, order="K"), result
    return None, x.dtype


class ActivationLayer:
    """An activation layer built from its declaration (``spec``): the book's interface.

    ``forward(x)`` returns a new array (a NumPy scalar for 0-d input, as NumPy's ufuncs give)
    and keeps what backward needs; ``backward(dout)`` returns a new array ``dout * f'(x)``.
    """

    spec = None  # an activations.Declaration, set by each subclass

    def __init__(self, *args, **kwargs):
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{type(self).__name__}: {name} must be a real number, got {value!r}")
            setattr(self, name, value)
        setattr(self, self.spec.attribute, None)
        self.params = []
        self.grads = []

    def _values(self, dtype):
        """The layer's parameters as scalars of ``dtype``, in declaration order."""
        params = self.spec.params
        if not params:  # most of the family: no generator to run (~0.4 us at the book's sizes)
            return ()
        # (a generator was 0.3 of the 0.45 us this took for one parameter)
        if len(params) == 1:
            return (dtype.type(getattr(self, params[0].name)),)
        return tuple([dtype.type(getattr(self, p.name)) for p in params])

    def forward(self, x):
        spec = self.spec
        kernels = KERNELS[spec.name]
        if JIT_OFF and _twins_only():
            return self._forward_twin(x)
        if type(x) is np.ndarray and ((dt := x.dtype) is _F64 or dt is _F32):
            # The common cases first, in as few Python steps as possible; the ufunc takes
            # unaligned arrays too (and gives a NumPy scalar for 0-d input, as NumPy's do).
            # At 100 elements a call is about a microsecond, a third of it the ufunc: each
            # step here costs 5-10% (the parameter tuple and its splat, ~0.2 us, are skipped
            # for the activations without parameters).
            lim = dispatch.limits(kernels)
            if not x.ndim or (nb := x.nbytes) <= lim[1] or (nb <= lim[3] and x.flags.c_contiguous):
                out = kernels.ufunc(x, *self._values(dt)) if spec.params else kernels.ufunc(x)
                self._keep(x, out)
                return out
            if x.flags.aligned:
                out = np.empty_like(x)
                dispatch.forward(kernels, x, out, None, self._values(dt))
                self._keep(x, out)
                return out
        where = f"{type(self).__name__}.forward"
        if _defers(x):
            # ndarray subclasses (masked arrays, matrix) and arrays with a ufunc protocol of
            # their own (Dask): the ufunc through NumPy's protocol keeps their type, mask or
            # laziness, as the book's NumPy expression does.
            dtype = np.dtype(x.dtype)
            out = dispatch.forward_ufunc(kernels, x, self._values(dtype if dtype.kind == "f" else _F64))
            self._keep(x, out)
            return out
        x = _as_array(x, where)
        require_numeric(x, where, kinds="biufc")
        xk, result = _compute_dtype(x, where)
        if xk is None:
            out = getattr(reference, spec.name)(x, *self._values(np.dtype(np.float64)))
        else:
            out = dispatch.forward_ufunc(kernels, xk, self._values(xk.dtype))
            if np.dtype(out.dtype) != result:
                out = out.astype(result)
        self._keep(x if xk is None else xk, out)
        return out

    def _forward_twin(self, x):
        spec = self.spec
        with np.errstate(over="ignore"):  # the textbook formula may overflow on its way to 0
            out = getattr(reference, spec.name)(x, *self._values(np.dtype(np.float64)))
        self._keep(x, out)
        return out

    def _keep(self, x, out):
        attribute = self.spec.attribute  # what backward needs: "out" or "x"
        setattr(self, attribute, out if attribute == "out" else x if attribute == "x" else None)

    def backward(self, dout):
        spec = self.spec
        saved = getattr(self, spec.attribute)
        if saved is None:
            raise not_called(type(self).__name__, spec.attribute)
        if (
            type(dout) is np.ndarray
            and type(saved) is np.ndarray
            and not (JIT_OFF and _twins_only())
            and ((dt := dout.dtype) is _F64 or dt is _F32)
            and saved.dtype == dt  # (an unpickled array's dtype is equal, not the same object)
            and dout.shape == saved.shape
        ):
            # The common cases first, in as few Python steps as possible (at the book's sizes
            # each costs a few percent of the call); the ufunc takes unaligned arrays too.
            kernels = KERNELS[spec.name]
            lim = dispatch.limits(kernels)
            if (nb := dout.nbytes) <= lim[2] or (nb <= lim[4] and dout.flags.c_contiguous and saved.flags.c_contiguous):
                if spec.params:
                    return kernels.backward_ufunc(dout, saved, *self._values(dt))
                return kernels.backward_ufunc(dout, saved)
            if dout.flags.aligned and saved.flags.aligned:
                dx = np.empty_like(dout)
                dispatch.backward_by_kernels(kernels, dout, saved, dx, self._values(dt))
                return dx
        # Broadcasting, mixed dtypes, scalars: the twin's expression is the definition.
        twin = getattr(reference, f"{spec.name}_backward")
        return twin(dout, saved, *self._values(np.result_type(saved, np.float16)))

    def __repr__(self):
        args = ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in self.spec.params)
        return f"{type(self).__name__}({args})"


def _defers(x):
    """Whether ``x`` is an array that handles NumPy's ufuncs itself (an ndarray subclass, a
    Dask array): fastact's ufuncs then go through that protocol."""
    if type(x) is np.ndarray or isinstance(x, np.generic):
        return False
    return isinstance(x, np.ndarray) or getattr(type(x), "__array_ufunc__", None) is not None


def _as_array(x, where):
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__array__") and not isinstance(x, np.generic):  # e.g. a torch tensor
        return np.asarray(x)
    if isinstance(x, bool):  # a Python bool is an int to the book's -x: sigmoid(True) = 0.73
        return np.asarray(int(x))
    if isinstance(x, np.bool_) or not isinstance(x, (numbers.Number, np.generic)):
        raise TypeError(f"{where}.forward needs a NumPy array or a number, got {type(x).__name__}")
    return np.asarray(x)


def _layer_class(spec, base=ActivationLayer, doc=None):
    params = [
        inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default) for p in spec.params
    ]

    def __init__(self, *args, **kwargs):
        base.__init__(self, *args, **kwargs)

    # the constructor's parameters as inspect (help(), editors, stubtest) shows them
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = inspect.Signature([self_param, *params])
    return type(
        spec.layer,
        (base,),
        {
            "spec": spec,
            "_signature": inspect.Signature(params),
            "__init__": __init__,
            "__doc__": doc or f"The {spec.name} activation as a layer (see ``fastact.{spec.name}``).",
            "__module__": __name__,
        },
    )


_RELU = KERNELS["relu"]
#: Elements up to which Relu's forward and backward take the ufunc without reading the tuned
#: limit (0.06-0.12 us of a 0.6-1.3 us call at 100 elements): a kernel's dispatch alone costs
#: ~2 us, the ufunc on 256 elements ~0.4 (AMD EPYC), so no machine's tuned limit is below it.
_TINY = 256
#: The zero the forward's mask compares with, as a 0-d array of x's own dtype: NumPy then
#: resolves the comparison's loop without converting a Python 0 (x <= 0 took 0.93 us at the
#: book's (100, 50) float64, x <= this 0.69; float32 0.68 -> 0.57; Intel VM). The same bools.
_MASK_ZERO = {dt: np.zeros((), dt) for dt in KERNEL_DTYPES}


def _on_first_use(name, attribute):
    """What the module global ``name``, one of Relu's ufuncs (``_RELU.<attribute>``), holds
    until its first call, which builds the ufunc and puts it in its place: later calls reach
    the ufunc in one global lookup (through the kernels' attribute it cost 0.02-0.05 us more:
    of the seed's 0.45 at 100 elements in the backward, of the forward's 2.6 at (100, 50))."""

    def first_call(*args):
        ufunc = getattr(_RELU, attribute)
        globals()[name] = ufunc
        return ufunc(*args)

    return first_call


_relu_ufunc = _on_first_use("_relu_ufunc", "ufunc")
_relu_backward_ufunc = _on_first_use("_relu_backward_ufunc", "backward_ufunc")


class Relu(_layer_class(REGISTRY["relu"])):
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
        kernels = _RELU
        # The common cases first, in as few Python steps as possible (the checks inlined: at
        # the book's sizes each step costs a few percent of the call).
        if (
            type(x) is _NDARRAY
            and ((dt := x.dtype) is _F64 or dt is _F32)
            and not self.inplace
            and not JIT_OFF
            and not _SUBNORMAL <= _ZERO  # (_subnormals_are_zero)
        ):
            if x.ndim and (x.size <= _TINY or x.nbytes <= dispatch.limits(kernels)[1]):
                # NumPy's own comparison is the seed's mask itself, and the cheapest call
                mask = x <= _MASK_ZERO[dt]
                out = _relu_ufunc(x)
                self.mask = mask
                return out
            if x.flags.aligned:
                out = np.empty_like(x)
                mask = np.empty_like(x, dtype=_BOOL)
                dispatch.forward(kernels, x, out, mask, ())
                self.mask = mask
                return out
        if (_defers(x) and not isinstance(x, np.ndarray)) or _twins_only():
            return self._forward_numpy(x)  # Dask: the seed's steps stay lazy
        require_array(x, "Relu.forward", "x")
        require_numeric(x, "Relu.forward", kinds="biufc")
        if self.inplace and not x.flags.writeable:
            raise ValueError("Relu(inplace=True).forward writes into x, but x is read-only")
        if not dispatch.served(x) or x.ndim == 0 or _subnormals_are_zero():
            return self._forward_numpy(x)
        out = x if self.inplace else np.empty_like(x)
        mask = np.empty_like(x, dtype=_BOOL)
        dispatch.forward(kernels, x, out, mask, ())
        self.mask = mask
        return out

    def _forward_numpy(self, x):
        # The seed's own steps, for dtypes and layouts the kernels don't take.
        mask = x <= 0
        if isinstance(mask, np.generic):  # 0-d input: keep an array, as the seed's mask is
            mask = np.asarray(mask)
        out = x if self.inplace else x.copy()
        out[mask] = 0
        self.mask = mask
        return out

    def backward(self, dout):
        mask = self.mask
        # The common cases first, in as few Python steps as possible: the seed's backward at
        # 100 elements takes 0.44 us, the ufunc call alone 0.23, each check here 0.02-0.06.
        if (
            type(dout) is _NDARRAY
            and type(mask) is _NDARRAY
            and ((dt := dout.dtype) is _F64 or dt is _F32)
            and mask.dtype is _BOOL
            and dout.shape == mask.shape
            and not JIT_OFF
        ):
            # The ufunc's loop is vectorized in place too (ufunc_loop.fast_loops), so it
            # serves up to the ufunc limit, as for any other op. Not up to the parallel
            # threshold, as contiguous forwards are: the book's ConvNet, whose Relu outputs
            # lie on both sides of that range, then compiled the ufunc (both dtypes) as well
            # as the kernel its larger ones need, and its first step took 2.32-2.40 s cold
            # against 2.14-2.19 (Intel VM).
            small = dout.size <= _TINY or dout.nbytes <= dispatch.limits(_RELU)[2]
            if small and dout.flags.c_contiguous:
                # one ufunc call writing into dout (out by position: parsing out= costs more
                # than the work on 100 elements); the ufunc takes any alignment and mask
                # layout, and refuses a read-only dout before writing anything (the slow path
                # below then says why)
                try:
                    _relu_backward_ufunc(dout, mask, dout)
                    return dout
                except ValueError:
                    if dout.flags.writeable:
                        raise
            else:
                flags = dout.flags
                if not small and flags.c_contiguous and flags.writeable and flags.aligned and mask.flags.c_contiguous:
                    # the book's layouts: the flat in-place kernel without the general dispatch's steps
                    run(_RELU.backward, dout.size, dout.ravel(), mask.view(_U8).ravel(), ())
                    return dout
                if flags.writeable and flags.aligned and (flags.c_contiguous or not may_self_overlap(dout)):
                    dispatch.backward(_RELU, dout, mask, dout, ())
                    return dout
        if mask is None:
            raise not_called("Relu", "mask")
        require_array(dout, "Relu.backward", "dout (it is written in place, as in the book)")
        if dout.shape != np.shape(mask):
            raise ValueError(
                f"Relu.backward: dout has shape {dout.shape} but forward's input had shape "
                f"{np.shape(mask)}; nothing was written"
            )
        if not dout.flags.writeable:
            raise ValueError(
                "Relu.backward writes into dout in place (as the book's layer does), but dout is read-only"
            )
        # What the kernels don't take (other dtypes, byte order, alignment, masks set by hand,
        # a dout whose elements share memory): the seed's own statement, whose result is the
        # definition (a shared slot is zeroed if any masked index points at it).
        require_numeric(dout, "Relu.backward", "dout", kinds="biufc")
        return reference.relu_backward(dout, mask)

    def __repr__(self):
        return "Relu(inplace=True)" if self.inplace else "Relu()"


_twins_warned = []


def _twins_only():
    """Whether numba's JIT is off (``NUMBA_DISABLE_JIT=1``, used to debug one's own numba
    code): fastact cannot compile anything then, so the layers compute with their NumPy twins
    (the book's results, at NumPy's speed), and say so once."""
    if not JIT_OFF:
        return False
    if not _twins_warned:
        _twins_warned.append(True)
        warnings.warn(
            "fastact: NUMBA_DISABLE_JIT is set, so fastact's layers compute with their "
            "NumPy twins (fastact.reference): the book's results at NumPy's speed",
            RuntimeWarning,
            stacklevel=3,
        )
    return True


_SUBNORMAL, _ZERO = np.float64(5e-324), np.float64(0.0)


def _subnormals_are_zero():
    """Whether the CPU now treats subnormal inputs as zero (DAZ, e.g. after
    ``torch.set_flush_denormal(True)``): NumPy's comparisons then call a positive subnormal
    ``<= 0``, and Relu must agree with the seed's ``x <= 0``. A scalar compare, ~50 ns."""
    return _SUBNORMAL <= _ZERO


class Sigmoid(_layer_class(REGISTRY["sigmoid"])):
    """Sigmoid: ``forward`` returns 1 / (1 + exp(-x)) to within 2 ULP, without overflow warnings.

    The result is also kept as ``layer.out`` (the same object), and ``backward(dout)`` returns
    a new array equal bit for bit to the seed's ``dout * (1.0 - out) * out``.
    """


class GELU(_layer_class(REGISTRY["gelu"])):
    """GELU: ``x * Phi(x)`` with the erf (``approximate="none"``, PyTorch's default) or
    PyTorch's tanh approximation (``approximate="tanh"``); backward from the input."""

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        super().__init__()

    @property
    def spec(self):  # a property, not an instance attribute: instances hold no functions
        return REGISTRY["gelu" if self.approximate == "none" else "gelu_tanh"]

    def __repr__(self):
        return f"GELU(approximate={self.approximate!r})"


def _make_family():
    made = {}
    for spec in REGISTRY.values():
        if spec.layer not in ("Relu", "Sigmoid", "GELU"):
            made[spec.layer] = _layer_class(spec)
    return made


#: layer class name -> class, for every declaration
CLASSES = {"Relu": Relu, "Sigmoid": Sigmoid, "GELU": GELU, **_make_family()}
globals().update(CLASSES)  # the generated classes live here, so that their instances pickle


def layer_for(name, **params):
    """A new layer computing activation ``name`` of the registry (``gelu_tanh`` included)."""
    spec = REGISTRY[name]
    return CLASSES[spec.layer](**dict(spec.layer_kwargs), **params)
