"""The seed's NumPy layers, exactly as *Deep Learning from Scratch* writes them.

This is the yardstick: tests compare fastact against these twins and benchmarks time them side
by side. Nothing here is optimised or corrected on purpose; fastact's improvements over it are
listed in the README (no overflow warning, unsigned input, clear errors).
"""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0

        return out

    def backward(self, dout):
        dout[self.mask] = 0
        dx = dout

        return dx


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        out = sigmoid(x)
        self.out = out
        return out

    def backward(self, dout):
        dx = dout * (1.0 - self.out) * self.out

        return dx
