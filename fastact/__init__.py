"""fastact: the layers and functions of *Deep Learning from Scratch*, bit-exact or within
2 ULP, on fused compiled kernels, many times faster than NumPy.

    from fastact import Relu, Sigmoid      # instead of: from common.layers import Relu, Sigmoid

Each activation is a layer class (``fastact.Relu``, ``fastact.Sigmoid``, ...) and a NumPy
function (``fastact.relu``, ``fastact.sigmoid``, ...: real ufuncs, built on first use, so that
importing fastact compiles nothing). ``fastact.reference`` holds the NumPy twins, the yardstick
for tests and benchmarks.
"""

from importlib import metadata as _metadata

from . import reference
from ._core.threads import get_num_threads, num_threads, set_num_threads
from .activations import REGISTRY as _REGISTRY
from .layers import ForwardNotCalledError
from .layers.activation import CLASSES as _ACTIVATION_LAYERS

globals().update(_ACTIVATION_LAYERS)

try:
    __version__ = _metadata.version("fastact")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    *_ACTIVATION_LAYERS,
    *_REGISTRY,
    "softmax",
    "log_softmax",
    "Softmax",
    "LogSoftmax",
    "SoftmaxWithLoss",
    "SigmoidWithLoss",
    "ForwardNotCalledError",
    "get_num_threads",
    "set_num_threads",
    "num_threads",
    "reference",
]


_LATER = {
    "softmax": "_core.softmax",
    "log_softmax": "_core.softmax",
    "Softmax": "layers",
    "LogSoftmax": "layers",
    "SoftmaxWithLoss": "layers",
    "SigmoidWithLoss": "layers",
}


def __getattr__(name):
    # The functions are built on first use: importing fastact for its layers compiles nothing,
    # and the row kernels' modules are imported when first asked for.
    if name in _LATER:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LATER[name]}"), name)
        globals()[name] = value
        return value
    if name in _REGISTRY:
        from . import ufuncs

        function = ufuncs.get(name)
        globals()[name] = function
        return function
    raise AttributeError(f"module 'fastact' has no attribute {name!r}")
