"""fastact: the book's Relu and Sigmoid layers, bit-exact and many times faster.

    from fastact import Relu, Sigmoid      # instead of: from common.layers import Relu, Sigmoid

``fastact.relu`` and ``fastact.sigmoid`` are the element formulas as NumPy ufuncs.
``fastact.reference`` holds the seed's NumPy layers, the yardstick for tests and benchmarks.
"""

from . import reference
from ._threads import get_num_threads, num_threads, set_num_threads
from .layers import ForwardNotCalledError, Relu, Sigmoid

__version__ = "0.1.0"

__all__ = [
    "Relu",
    "Sigmoid",
    "relu",
    "sigmoid",
    "ForwardNotCalledError",
    "get_num_threads",
    "set_num_threads",
    "num_threads",
    "reference",
]


def __getattr__(name):
    # The ufuncs are built on first use: importing fastact for its layers compiles nothing.
    from ._kernels import KERNELS

    if name in KERNELS:
        ufunc = KERNELS[name].ufunc
        globals()[name] = ufunc
        return ufunc
    raise AttributeError(f"module 'fastact' has no attribute {name!r}")
