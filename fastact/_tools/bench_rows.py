"""The row ops (softmax, log-softmax, their backward passes, SoftmaxWithLoss) for ``python -m
fastact bench --section rows`` and the asv suite: one registry of what is timed against what.

Each op has three engines: ``fastact`` (as a user calls it), ``numpy`` (the book's expression, or
the book's layer: ``fastact.reference``) and ``torch`` (PyTorch's CPU op on the same memory, when
importable). Each case is an op at one of the shapes below (the book's batch, GPT-2's
vocabulary...), with its targets: at least 3x the NumPy expression and, where PyTorch has the op, at least 1x PyTorch.
"""

from dataclasses import dataclass

import numpy as np

from .. import reference
from .._core.softmax import log_softmax, softmax
from ..layers import LogSoftmax, Softmax, SoftmaxWithLoss
from . import warm_up
from .bench import interleaved, torch_module

#: name -> the shapes it is measured at (rows, n). (4096, 50257) float32 is a GPT-2 vocabulary
#: at 0.8 GB an array: the quick report takes 256 of its rows.
SHAPES = {
    "book": (100, 10),
    "attention": (3072, 256),
    "wide": (100, 1000),
    "vocabulary": (4096, 50257),
}
QUICK_ROWS = {"vocabulary": 256}


def _forward(ours, numpy, torch_op):
    def make(x, d, t, torch):
        made = {"fastact": lambda: ours(x), "numpy": lambda: numpy(x)}
        if torch is not None:
            tx = torch.from_numpy(x)
            made["torch"] = lambda: torch_op(torch)(tx, -1)
        return made

    return make


def _backward(layer, numpy, aten_name):
    def make(x, d, t, torch):
        ours = layer()
        y = ours.forward(x)
        made = {"fastact": lambda: ours.backward(d), "numpy": lambda: numpy(y, d)}
        if torch is not None:
            ty, td = torch.from_numpy(y), torch.from_numpy(d)
            op = getattr(torch.ops.aten, aten_name)
            made["torch"] = lambda: op(td, ty, -1, ty.dtype)
        return made

    return make


def _softmax_with_loss(x, d, t, torch):
    ours, book = SoftmaxWithLoss(), reference.SoftmaxWithLoss()
    made = {
        "fastact": lambda: (ours.forward(x, t), ours.backward()),
        "numpy": lambda: (book.forward(x, t), book.backward()),
    }
    if torch is not None:
        tx, tt = torch.from_numpy(x), torch.from_numpy(t)

        def step():
            xg = tx.detach().requires_grad_()
            torch.nn.functional.cross_entropy(xg, tt).backward()

        made["torch"] = step
    return made


#: op -> (engines maker, the shapes and dtypes it is measured at)
OPS = {
    "softmax": (
        _forward(softmax, reference.softmax, lambda torch: torch.softmax),
        [("attention", "float32"), ("attention", "float64"), ("wide", "float32"), ("wide", "float64")],
    ),
    "softmax.backward": (
        _backward(Softmax, reference.softmax_backward, "_softmax_backward_data"),
        [("attention", "float32"), ("attention", "float64"), ("wide", "float32"), ("wide", "float64")],
    ),
    "log_softmax": (
        _forward(log_softmax, reference.log_softmax, lambda torch: torch.log_softmax),
        [("attention", "float32"), ("wide", "float32"), ("vocabulary", "float32")],
    ),
    "log_softmax.backward": (
        _backward(LogSoftmax, reference.log_softmax_backward, "_log_softmax_backward_data"),
        [("attention", "float32"), ("vocabulary", "float32")],
    ),
    "softmax_with_loss": (_softmax_with_loss, [("book", "float64"), ("book", "float32")]),
}


@dataclass(frozen=True)
class Case:
    op: str
    shape_name: str
    dtype: str

    def shape(self, quick=False):
        rows, n = SHAPES[self.shape_name]
        return (QUICK_ROWS.get(self.shape_name, rows) if quick else rows), n

    def __str__(self):
        return f"{self.op} {self.shape_name} {self.dtype}"


CASES = [Case(op, shape, dtype) for op, (_, at) in OPS.items() for shape, dtype in at]


def engines(case, quick=False, with_torch=True, max_rows=None):
    """name -> zero-argument callable, warmed up (inputs as the bench's: N(0, 9) logits; at
    most ``max_rows`` rows where given)."""
    rng = np.random.default_rng(0)
    rows, n = case.shape(quick)
    shape = (min(rows, max_rows or rows), n)
    x = (rng.standard_normal(shape) * 3).astype(case.dtype)
    d = rng.standard_normal(shape).astype(case.dtype)
    t = rng.integers(0, shape[1], shape[0])
    made = OPS[case.op][0](x, d, t, torch_module() if with_torch else None)
    warm_up(made.values())
    return made


#: The targets: at least this many times the NumPy expression, and at least PyTorch.
NUMPY_TARGET = 3.0


def verdict(times):
    misses = []
    if times["numpy"] / times["fastact"] < NUMPY_TARGET:
        misses.append(f"<{NUMPY_TARGET:g}x numpy")
    if "torch" in times and times["torch"] < times["fastact"]:
        misses.append("slower than torch")
    return "MET" if not misses else "MISSED " + ", ".join(misses)


def report(quick=False):
    """Print the table; return (targets met, cases)."""
    print("Row ops: median µs per call, side by side in one process; speedup = other / fastact.")
    if quick:
        print(f"(--quick: vocabulary takes {QUICK_ROWS['vocabulary']} of its rows)")
    header = f"{'op':<21}{'shape':<14}{'dtype':<9}{'fastact':>10}{'numpy':>11}{'torch':>10}"
    header += f"{'vs numpy':>9}{'vs torch':>9}"
    print(header + "  target")
    print("-" * (len(header) + 8))
    met = 0
    for case in CASES:
        calls = engines(case, quick)
        big = case.shape_name == "vocabulary" and not quick
        medians = dict(zip(calls, interleaved(list(calls.values()), 2.0 if big else 0.3, 3 if big else 10)))
        torch_t = medians.get("torch", float("nan"))
        us = {k: v * 1e6 for k, v in medians.items()}
        v = verdict(medians)
        met += v == "MET"
        print(
            f"{case.op:<21}{str(case.shape(quick)):<14}{case.dtype:<9}{us['fastact']:>10.1f}{us['numpy']:>11.1f}"
            f"{torch_t * 1e6:>10.1f}{medians['numpy'] / medians['fastact']:>8.2f}x"
            f"{torch_t / medians['fastact']:>8.2f}x  {v}",
            flush=True,
        )
    print(f"\nrow ops: {met} of {len(CASES)} cases meet their targets")
    return met, len(CASES)
