import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._typing import Array, FloatArray

class Convolution:
    W: Array
    b: Array
    stride: int
    pad: int
    x: Array | None
    col: FloatArray | None
    col_W: Array | None
    dW: Array | None
    db: Array | None
    def __init__(self, W: Array, b: Array, stride: int = 1, pad: int = 0) -> None: ...
    def forward(self, x: Array) -> FloatArray: ...
    def backward(self, dout: Array) -> FloatArray: ...

class Pooling:
    pool_h: int
    pool_w: int
    stride: int
    pad: int
    x: Array | None
    arg_max: NDArray[np.intp] | None
    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None: ...
    def forward(self, x: ArrayLike) -> FloatArray: ...
    def backward(self, dout: ArrayLike) -> FloatArray: ...
