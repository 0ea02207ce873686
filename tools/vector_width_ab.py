"""512-bit against LLVM's default vector width, per registry formula, on this machine.

    python tools/vector_width_ab.py [names]
    python tools/vector_width_ab.py relu sigmoid tanh silu gelu

Each formula's forward in a ``prange`` loop over 1M elements, built twice: with fastact's
request for 512-bit vectors (``kernels.wide_vectors``) and without it (LLVM's tuning for the
CPU: 256-bit on Intel's AVX-512 cores, ``rocketlake`` and ``skylake-avx512`` included). Both
builds take turns, serial (one core) and parallel; prints medians and the default build's
time over the 512 build's, with the zmm/ymm register mentions counted in the serial builds'
assembly. How the width was chosen (docs/performance.md, "On the Intel kind").
"""

import sys
import time

import numpy as np
from numba import njit, prange

from fastact._core.kernels import wide_vectors
from fastact.activations import REGISTRY


def build(f, wide, parallel, params):
    if wide:

        def loop(x, o):
            for i in prange(x.shape[0]):
                wide_vectors()
                o[i] = f(x[i], *params)

    else:

        def loop(x, o):
            for i in prange(x.shape[0]):
                o[i] = f(x[i], *params)

    return njit(parallel=parallel, error_model="numpy")(loop)


def median_us(loop, x, o, calls=20):
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        loop(x, o)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def main(names):
    for name in names:
        spec = REGISTRY[name]
        for dt in ("float32", "float64"):
            params = tuple(np.dtype(dt).type(v) for v in spec.defaults)
            x = np.random.default_rng(0).uniform(-6, 6, 1 << 20).astype(dt)
            o = np.empty_like(x)
            for parallel in (False, True):
                loops = {wide: build(spec.forward, wide, parallel, params) for wide in (True, False)}
                for loop in loops.values():
                    loop(x, o)
                runs = {wide: [median_us(loop, x, o) for _ in range(5)] for wide, loop in loops.items()}
                wide, default = np.median(runs[True]), np.median(runs[False])
                path = "parallel" if parallel else "serial  "
                line = f"{name:12s} {dt} {path} 512: {wide:7.0f} us  default: {default:7.0f} us"
                line += f"  default/512 {default / wide:.2f}"
                if not parallel:
                    asm = [loops[w].inspect_asm(loops[w].signatures[0]) for w in (True, False)]
                    zmm, ymm = ([a.count(r) for a in asm] for r in ("zmm", "ymm"))
                    line += f"  zmm {zmm[0]}/{zmm[1]}, ymm {ymm[0]}/{ymm[1]}"
                print(line, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["relu", "sigmoid", "tanh", "silu", "gelu"])
