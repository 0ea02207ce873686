"""Rough side-by-side timings of fastact's row kernels (softmax, log_softmax, their backward
passes, SoftmaxWithLoss) against the book's NumPy expressions and PyTorch (2 threads).

    OMP_WAIT_POLICY=passive PYTHONPATH=. python benchmarks/rows.py [--big]

Each round times every engine once, in turn (so a noisy spell falls on all of them alike);
the medians over the rounds are printed, in microseconds, with the ratios. --big adds the
(4096, 50257) float32 log_softmax (0.8 GB per array). Without OMP_WAIT_POLICY=passive the
OpenMP threads of PyTorch and of numba spin after each call and, on 2 cores, slow down
whichever engine runs next (PyTorch's times then come out 2-5x longer).
"""

import statistics
import sys
import time

import numpy as np

from fastact import reference
from fastact._softmax import log_softmax, softmax
from fastact.losses import LogSoftmax, Softmax, SoftmaxWithLoss


def bench(engines, rounds, number):
    times = {name: [] for name in engines}
    for f in engines.values():
        f()  # warm up (compile, load the cache)
    for _ in range(rounds):
        for name, f in engines.items():
            t = time.perf_counter()
            for _ in range(number):
                f()
            times[name].append((time.perf_counter() - t) / number * 1e6)
    return {name: statistics.median(v) for name, v in times.items()}


def report(title, medians, ours="fastact"):
    base = medians[ours]
    parts = [f"{name} {us:9.1f} us ({us / base:5.2f}x)" for name, us in medians.items()]
    print(f"{title:44s} " + " | ".join(parts), flush=True)


def numpy_log_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def main():
    import torch

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)

    # the book's SoftmaxWithLoss at (100, 10)
    x = rng.standard_normal((100, 10))
    t = rng.integers(0, 10, 100)
    ours, book = SoftmaxWithLoss(), reference.SoftmaxWithLoss()
    report(
        "SoftmaxWithLoss (100, 10) f64 fwd+bwd",
        bench(
            {
                "fastact": lambda: (ours.forward(x, t), ours.backward()),
                "book": lambda: (book.forward(x, t), book.backward()),
            },
            rounds=15,
            number=200,
        ),
    )

    shapes = [
        ((3072, 256), np.float32),
        ((3072, 256), np.float64),
        ((100, 1000), np.float32),
        ((100, 1000), np.float64),
    ]
    if "--big" in sys.argv:
        shapes.append(((4096, 50257), np.float32))
    for shape, dtype in shapes:
        bench_rows(shape, dtype, rng)


def bench_rows(shape, dtype, rng):
    import torch

    aten = torch.ops.aten
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    d = rng.standard_normal(shape).astype(dtype)
    tx, td = torch.from_numpy(x), torch.from_numpy(d)
    big = x.size > 10**7
    rounds, number = (3, 1) if big else (11, 5 if x.size > 10**5 else 50)
    name = f"{shape} {np.dtype(dtype).name}"
    sm, lsm = Softmax(), LogSoftmax()
    y, ly = sm.forward(x), lsm.forward(x)
    ty, tly = torch.from_numpy(y), torch.from_numpy(ly)
    if not big:
        report(
            f"softmax {name}",
            bench(
                {
                    "fastact": lambda: softmax(x),
                    "numpy": lambda: reference.softmax(x),
                    "torch": lambda: torch.softmax(tx, -1),
                },
                rounds,
                number,
            ),
        )
        report(
            f"softmax backward {name}",
            bench(
                {
                    "fastact": lambda: sm.backward(d),
                    "numpy": lambda: (y * d) - y * np.sum(y * d, axis=-1, keepdims=True),
                    "torch": lambda: aten._softmax_backward_data(td, ty, -1, ty.dtype),
                },
                rounds,
                number,
            ),
        )
    engines = {"fastact": lambda: log_softmax(x), "torch": lambda: torch.log_softmax(tx, -1)}
    if not big:
        engines["numpy"] = lambda: numpy_log_softmax(x)
    report(f"log_softmax {name}", bench(engines, rounds, number))
    report(
        f"log_softmax backward {name}",
        bench(
            {
                "fastact": lambda: lsm.backward(d),
                "torch": lambda: aten._log_softmax_backward_data(td, tly, -1, tly.dtype),
            },
            rounds,
            number,
        ),
    )


if __name__ == "__main__":
    main()
