"""What an editor and a type checker see of fastact: CI runs ``mypy tests/typecheck`` on this
file (it is never executed). Each ``assert_type`` fails the check if a stub loses a name or a
type; each ``type: ignore[...]`` must stay an error (mypy's warn_unused_ignores)."""

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from typing_extensions import assert_type

import fastact
from fastact import functions, layers, util

x = np.linspace(-3, 3, 12).reshape(3, 4)

# the lazily built functions: ufuncs where there are no parameters
assert_type(fastact.relu, np.ufunc)
assert_type(fastact.tanh, np.ufunc)
fastact.leaky_relu(x, negative_slope=0.2, out=np.empty_like(x))
fastact.softplus(x, beta=2.0, threshold=10.0)
fastact.gelu(x, approximate="tanh")
fastact.gelu(x, approximate="erf")  # type: ignore[arg-type]
fastact.leaky_relu(x, slope=0.2)  # type: ignore[call-arg]
assert_type(fastact.softmax(x, axis=0), NDArray[np.floating[Any]])

# the family's layers, made from the registry at run time
relu = fastact.Relu(inplace=True)
assert_type(relu.forward(x), NDArray[Any])
assert_type(relu.mask, NDArray[np.bool_] | None)
elu = layers.ELU(alpha=0.5)
assert_type(elu.alpha, float)
assert_type(elu.x, NDArray[Any] | None)
layers.ELU(beta=0.5)  # type: ignore[call-arg]
assert_type(fastact.Tanh().backward(x), NDArray[Any])
assert_type(layers.GELU(approximate="tanh").approximate, Literal["none", "tanh"])
assert_type(layers.layer_for("softplus", beta=2.0), layers.ActivationLayer)

# the book's layers and modules
conv = layers.Convolution(np.zeros((2, 1, 3, 3)), np.zeros(2), stride=1, pad=1)
assert_type(conv.dW, NDArray[Any] | None)
pool = layers.Pooling(2, 2, stride=2)
assert_type(pool.arg_max, NDArray[np.intp] | None)
loss_layer = layers.SoftmaxWithLoss()
loss = loss_layer.forward(x, np.array([0, 1, 2]))
assert_type(loss, np.floating[Any])
assert_type(util.im2col(np.zeros((1, 1, 4, 4)), 2, 2), NDArray[np.float64])
assert_type(functions.step_function(x), NDArray[np.int_])
with fastact.num_threads(1):
    assert_type(fastact.get_num_threads(), int)
assert_type(fastact.__version__, str)
