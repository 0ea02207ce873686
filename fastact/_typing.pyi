# Shared aliases for fastact's stubs (stub-only: there is no fastact/_typing.py at run time).
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]
FloatArray = NDArray[np.floating[Any]]
