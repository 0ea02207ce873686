"""What every layer module shares: the error for a backward without a forward, the input
checks (one wording for every layer), and the way back to the twin's NumPy code for inputs the
kernels don't take (ndarray subclasses, numba's JIT switched off)."""

import numba
import numpy as np

#: The dtypes the compiled kernels take; every other one goes through the twin's NumPy code.
from .._core.kernels import KERNEL_DTYPES as SERVED  # noqa: F401 (for the layer modules)

#: numba's JIT disabled (NUMBA_DISABLE_JIT=1): the kernels would run as Python loops, so every
#: layer takes its twin's NumPy code instead (the book's results at NumPy's speed). Read once:
#: numba reads it once too, at import.
JIT_OFF = numba.config.DISABLE_JIT


class ForwardNotCalledError(RuntimeError):
    """``backward`` was called before any ``forward``: there is nothing to differentiate."""


def not_called(layer, saved=None):
    if saved is None:
        return ForwardNotCalledError(f"{layer}.backward() was called before {layer}.forward()")
    return ForwardNotCalledError(
        f"{layer}.backward() was called before {layer}.forward(): "
        f"there is no {saved} yet (the book's layer would silently compute garbage)"
    )


def require_array(a, where, what="x"):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{where} needs {what} as a NumPy array, got {type(a).__name__}")


def require_numeric(a, where, what="x", kinds="biuf"):
    """``a`` (an array or a NumPy scalar) holds numbers of ``kinds`` (bool, integers, floats;
    the activations also take complex, which their twins compute)."""
    if not isinstance(a, (np.ndarray, np.generic)):
        raise TypeError(f"{where} needs {what} as a NumPy array, got {type(a).__name__}")
    if a.dtype.kind not in kinds:
        raise TypeError(f"{where} needs a numeric {what}, got dtype {a.dtype}")


def subclass(*arrays):
    """Whether any of ``arrays`` is an ndarray subclass (a masked array, np.matrix...): those
    take the twin's NumPy code, which keeps their type and mask as the book's does."""
    for a in arrays:
        if isinstance(a, np.ndarray) and type(a) is not np.ndarray:
            return True
    return False


def by_twin(layer, twin_class, method, *args, **kwargs):
    """``layer.<method>(*args)`` computed by the twin class (the book's NumPy code) on a copy of
    the layer's public state; the state is committed only once the twin has succeeded."""
    twin = twin_class.__new__(twin_class)
    twin.__dict__.update({k: v for k, v in layer.__dict__.items() if not k.startswith("_")})
    result = getattr(twin, method)(*args, **kwargs)
    for name, value in twin.__dict__.items():
        setattr(layer, name, value)
    return result
