"""The activations as NumPy functions, one per declaration, built on first use.

Without parameters the function *is* a NumPy ufunc (``fastact.relu``, ``fastact.sigmoid``...):
broadcasting, ``out=``, NumPy's dtype rules, ``reduce`` and friends, Dask's and other arrays'
``__array_ufunc__``. With parameters it is a thin wrapper taking them by keyword (PyTorch's
names and defaults) over a ufunc that takes them as trailing inputs; the wrapper's ``.ufunc``
is that ufunc.

numba's ufuncs do not support ``where=``: NumPy refuses it with a ``ValueError`` before
writing anything.
"""

import functools
import inspect
import warnings

import numba
import numpy as np
from numba import types

from . import reference
from ._core import dispatch
from ._core.jit import overload
from ._core.kernels import KERNELS
from .activations import REGISTRY


def _with_parameters(spec, ufunc):
    names = [p.name for p in spec.params]
    kernels = KERNELS[spec.name]

    def call(x, *args, out=None, **kwargs):
        values = dict(zip(names, args))
        for p in spec.params:
            values.setdefault(p.name, kwargs.pop(p.name, p.default))
        if len(args) > len(names):
            raise TypeError(f"{spec.name}() takes at most {1 + len(names)} positional arguments")
        params = [values[n] for n in names]
        if not kwargs and _kernel_takes(x, out, params):
            # The ufunc gets the parameters as stride-0 operands, and numba's ufunc loop then
            # runs unvectorized (2.7-7x slower); the kernels run the same formula, with the
            # same bits. Python numbers only, so the result is x's dtype in every NumPy.
            dt = x.dtype
            target = np.empty_like(x) if out is None else out
            dispatch.forward(kernels, x, target, None, tuple(dt.type(v) for v in params))
            return target
        if out is not None:
            kwargs["out"] = out
        return ufunc(x, *params, **kwargs)

    call.__name__ = call.__qualname__ = spec.name
    call.__doc__ = f"{spec.name}(x, {', '.join(f'{p.name}={p.default!r}' for p in spec.params)}, out=None)"
    params = [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default) for p in spec.params
    ]
    params += [inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None)]
    call.__signature__ = inspect.Signature(params)
    call.ufunc = ufunc
    return call


def _kernel_takes(x, out, params):
    """Whether the flat kernels can serve ``f(x, *params, out=out)`` exactly as the ufunc
    would: a C-contiguous array the kernels take, parameters that are Python numbers, ``out``
    (if any) an array of x's dtype and shape, C-contiguous, x itself or not overlapping it."""
    if not (
        dispatch.served(x)
        and x.ndim
        and x.flags.c_contiguous
        and all(type(v) is float or type(v) is int for v in params)
    ):
        return False
    return out is None or (
        dispatch.served(out)
        and out.dtype == x.dtype
        and out.shape == x.shape
        and out.flags.c_contiguous
        and out.flags.writeable
        and (out is x or not np.may_share_memory(out, x))
    )


def _gelu(ufuncs):
    erf_form, tanh_form = ufuncs

    def gelu(x, approximate="none", out=None, **kwargs):
        """gelu(x, approximate="none", out=None): x * Phi(x), with the erf or ("tanh")
        PyTorch's tanh approximation."""
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        if out is not None:
            kwargs["out"] = out
        return (erf_form if approximate == "none" else tanh_form)(x, **kwargs)

    gelu.ufunc = erf_form
    return gelu


@functools.lru_cache(maxsize=None)
def get(name):
    """The public function for activation ``name`` (compiles its ufunc on first use)."""
    spec = REGISTRY[name]
    if numba.config.DISABLE_JIT:  # nothing can be compiled: the NumPy twin, said once
        warnings.warn(
            f"fastact: NUMBA_DISABLE_JIT is set, so fastact.{name} is its NumPy twin "
            f"(fastact.reference.{name}), not a ufunc",
            RuntimeWarning,
            stacklevel=3,
        )
        return getattr(reference, name)
    ufunc = KERNELS[name].ufunc
    globals()[name] = ufunc  # where pickle finds it by name (see __getattr__)
    if name == "gelu":  # PyTorch's one function for two formulas, chosen by a string
        function = _gelu((ufunc, KERNELS["gelu_tanh"].ufunc))
    else:
        function = _with_parameters(spec, ufunc) if spec.params else ufunc
    _callable_from_numba(function, spec)
    return function


def _callable_from_numba(function, spec):
    """Make ``function`` callable on scalars from users' ``@njit`` code, inlining the same
    formula the ufunc runs (so the same bits): numba-stats' pattern, an ``@overload`` on the
    object itself (a NumPy ufunc object included, which numba could not type otherwise)."""
    formula = spec.forward
    names = [p.name for p in spec.params]

    if not names:

        @overload(function)
        def scalar(x):
            if isinstance(x, types.Float):
                return lambda x: formula(x)

        return

    d = spec.defaults
    if len(names) == 1:

        @overload(function)
        def one(x, a=d[0]):
            if isinstance(x, types.Float):
                cast = x
                return lambda x, a=d[0]: formula(x, cast(a))
    elif len(names) == 2:

        @overload(function)
        def two(x, a=d[0], b=d[1]):
            if isinstance(x, types.Float):
                cast = x
                return lambda x, a=d[0], b=d[1]: formula(x, cast(a), cast(b))


def __getattr__(name):
    # NumPy pickles a ufunc as (module, name), finding the module whose attribute of that name
    # is the ufunc itself: for the wrapped ones (leaky_relu, elu, softplus, gelu) that is this
    # module, not fastact. A Dask worker unpickling one imports this module and gets it here.
    if name in REGISTRY:
        ufunc = KERNELS[name].ufunc
        globals()[name] = ufunc
        return ufunc
    raise AttributeError(f"module 'fastact.ufuncs' has no attribute {name!r}")
