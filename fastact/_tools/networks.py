"""Whole networks in the book's style, for timing a training step end to end.

Isolated kernels lie about networks: a thread pool that spins after a parallel region steals
the core that BLAS needs for the next matmul, and a layer's output layout changes the next
layer's speed. So the benchmark times whole training steps (forward, loss, backward) of the
book's networks, layer by layer, built from interchangeable sets of layer classes: the
book's own (``fastact.reference``) and fastact's.

A network is a list of ``(name, layer)`` pairs and a last layer, as the book's
``OrderedDict``; ``step`` runs one forward and backward pass and records each layer's time.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from . import warm_up


@dataclass
class Network:
    layers: list  # [(name, layer)] in forward order
    last: object  # SoftmaxWithLoss
    params: dict = field(default_factory=dict)
    #: layers whose forward takes train_flg (Dropout, BatchNormalization)
    train_flag: frozenset = frozenset()

    def step(self, x, t, times=None):
        """One training step; adds each layer's forward and backward seconds to ``times``
        (a dict ``name.forward`` / ``name.backward`` -> list of seconds) when given."""
        clock = time.perf_counter
        for name, layer in self.layers:
            t0 = clock()
            x = layer.forward(x, True) if name in self.train_flag else layer.forward(x)
            _record(times, f"{name}.forward", clock() - t0)
        t0 = clock()
        loss = self.last.forward(x, t)
        dout = self.last.backward(1)
        _record(times, "loss", clock() - t0)
        for name, layer in reversed(self.layers):
            t0 = clock()
            dout = layer.backward(dout)
            _record(times, f"{name}.backward", clock() - t0)
        return loss


def _record(times, key, seconds):
    if times is not None:
        times.setdefault(key, []).append(seconds)


def _weights(rng, dtype, shapes, scale):
    """He-style initial weights: the same values for every engine (one seeded rng)."""
    params = {}
    for key, shape in shapes.items():
        if key.startswith("b"):
            params[key] = np.zeros(shape, dtype)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            params[key] = (rng.standard_normal(shape) * np.sqrt(scale / fan_in)).astype(dtype)
    return params


def two_layer_mlp(L, dtype, rng):
    """Affine 784-50, ReLU, Affine 50-10, SoftmaxWithLoss: the book's TwoLayerNet."""
    p = _weights(rng, dtype, {"W1": (784, 50), "b1": (50,), "W2": (50, 10), "b2": (10,)}, 2.0)
    layers = [("Affine1", L.Affine(p["W1"], p["b1"])), ("Relu1", L.Relu()), ("Affine2", L.Affine(p["W2"], p["b2"]))]
    return Network(layers, L.SoftmaxWithLoss(), p)


def _activation_mlp(L, dtype, rng, sizes, activation, scale):
    """Affine layers of ``sizes`` with the layer class ``L.<activation>`` after each hidden one."""
    shapes = {}
    for i in range(1, len(sizes)):
        shapes[f"W{i}"], shapes[f"b{i}"] = (sizes[i - 1], sizes[i]), (sizes[i],)
    p = _weights(rng, dtype, shapes, scale)
    layers = []
    for i in range(1, len(sizes)):
        layers.append((f"Affine{i}", L.Affine(p[f"W{i}"], p[f"b{i}"])))
        if i < len(sizes) - 1:
            layers.append((f"{activation}{i}", getattr(L, activation)()))
    return Network(layers, L.SoftmaxWithLoss(), p)


def sigmoid_mlp(L, dtype, rng):
    """784-100x4-10 with Sigmoid: the book's MultiLayerNet with activation='sigmoid'."""
    return _activation_mlp(L, dtype, rng, [784, 100, 100, 100, 100, 10], "Sigmoid", 1.0)


def simple_convnet(L, dtype, rng):
    """Conv 30x5x5 - ReLU - Pool 2x2 - Affine 100 - ReLU - Affine 10: the book's SimpleConvNet."""
    p = _weights(
        rng,
        dtype,
        {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (30 * 12 * 12, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)},
        2.0,
    )
    layers = [
        ("Conv1", L.Convolution(p["W1"], p["b1"], 1, 0)),
        ("Relu1", L.Relu()),
        ("Pool1", L.Pooling(2, 2, stride=2)),
        ("Affine1", L.Affine(p["W2"], p["b2"])),
        ("Relu2", L.Relu()),
        ("Affine2", L.Affine(p["W3"], p["b3"])),
    ]
    return Network(layers, L.SoftmaxWithLoss(), p)


def deep_convnet(L, dtype, rng):
    """In the style of the book's chapter 8 DeepConvNet: 3x3 convs with pad 1 (16-16-32-32-64-64
    filters), ReLU after each, 2x2 pooling after each pair, Affine 50, ReLU, Dropout 0.5,
    Affine 10."""
    shapes, channels = {}, [1, 16, 16, 32, 32, 64, 64]
    for i in range(1, 7):
        shapes[f"W{i}"], shapes[f"b{i}"] = (channels[i], channels[i - 1], 3, 3), (channels[i],)
    shapes.update({"W7": (64 * 3 * 3, 50), "b7": (50,), "W8": (50, 10), "b8": (10,)})
    p = _weights(rng, dtype, shapes, 2.0)
    layers = []
    for i in range(1, 7):
        layers += [(f"Conv{i}", L.Convolution(p[f"W{i}"], p[f"b{i}"], 1, 1)), (f"Relu{i}", L.Relu())]
        if i % 2 == 0:
            layers.append((f"Pool{i // 2}", L.Pooling(2, 2, stride=2)))
    layers += [
        ("Affine1", L.Affine(p["W7"], p["b7"])),
        ("Relu7", L.Relu()),
        ("Dropout1", L.Dropout(0.5)),
        ("Affine2", L.Affine(p["W8"], p["b8"])),
    ]
    return Network(layers, L.SoftmaxWithLoss(), p, frozenset({"Dropout1"}))


def batchnorm_mlp(L, dtype, rng):
    """784-100x3-10 with BatchNormalization, ReLU and Dropout 0.5 after each hidden Affine:
    the book's MultiLayerNetExtend(use_batchnorm=True, use_dropout=True)."""
    sizes = [784, 100, 100, 100, 10]
    shapes = {}
    for i in range(1, len(sizes)):
        shapes[f"W{i}"], shapes[f"b{i}"] = (sizes[i - 1], sizes[i]), (sizes[i],)
    p = _weights(rng, dtype, shapes, 2.0)
    layers, flagged = [], set()
    for i in range(1, len(sizes)):
        layers.append((f"Affine{i}", L.Affine(p[f"W{i}"], p[f"b{i}"])))
        if i == len(sizes) - 1:
            break
        p[f"gamma{i}"], p[f"beta{i}"] = np.ones(sizes[i], dtype), np.zeros(sizes[i], dtype)
        layers += [
            (f"BatchNorm{i}", L.BatchNormalization(p[f"gamma{i}"], p[f"beta{i}"])),
            (f"Relu{i}", L.Relu()),
            (f"Dropout{i}", L.Dropout(0.5)),
        ]
        flagged |= {f"BatchNorm{i}", f"Dropout{i}"}
    return Network(layers, L.SoftmaxWithLoss(), p, frozenset(flagged))


def family_mlp(activation):
    """784-512-512-10 with the family activation ``activation`` (a layer name: ``GELU``,
    ``SiLU``) after each hidden Affine: a transformer's feed-forward block in the book's style.
    The seed's layer is the NumPy twin (``fastact.reference``'s formulas), as a reader writes
    it; nothing in the book has these activations."""

    def build(L, dtype, rng):
        return _activation_mlp(L, dtype, rng, [784, 512, 512, 10], activation, 2.0)

    return build


#: The family's activation layers the networks use (their seed: the NumPy twin as a layer).
FAMILY_LAYERS = ("GELU", "SiLU")

#: name -> (builder, input shape of one sample)
NETWORKS = {
    "mlp": (two_layer_mlp, (784,)),
    "sigmoid_mlp": (sigmoid_mlp, (784,)),
    "convnet": (simple_convnet, (1, 28, 28)),
    "deep_convnet": (deep_convnet, (1, 28, 28)),
    "bn_mlp": (batchnorm_mlp, (784,)),
    "gelu_mlp": (family_mlp("GELU"), (784,)),
    "silu_mlp": (family_mlp("SiLU"), (784,)),
}
#: The networks above that are not the book's.
FAMILY_NETWORKS = ("gelu_mlp", "silu_mlp")


def batch(name, dtype, size=100, seed=0):
    """A batch of random inputs in [0, 1) (like MNIST's normalised pixels) and class labels."""
    rng = np.random.default_rng(seed)
    shape = NETWORKS[name][1]
    return rng.random((size, *shape)).astype(dtype), rng.integers(0, 10, size)


def build(name, L, dtype, seed=0):
    return NETWORKS[name][0](L, dtype, np.random.default_rng(seed))


def layer_sets():
    """The sets of layer classes a network can be built from, by engine name:

    - ``seed``: the book's NumPy layers (``fastact.reference``);
    - ``fastact-act``: the book's layers with fastact's activation layers swapped in (what
      changing ``from common.layers import Relu, Sigmoid`` gives);
    - ``fastact``: every layer fastact has (``fastact.layers``), the book's for the rest.
    """
    from types import SimpleNamespace

    from .. import layers, reference
    from ..activations import REGISTRY
    from .bench import TwinLayer

    names = ("Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization", "Convolution", "Pooling")
    seed = SimpleNamespace(**{n: getattr(reference, n) for n in names})
    for spec in REGISTRY.values():
        if spec.layer in FAMILY_LAYERS and not spec.layer_kwargs:
            setattr(seed, spec.layer, lambda spec=spec: TwinLayer(spec))
    swapped = {n: getattr(layers, n) for n in ("Relu", "Sigmoid", *FAMILY_LAYERS)}
    act = SimpleNamespace(**{**vars(seed), **swapped})
    full = SimpleNamespace(**{**{n: getattr(layers, n, getattr(reference, n)) for n in names}, **swapped})
    return {"seed": seed, "fastact-act": act, "fastact": full}


def measure(name, dtype, engines=("seed", "fastact-act", "fastact"), rounds=10, steps=3, seed=0, blas=True):
    """Median seconds per layer call and per whole step, for each engine, on network ``name``.

    Each engine trains its own copy of the network (same initial weights) on the same batch;
    the engines take turns, ``rounds`` times ``steps`` steps each, so that a noisy spell on a
    shared machine falls on all of them alike. Returns {engine: {key: median seconds}} with
    keys ``Layer.forward`` / ``Layer.backward`` / ``loss`` / ``step``, and ``blas`` (the
    step's time inside ``np.dot``, measured apart: ``blas_seconds``; left out with
    ``blas=False``).
    """
    import statistics

    sets = layer_sets()
    x, t = batch(name, dtype, seed=seed)
    nets = {e: build(name, sets[e], dtype, seed) for e in engines}
    times = {e: {} for e in engines}
    # warm-up: compile, load caches, fault in every buffer
    warm_up([lambda net=net: net.step(x, t) for net in nets.values()], times=2)
    for _ in range(rounds):
        for e, net in nets.items():
            for _ in range(steps):
                t0 = time.perf_counter()
                net.step(x, t, times[e])
                times[e].setdefault("step", []).append(time.perf_counter() - t0)
    medians = {e: {k: statistics.median(v) for k, v in rec.items()} for e, rec in times.items()}
    for e, net in nets.items():
        if blas:
            medians[e]["blas"] = blas_seconds(net, x, t, steps=max(3, rounds // 2))
    return medians


def blas_seconds(net, x, t, steps=5):
    """Median seconds per training step that ``net`` spends in BLAS: inside ``np.dot``, and
    inside the dgemm calls fastact's Convolution makes itself (``_core.gemm``: the same product with
    the bias in it).

    The book's Affine and Convolution layers, and fastact's (which keep the same matmuls on
    the same matrices, for the same bits), do their matmuls there; no faster kernel elsewhere
    can take the step below this time, so ``seed step / blas_seconds`` is the ceiling on the
    step's speedup. Measured apart from the timed rounds: the wrappers that time each call are
    installed for these steps only.
    """
    import statistics

    from .._core import gemm

    spent = [0.0]

    def timed(real):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            result = real(*args, **kwargs)
            spent[0] += time.perf_counter() - t0
            return result

        return call

    real_dot, real_gemm = np.dot, gemm._call
    per_step = []
    np.dot, gemm._call = timed(real_dot), timed(real_gemm)
    try:
        for _ in range(steps):
            spent[0] = 0.0
            net.step(x, t)
            per_step.append(spent[0])
    finally:
        np.dot, gemm._call = real_dot, real_gemm
    return statistics.median(per_step)


#: What each network's step must reach, as (engine, minimum speedup of the step over the
#: seed's layers): with fastact's activation layers swapped in, never slower (the ConvNet's
#: ReLUs are ~13% of its step: 1.08x); with every fastact layer, the targets below.
STEP_TARGETS = {
    "mlp": {"fastact-act": 1.0},
    "sigmoid_mlp": {"fastact-act": 1.0},
    "convnet": {"fastact-act": 1.08, "fastact": 4.0},
    "deep_convnet": {"fastact-act": 1.0, "fastact": 3.0},
    "bn_mlp": {"fastact": 1.3},
    "gelu_mlp": {"fastact-act": 1.0},
    "silu_mlp": {"fastact-act": 1.0},
}
#: With only the activations swapped, no other layer may be more than 5% slower...
OTHER_LAYER_MIN = 0.95
#: ...and the conv-size ReLU keeps its isolated advantage inside the ConvNet.
CONV_RELU_MIN = 3.0
ACTIVATION_LAYERS = ("Relu", "Sigmoid", *FAMILY_LAYERS)


def verdicts(name, medians):
    """(what, ratio, target, met) for every target of network ``name`` in ``measure``'s result."""
    seed = medians["seed"]
    out = []
    for engine, want in STEP_TARGETS[name].items():
        if engine in medians:
            ratio = seed["step"] / medians[engine]["step"]
            ceiling = seed["step"] / medians[engine]["blas"] if medians[engine].get("blas") else float("inf")
            out.append((f"step, {engine} (BLAS alone caps it at {ceiling:.1f}x)", ratio, want, ratio >= want))
    act = medians.get("fastact-act")
    if act is not None:
        for key in seed:
            if key in ("step", "loss", "blas"):
                continue
            ratio = seed[key] / act[key]
            if key.startswith(ACTIVATION_LAYERS):
                if name == "convnet" and key.startswith("Relu1"):
                    out.append((f"{key}, fastact-act", ratio, CONV_RELU_MIN, ratio >= CONV_RELU_MIN))
            elif seed[key] > 1e-4:  # layers under 0.1 ms are at the clock's noise
                out.append((f"{key}, fastact-act", ratio, OTHER_LAYER_MIN, ratio >= OTHER_LAYER_MIN))
    return out
