"""Whole training steps against the length of OpenBLAS's idle spin, in one process.

    python tools/openblas_spin_ab.py [networks] [exponents] [rounds]
    python tools/openblas_spin_ab.py convnet,deep_convnet,bn_mlp 20,22,24 8

Each round runs the book's layers (the seed) with OpenBLAS's default spin (2**28 cycles),
then every fastact network once per exponent, switching OpenBLAS's spin between them the way
``fastact._core.openblas`` does (re-read the environment, stop the workers); prints the seed's
median step over fastact's, per exponent. How ``_openblas.SPIN_EXPONENT`` was chosen
(Linux, NumPy with OpenBLAS).
"""

import statistics
import sys
import time

from fastact._core import openblas as _openblas
from fastact._core import threads as _threads
from fastact._tools import networks


def main(names="convnet,deep_convnet,bn_mlp", exponents="20,22,24", rounds="8"):
    _threads._blas_spin_tried = True  # this script sets the spin itself
    libs = [lib for lib in map(_openblas._controls, _openblas.loaded_openblas()) if lib is not None]
    if not libs:
        sys.exit("no OpenBLAS with the entry points fastact uses is loaded here")

    def spin(exponent):
        for lib in libs:
            _openblas.set_spin(lib, exponent)

    exponents = [int(e) for e in exponents.split(",")]
    sets = networks.layer_sets()
    for name in names.split(","):
        for dtype in ("float32", "float64"):
            x, t = networks.batch(name, dtype)
            nets = {e: networks.build(name, sets[e], dtype) for e in ("seed", "fastact")}
            for net in nets.values():
                net.step(x, t)
            steps = 20 if "mlp" in name else 2
            times = {}
            for _ in range(int(rounds)):
                for engine, exponent in [("seed", 28)] + [("fastact", e) for e in exponents]:
                    spin(exponent)
                    nets[engine].step(x, t)  # the workers restart here
                    for _ in range(steps):
                        t0 = time.perf_counter()
                        nets[engine].step(x, t)
                        times.setdefault((engine, exponent), []).append(time.perf_counter() - t0)
            seed = statistics.median(times["seed", 28])
            ratios = "  ".join(f"2**{e}: {seed / statistics.median(times['fastact', e]):.2f}x" for e in exponents)
            print(f"{name:<14}{dtype:<9}{ratios}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
