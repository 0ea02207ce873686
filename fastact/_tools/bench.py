"""What is measured, and how: one registry for ``python -m fastact``, its ``bench`` report and
the asv suite in ``benchmarks/``, so they always mean the same thing by "relu forward at 1M".

A case is an op (``relu.forward`` ...), a dtype and a size/layout. For each case the engines
are the ways to do it: ``fastact`` and ``seed`` (the layers as a user calls them), ``torch``
(PyTorch's CPU kernels on the same memory, when importable) and ``copy`` (a parallel copy of the
same bytes into an existing buffer: the bandwidth floor).
"""

import statistics
import time
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from .. import layers, reference
from .._core.kernels import _cached
from ..activations import REGISTRY
from ..testing.torch_ops import torch_op
from . import warm_up

OPS = tuple(f"{name}.{d}" for name in REGISTRY for d in ("forward", "backward"))
DTYPES = ("float32", "float64")
#: name -> (shape, how the array is laid out)
SIZES = {
    "100": ((100,), "contiguous"),
    "book": ((100, 50), "contiguous"),
    "1M": ((1_000_000,), "contiguous"),
    "conv": ((100, 30, 24, 24), "transposed"),
    "10M": ((10_000_000,), "contiguous"),
}


class TwinLayer:
    """The NumPy twin of an activation as a layer: ``reference.<name>`` forward and
    ``reference.<name>_backward``, keeping what the declaration says backward needs (the
    book's own classes where it has them: ``reference.Relu``, ``reference.Sigmoid``)."""

    def __init__(self, spec):
        self.spec = spec
        self.saved = None

    def forward(self, x):
        spec = self.spec
        with np.errstate(all="ignore"):  # a textbook twin may overflow; that is its business
            out = getattr(reference, spec.name)(x, *spec.defaults)
        self.saved = {"mask": None, "output": out, "input": x}[spec.saves]
        if spec.saves == "mask":
            self.saved = x <= 0
        return out

    def backward(self, dout):
        return getattr(reference, f"{self.spec.name}_backward")(dout, self.saved, *self.spec.defaults)


def layer_classes(name):
    """(fastact's layer class, a zero-argument maker of the twin layer) for activation ``name``."""
    spec = REGISTRY[name]
    twin = getattr(reference, spec.layer, None) if not spec.layer_kwargs else None
    return (lambda: layers.layer_for(name)), (twin if twin is not None else lambda: TwinLayer(spec))


@dataclass(frozen=True)
class Case:
    op: str
    dtype: str
    size: str

    @property
    def layer(self):
        return self.op.split(".")[0]

    @property
    def direction(self):
        return self.op.split(".")[1]

    @property
    def shape(self):
        return SIZES[self.size][0]

    @property
    def n(self):
        return int(np.prod(self.shape))

    @property
    def bytes_moved(self):
        """Bytes a single pass must read and write: the bandwidth floor. Forward reads x and
        writes out (and a 1-byte mask); backward reads dout and what forward saved, and
        writes dx (into dout itself for Relu)."""
        s = np.dtype(self.dtype).itemsize
        saved = 1 if REGISTRY[self.layer].saves == "mask" else s
        per_element = 2 * s + (saved if self.direction == "backward" else saved % s)
        return per_element * self.n

    def __str__(self):
        return f"{self.op} {self.dtype} {self.size}"


def cases(ops=OPS, dtypes=DTYPES, sizes=tuple(SIZES)):
    return [Case(op, dt, size) for op in ops for dt in dtypes for size in sizes]


def make_input(case, seed=0):
    """x for the case, in its layout: the conv case is the book's transposed view."""
    rng = np.random.default_rng(seed)
    shape, layout = SIZES[case.size]
    if layout == "transposed":  # reshape(N, H, W, C).transpose(0, 3, 1, 2), as im2col leaves it
        n, c, h, w = shape
        return rng.standard_normal((n, h, w, c)).astype(case.dtype).transpose(0, 3, 1, 2)
    return rng.standard_normal(shape).astype(case.dtype)


ENGINES = ("fastact", "seed", "torch", "copy")


def engines(case, names=ENGINES):
    """name -> zero-argument callable doing the case's work once, ready to time (warmed up).
    torch is left out when it is not installed."""
    x = make_input(case)
    dout = make_input(case, seed=1)
    made = {}
    for name, cls in zip(("fastact", "seed"), layer_classes(case.layer)):
        if name not in names:
            continue
        layer = cls()
        if case.direction == "forward":
            made[name] = lambda layer=layer: layer.forward(x)
        else:
            layer.forward(x)
            d = dout.copy()  # Relu.backward writes into dout; each engine gets its own
            made[name] = lambda layer=layer, d=d: layer.backward(d)
    torch_call = _torch_engine(case, x, dout) if "torch" in names else None
    if torch_call is not None:
        made["torch"] = torch_call
    if "copy" in names:
        made["copy"] = _copy_engine(x)
    warm_up(made.values())
    return made


def _copy_engine(x):
    src = np.ascontiguousarray(x).reshape(-1)
    dst = np.empty_like(src)
    return lambda: _copy(src, dst)


def _copy_loop(src, dst):
    for i in prange(src.shape[0]):
        dst[i] = src[i]


#: compiled on first use, and uncached where nothing is writable (``_cached``): decorating with
#: cache=True at import made ``python -m fastact`` fail on a read-only install
_parallel_copy = None


def _copy(src, dst):
    global _parallel_copy
    if _parallel_copy is None:
        _parallel_copy = _cached(njit, _copy_loop, parallel=True)
    _parallel_copy(src, dst)


def torch_module():
    """PyTorch limited to 2 threads like numba here, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


def _torch_engine(case, x, dout):
    torch = torch_module()
    if torch is None:
        return None
    forward, backward = torch_op(REGISTRY[case.layer])
    tx, td = torch.from_numpy(x), torch.from_numpy(dout.copy())
    if case.direction == "forward":
        return lambda: forward(tx)
    y = forward(tx)
    return lambda: backward(td, tx, y)


def _batch(call):
    """Calls per timed sample: tiny calls are batched so the clock's resolution is not timed."""
    call()
    start = time.perf_counter()
    call()
    return max(1, int(2e-4 / max(time.perf_counter() - start, 1e-7)))


def _sample(call, inner):
    t0 = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - t0) / inner


def measure(case, budget=0.25, engine_names=ENGINES, rounds=10):
    """Median seconds per call of each engine for ``case``, measured side by side: the engines
    take turns, ``rounds`` times ``budget / rounds`` seconds each, so that a noisy spell on a
    shared machine falls on all of them alike rather than on whichever ran then."""
    calls = engines(case, engine_names)
    return dict(zip(calls, interleaved(list(calls.values()), budget, rounds)))


def interleaved(calls, budget=0.25, rounds=10):
    """Median seconds per call of each of ``calls``, taking turns (see ``measure``)."""
    inner = [_batch(call) for call in calls]
    samples = [[] for _ in calls]
    for _ in range(rounds):
        for call, n, times in zip(calls, inner, samples):
            deadline = time.perf_counter() + budget / rounds
            times.append(_sample(call, n))
            while time.perf_counter() < deadline:
                times.append(_sample(call, n))
    return [statistics.median(times) for times in samples]
