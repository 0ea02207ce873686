"""The book's layer classes, with the book's interface, on fused compiled kernels:
``from fastact.layers import *`` replaces ``from common.layers import *``.

Where each class lives (``LAYERS``, the one table of them: ``fastact``'s namespace, the star
import, the stubs and the tests read it):

- ``activation``: one layer per activation declaration (``fastact.activations.REGISTRY``:
  ``Relu``, ``Sigmoid``, the family), generated from it;
- ``dense``: ``Affine``, ``Dropout``, ``BatchNormalization``;
- ``conv``: ``Convolution``, ``Pooling``;
- ``losses``: ``SoftmaxWithLoss``, ``Softmax``, ``LogSoftmax``, ``SigmoidWithLoss``;
- ``_base``: what they share (input checks, ``ForwardNotCalledError``, the twin fallback).

The activation layers are imported with the package; the others on first use (a star import
asks for each name), so a user of Relu alone compiles and imports nothing more.
"""

import importlib

from ..activations import REGISTRY as _REGISTRY
from ._base import ForwardNotCalledError
from .activation import ActivationLayer, layer_for

#: class name -> the module of this package that defines it
LAYERS = {
    **{spec.layer: "activation" for spec in _REGISTRY.values()},
    **dict.fromkeys(("Affine", "Dropout", "BatchNormalization"), "dense"),
    **dict.fromkeys(("Convolution", "Pooling"), "conv"),
    **dict.fromkeys(("SoftmaxWithLoss", "Softmax", "LogSoftmax", "SigmoidWithLoss"), "losses"),
}

__all__ = [*LAYERS, "ForwardNotCalledError"]  # what `from common.layers import *` gave, and its error


def __getattr__(name):
    if name in LAYERS:
        value = getattr(importlib.import_module(f"{__name__}.{LAYERS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *LAYERS})
