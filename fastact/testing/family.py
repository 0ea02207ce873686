"""What the activation family's formulas promise at special values, for every test of them."""

#: -0.0 -> -0.0: odd functions and those that pass x through at 0.
KEEPS_NEGATIVE_ZERO = ["leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "tanh", "mish", "hardswish"]
