"""Rough timings of the book's ConvNets, fastact's window layers against the NumPy twins.

    PYTHONPATH=. python benchmarks/book_layers.py [--rounds 15] [--dtype float64]

One process; the networks take turns round after round (a noisy spell falls on all alike);
medians of a whole training step (forward, loss, backward, SGD update) and per layer.
The simple ConvNet: conv 30x5x5 on 1x28x28, ReLU, pool 2x2/2, Affine 100, ReLU, Affine 10,
SoftmaxWithLoss. The deep one: 3x3 convs pad 1 with 16-16-32-32-64-64 filters, pooling
after each pair, Affine 50, ReLU, Dropout 0.5, Affine 10. Batch 100.
"""

import argparse
import time
from collections import defaultdict

import numpy as np

from fastact import book_layers as fast
from fastact import reference as twin

try:
    from fastact.layers import Relu as FastRelu
except ImportError:  # pragma: no cover
    FastRelu = twin.Relu


def simple_convnet(lib, relu, dtype, rng):
    p = {"W1": 0.01 * rng.standard_normal((30, 1, 5, 5)), "b1": np.zeros(30),
         "W2": 0.01 * rng.standard_normal((30 * 12 * 12, 100)), "b2": np.zeros(100),
         "W3": 0.01 * rng.standard_normal((100, 10)), "b3": np.zeros(10)}
    p = {k: v.astype(dtype) for k, v in p.items()}
    layers = [("Conv1", lib.Convolution(p["W1"], p["b1"])), ("Relu1", relu()),
              ("Pool1", lib.Pooling(2, 2, stride=2)), ("Affine1", lib.Affine(p["W2"], p["b2"])),
              ("Relu2", relu()), ("Affine2", lib.Affine(p["W3"], p["b3"]))]
    return layers, p


def deep_convnet(lib, relu, dtype, rng):
    p, layers, c, size = {}, [], 1, 28
    for i, fn in enumerate([16, 16, 32, 32, 64, 64]):
        w, b = np.sqrt(2.0 / (c * 9)) * rng.standard_normal((fn, c, 3, 3)), np.zeros(fn)
        p[f"W{i}"], p[f"b{i}"] = w.astype(dtype), b.astype(dtype)
        layers += [(f"Conv{i}", lib.Convolution(p[f"W{i}"], p[f"b{i}"], 1, 1)), (f"Relu{i}", relu())]
        if i % 2:
            layers.append((f"Pool{i}", lib.Pooling(2, 2, stride=2)))
            size //= 2
        c = fn
    p["Wa"] = (np.sqrt(2.0 / (c * size * size)) * rng.standard_normal((c * size * size, 50))).astype(dtype)
    p["ba"] = np.zeros(50, dtype)
    p["Wb"] = (np.sqrt(2.0 / 50) * rng.standard_normal((50, 10))).astype(dtype)
    p["bb"] = np.zeros(10, dtype)
    layers += [("AffineA", lib.Affine(p["Wa"], p["ba"])), ("ReluA", relu()),
               ("Dropout", lib.Dropout(0.5)), ("AffineB", lib.Affine(p["Wb"], p["bb"]))]
    return layers, p


def step(layers, last, x, t, p, times):
    for name, layer in layers:
        t0 = time.perf_counter()
        x = layer.forward(x)
        times[name + ".forward"].append(time.perf_counter() - t0)
    loss = last.forward(x, t)
    dout = last.backward()
    for name, layer in reversed(layers):
        t0 = time.perf_counter()
        dout = layer.backward(dout)
        times[name + ".backward"].append(time.perf_counter() - t0)
    for name, layer in layers:  # SGD, in place as the book's optimizers
        if hasattr(layer, "dW"):
            layer.W -= 0.01 * layer.dW
            layer.b -= 0.01 * layer.db
    return loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--net", default="simple", choices=["simple", "deep"])
    args = ap.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 28, 28)).astype(dtype)
    t = rng.integers(0, 10, 100)
    build = simple_convnet if args.net == "simple" else deep_convnet
    engines = {"twin": (twin, twin.Relu), "fast+twinRelu": (fast, twin.Relu),
               "fast+fastRelu": (fast, FastRelu)}
    nets = {k: build(lib, relu, dtype, np.random.default_rng(1)) for k, (lib, relu) in engines.items()}
    totals = {k: [] for k in engines}
    per_layer = {k: defaultdict(list) for k in engines}
    for r in range(args.rounds + 2):
        for k, (layers, p) in nets.items():
            times = defaultdict(list)
            t0 = time.perf_counter()
            step(layers, twin.SoftmaxWithLoss(), x, t, p, times)
            if r >= 2:  # two warm-up rounds: compilation, first-touch
                totals[k].append(time.perf_counter() - t0)
                for name, v in times.items():
                    per_layer[k][name] += v
    med = {k: np.median(v) * 1e3 for k, v in totals.items()}
    print(f"{args.net} ConvNet, {dtype}, batch 100, {args.rounds} rounds: step medians (ms)")
    for k in engines:
        print(f"  {k:15s} {med[k]:8.2f}   x{med['twin'] / med[k]:.2f}")
    print("per layer (ms): " + "  ".join(f"{k:>14s}" for k in engines))
    for name in per_layer["twin"]:
        print(f"  {name:18s}" + "  ".join(f"{np.median(per_layer[k][name]) * 1e3:14.2f}" for k in engines))


if __name__ == "__main__":
    main()
