"""Accuracy (and, with --speed, rough speed) of the activation family's element formulas.

For each function, forward and backward, and each dtype: the max error in ULP against mpmath
(40 digits) on one fixed sample, for fastact's formula (fastact._core.formulas through a ufunc),
the NumPy twin (fastact.reference) and PyTorch (if importable). Backward functions get a
random dout in [0.5, 2]; "max" is over all inputs, "clean" only over inputs where the
derivative's terms cancel by less than a factor 2 (away from its root, where any formula that
rounds its terms loses relative precision). Errors: |result - truth| / ULP(truth); a NaN or
infinity where the truth is finite counts as inf.

    python benchmarks/accuracy_family.py [--n 3000] [--speed]

--speed times 1M-element loops (median of interleaved runs, --threads 2 by default):
fastact's formula in a parallel prange loop (as fastact's kernels: 512-bit vectors allowed),
the NumPy twin, and PyTorch's forward op or backward op from the input. Rough numbers on a
shared machine: under contention an OpenMP region can take milliseconds whatever its work,
and --threads 1 gives the steadier per-element cost.
"""

import argparse
import math
import sys
import time
import warnings

import numba
import numpy as np
from numba import prange

import fastact._core.formulas as F
from fastact import reference as ref
from fastact.activations import REGISTRY
from fastact.testing.ir import as_ufunc
from fastact.testing.torch_ops import torch_op
from fastact.testing.truths import ROOTS, truth
from fastact.testing.ulp import ulp_error

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

PARAMS = {"leaky_relu": (0.01,), "elu": (1.0,), "softplus": (1.0, 20.0)}
NAMES = [
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "gelu_tanh",
    "silu",
    "tanh",
    "softplus",
    "mish",
    "hardswish",
    "hardsigmoid",
    "log_sigmoid",
]


def inputs(name, n, rng):
    x = [
        rng.choice([-1.0, 1.0], n) * rng.random(n) * 10.0 ** rng.uniform(-12, 3, n),
        rng.uniform(-12, 12, n),
        rng.uniform(-1, 1, n // 2),
        rng.uniform(-40, -5, n // 4),
        rng.uniform(-760, -700, n // 8),
        rng.uniform(-4, 4, n // 2),
    ]
    if name in ROOTS:
        r = ROOTS[name]
        x.append(r + r * rng.uniform(-1e-3, 1e-3, n // 4))
    return np.concatenate(x)


def nargs(name, direction):
    return len(PARAMS.get(name, ())) + (1 if direction == "forward" else 2)


def fast_ufunc(name, direction):
    f = getattr(F, name if direction == "forward" else f"{name}_backward")
    return as_ufunc(f, nargs(name, direction))


def twin(name, direction, x, dout):
    p = PARAMS.get(name, ())
    with np.errstate(all="ignore"):
        if direction == "forward":
            return getattr(ref, name)(x, *p)
        return getattr(ref, f"{name}_backward")(dout, x, *p)


def torch_result(name, direction, x, dout):
    if direction == "backward" and name == "tanh":
        return torch.ops.aten.tanh_backward(torch.from_numpy(dout), torch.from_numpy(x)).numpy()
    t = torch.from_numpy(x.copy()).requires_grad_(direction == "backward")
    y = torch_op(REGISTRY[name])[0](t)
    if direction == "forward":
        return y.detach().numpy()
    y.backward(torch.from_numpy(dout.copy()))
    return t.grad.numpy()


def accuracy(n):
    rng = np.random.default_rng(2026)
    engines = ["fastact", "twin"] + (["torch"] if torch is not None else [])
    print(f"max error in ULP vs mpmath; {n}-ish points per sample; clean = where the terms cancel by < 2x")
    print(f"{'function':24s} {'dtype':8s} " + " ".join(f"{e + ' max':>12s} {e + ' clean':>12s}" for e in engines))
    for name in NAMES:
        for direction in ("forward", "backward"):
            label = name if direction == "forward" else f"{name}_backward"
            for dtype in (np.float32, np.float64):
                x = inputs(name, n, rng)
                if name == "tanh" and direction == "backward":
                    x = np.tanh(x)  # saved is the forward output
                x = x.astype(dtype)
                x = x[np.isfinite(x)]
                dout = np.ones_like(x) if direction == "forward" else rng.uniform(0.5, 2, x.size).astype(dtype)
                t, size = truth(name, direction, x, dout)
                clean = size <= 2 * np.abs(t)
                row = []
                for engine in engines:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        if engine == "fastact":
                            u = fast_ufunc(name, direction)
                            p = [dtype(v) for v in PARAMS.get(name, ())]
                            y = u(x, *p) if direction == "forward" else u(dout, x, *p)
                        elif engine == "twin":
                            y = twin(name, direction, x, dout)
                        else:
                            y = torch_result(name, direction, x, dout)
                    err = ulp_error(np.asarray(y).astype(dtype), t, dtype)
                    row.append(f"{fmt(err.max()):>12s} {fmt(err[clean].max()):>12s}")
                print(f"{label:24s} {np.dtype(dtype).name:8s} " + " ".join(row), flush=True)


def fmt(v):
    return "inf" if not np.isfinite(v) else (f"{v:.3g}" if v < 1e4 else f"{v:.2e}")


def speed(threads=2, n=1_000_000, rounds=15, only=None):
    from fastact._core.kernels import wide_vectors

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if torch is not None:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(7)

    def loop_for(f, k):
        # As fastact's kernels: a prange loop with 512-bit vectors allowed.
        def l1(a, out):
            for i in prange(out.shape[0]):
                wide_vectors()
                out[i] = f(a[i])

        def l2(a, b, out):
            for i in prange(out.shape[0]):
                wide_vectors()
                out[i] = f(a[i], b[i])

        return numba.njit(parallel=True, error_model="numpy", nogil=True)({1: l1, 2: l2}[k])

    print(
        f"\nmedian ms per call, {n} elements, {threads} thread(s) (rough: shared machine); "
        "speedup = twin / fastact and torch / fastact"
    )
    print(f"{'function':24s} {'dtype':8s} {'fastact':>9s} {'twin':>9s} {'torch':>9s} {'x twin':>7s} {'x torch':>7s}")
    for name in only or NAMES:
        for direction in ("forward", "backward"):
            label = name if direction == "forward" else f"{name}_backward"
            f = getattr(F, label)
            k = 1 if direction == "forward" else 2
            p = PARAMS.get(name, ())
            if p:  # the parameters stay run-time values; bind the defaults for timing
                g = f
                if direction == "forward":
                    f = numba.njit(inline="always")(
                        (lambda a: g(a, 0.01))
                        if name == "leaky_relu"
                        else (lambda a: g(a, 1.0))
                        if name == "elu"
                        else (lambda a: g(a, 1.0, 20.0))
                    )
                else:
                    f = numba.njit(inline="always")(
                        (lambda d, a: g(d, a, 0.01))
                        if name == "leaky_relu"
                        else (lambda d, a: g(d, a, 1.0))
                        if name == "elu"
                        else (lambda d, a: g(d, a, 1.0, 20.0))
                    )
            loop = loop_for(f, k)
            for dtype in (np.float32, np.float64):
                x = (rng.standard_normal(n) * 3).astype(dtype)
                if name == "tanh" and direction == "backward":
                    x = np.tanh(x)
                d = rng.standard_normal(n).astype(dtype)
                out = np.empty_like(x)
                args = (x,) if k == 1 else (d, x)
                loop(*args, out)
                tx = torch.from_numpy(x) if torch is not None else None
                td = torch.from_numpy(d) if torch is not None else None
                engines = {
                    "fastact": lambda: loop(*args, out),
                    "twin": lambda: twin(name, direction, x, d),
                }
                if torch is not None:
                    engines["torch"] = torch_engine(name, direction, tx, td)
                times = {e: [] for e in engines}
                for _ in range(rounds):
                    for e, fn in engines.items():
                        t0 = time.perf_counter()
                        fn()
                        times[e].append(time.perf_counter() - t0)
                med = {e: 1e3 * float(np.median(v)) for e, v in times.items()}
                tt = med.get("torch", math.nan)
                print(
                    f"{label:24s} {np.dtype(dtype).name:8s} {med['fastact']:9.3f} "
                    f"{med['twin']:9.3f} {tt:9.3f} {med['twin'] / med['fastact']:7.1f} "
                    f"{tt / med['fastact']:7.2f}",
                    flush=True,
                )


def torch_engine(name, direction, tx, td):
    """One PyTorch forward, or the backward op autograd would run, ready to time."""
    forward, backward = torch_op(REGISTRY[name])
    if direction == "forward":
        return lambda: forward(tx)
    y = forward(tx)
    return lambda: backward(td, tx, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="base sample size per function")
    parser.add_argument("--speed", action="store_true", help="also time 1M-element loops")
    parser.add_argument("--only-speed", action="store_true", help="skip the accuracy table")
    parser.add_argument("--threads", type=int, default=2, help="threads for the timings")
    parser.add_argument("--functions", nargs="*", help="time only these")
    args = parser.parse_args(argv)
    if not args.only_speed:
        accuracy(args.n)
    if args.speed or args.only_speed:
        speed(args.threads, only=args.functions)


if __name__ == "__main__":
    sys.exit(main())
