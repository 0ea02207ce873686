"""Backpropagation through Affine -> activation -> Affine, as the book's networks use it."""

import numpy as np
import pytest

import fastact
from fastact import reference
from fastact.testing.gradients import numerical_gradient


class Affine:  # the book's Affine layer
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


def loss_and_grads(activation, params, x, t):
    """Squared error of Affine -> activation -> Affine, and its gradients by backprop."""
    a1, act, a2 = Affine(params["W1"], params["b1"]), activation(), Affine(params["W2"], params["b2"])
    y = a2.forward(act.forward(a1.forward(x)))
    loss = 0.5 * np.sum((y - t) ** 2)
    a1.backward(act.backward(a2.backward(y - t)))
    return loss, {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db}


@pytest.mark.parametrize("name", ["relu", "sigmoid"])
def test_backprop_matches_numerical_gradient(name, rng):
    activation = {"relu": fastact.Relu, "sigmoid": fastact.Sigmoid}[name]
    params = {
        "W1": rng.standard_normal((4, 50)) * 0.5,
        "b1": rng.standard_normal(50) * 0.1,
        "W2": rng.standard_normal((50, 3)) * 0.5,
        "b2": rng.standard_normal(3) * 0.1,
    }
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 3))
    _, grads = loss_and_grads(activation, params, x, t)
    for key, p in params.items():
        numeric = numerical_gradient(lambda: loss_and_grads(activation, params, x, t)[0], p, h=1e-5)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-7, err_msg=key)


def test_relu_network_gradients_equal_the_seeds_bit_for_bit(rng):
    params = {
        "W1": rng.standard_normal((784, 50)) * 0.01,
        "b1": np.zeros(50),
        "W2": rng.standard_normal((50, 10)) * 0.01,
        "b2": np.zeros(10),
    }
    x, t = rng.standard_normal((100, 784)), rng.standard_normal((100, 10))
    loss, grads = loss_and_grads(fastact.Relu, params, x, t)
    seed_loss, seed_grads = loss_and_grads(reference.Relu, params, x, t)
    assert loss == seed_loss
    for key in grads:
        np.testing.assert_array_equal(grads[key], seed_grads[key], err_msg=key)
