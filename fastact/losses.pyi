from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._typing import Array, FloatArray

class SoftmaxWithLoss:
    loss: np.floating[Any] | None
    y: FloatArray | None
    t: Array | None
    params: list[Array]
    grads: list[Array]
    def __init__(self) -> None: ...
    def forward(self, x: ArrayLike, t: ArrayLike) -> np.floating[Any]: ...
    def backward(self, dout: Any = 1) -> FloatArray: ...

class _SoftmaxBase:
    axis: int
    params: list[Array]
    grads: list[Array]
    out: FloatArray | None
    def __init__(self, axis: int = -1) -> None: ...

class Softmax(_SoftmaxBase):
    def forward(self, x: ArrayLike) -> FloatArray: ...
    def backward(self, dout: ArrayLike) -> FloatArray: ...

class LogSoftmax(_SoftmaxBase):
    def forward(self, x: ArrayLike) -> FloatArray: ...
    def backward(self, dout: ArrayLike) -> FloatArray: ...

class SigmoidWithLoss:
    loss: np.floating[Any] | None
    y: FloatArray | None
    t: Array | None
    params: list[Array]
    grads: list[Array]
    def __init__(self) -> None: ...
    def forward(self, x: ArrayLike, t: ArrayLike) -> np.floating[Any]: ...
    def backward(self, dout: Any = 1) -> FloatArray: ...
