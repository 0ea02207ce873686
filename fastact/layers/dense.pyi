import numpy as np
from numpy.typing import NDArray

from .._typing import Array

class Affine:
    W: Array
    b: Array
    x: Array | None
    original_x_shape: tuple[int, ...] | None
    dW: Array | None
    db: Array | None
    def __init__(self, W: Array, b: Array) -> None: ...
    def forward(self, x: Array) -> Array: ...
    def backward(self, dout: Array) -> Array: ...

class Dropout:
    dropout_ratio: float
    mask: NDArray[np.bool_] | None
    def __init__(self, dropout_ratio: float = 0.5) -> None: ...
    def forward(self, x: Array, train_flg: bool = True) -> Array: ...
    def backward(self, dout: Array) -> Array: ...

class BatchNormalization:
    gamma: Array
    beta: Array
    momentum: float
    input_shape: tuple[int, ...] | None
    running_mean: Array | None
    running_var: Array | None
    batch_size: int | None
    xc: Array | None
    xn: Array | None
    std: Array | None
    dgamma: Array | None
    dbeta: Array | None
    def __init__(
        self,
        gamma: Array,
        beta: Array,
        momentum: float = 0.9,
        running_mean: Array | None = None,
        running_var: Array | None = None,
    ) -> None: ...
    def forward(self, x: Array, train_flg: bool = True) -> Array: ...
    def backward(self, dout: Array) -> Array: ...
