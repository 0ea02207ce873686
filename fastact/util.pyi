from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

def out_size(size: int, filter_size: int, stride: int, pad: int, what: str = "filter") -> int: ...
def check_window(
    filter_h: int, filter_w: int, stride: int, pad: int, what: str = "filter"
) -> tuple[int, int, int, int]: ...
def as_kernel_input(a: ArrayLike, name: str) -> NDArray[np.floating[Any]]: ...
def im2col(
    input_data: ArrayLike, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0
) -> NDArray[np.float64]: ...
def im2col_into(
    input_data: ArrayLike,
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
    out: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]: ...
def col2im(
    col: ArrayLike, input_shape: Sequence[int], filter_h: int, filter_w: int, stride: int = 1, pad: int = 0
) -> NDArray[np.float64]: ...
