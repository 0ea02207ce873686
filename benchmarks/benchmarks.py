"""asv suite: every case of ``fastact._tools.bench`` (op x dtype x size/layout), fastact and the seed's
twin side by side, from the same registry as ``python -m fastact bench``.

    asv run --python=same --quick     # every benchmark group once, on a sample of each grid
    FASTACT_ASV_FULL=1 asv run ...    # every grid in full

By default each group's grid is a deterministic sample drawn from the registries, so the whole
quick run takes minutes on 2 cores (the comment at each ``FULL`` says what and why); the
combinations left out are skipped (asv shows n/a). FASTACT_ASV_FULL=1: every op and dtype at
every size of ``bench.SIZES``, peak memory at 1M and 10M, every row case, every network at both
dtypes, every model.

JIT warm-up (and the cache load) happens in ``setup``, never in the timed body.
"""

import math
import os
import subprocess
import sys

import fastact
from fastact._core import jit
from fastact._tools import bench, bench_nlp, bench_rows, cli, networks, report
from fastact.activations import REGISTRY

jit.BACKGROUND.enabled = False  # each setup compiles what it times (as `python -m fastact bench`)

FULL = os.environ.get("FASTACT_ASV_FULL") == "1"

_CASES = {(c.op, c.dtype, c.size): c for c in bench.cases()}
# The per-op grid, sampled: every op and dtype at the book's (100, 50), and `python -m fastact`'s
# main ops (the book's Relu and Sigmoid) at 1M too: 64 of the 112 cases. All 112 took 7.5 of the
# whole quick run's 10.2 warm minutes (Layers 3.2, Ratios 4.3; AMD EPYC, 2 cores, load ~2).
SIZES = list(bench.SIZES) if FULL else list(cli.MAIN_SIZES)
PARAMS = [list(bench.OPS), list(bench.DTYPES), SIZES]
NAMES = ["op", "dtype", "size"]


def _skip_unsampled(op, dtype, size):
    if not FULL and size != "book" and op not in cli.MAIN_OPS:
        raise NotImplementedError("outside the default sample (FASTACT_ASV_FULL=1 runs it)")


class Layers:
    """Median seconds per call as a user calls the layers: fastact and the seed."""

    params = PARAMS
    param_names = NAMES
    timeout = 300

    def setup(self, op, dtype, size):
        _skip_unsampled(op, dtype, size)
        self.engines = bench.engines(_CASES[op, dtype, size], ("fastact", "seed"))  # warmed up

    def time_fastact(self, op, dtype, size):
        self.engines["fastact"]()

    def time_seed(self, op, dtype, size):
        self.engines["seed"]()


class Ratios:
    """Speedup over the seed and the fraction of a 2-thread copy's bandwidth, measured side
    by side in one process (the same numbers as the bench report's columns)."""

    params = PARAMS
    param_names = NAMES
    timeout = 300
    unit = "ratio"

    def setup(self, op, dtype, size):
        _skip_unsampled(op, dtype, size)
        self.case = _CASES[op, dtype, size]
        self.times = bench.measure(self.case, budget=0.05, engine_names=("fastact", "seed", "copy"))

    def track_speedup_over_seed(self, op, dtype, size):
        return self.times["seed"] / self.times["fastact"]

    def track_copy_bandwidth_fraction(self, op, dtype, size):
        return report.copy_fraction(self.case, self.times)


# The ufuncs without parameters, each written into its own input and into another array: the
# same loop both ways (``fastact._core.ufunc_loop.fast_loops``). Sampled: Relu, Sigmoid and
# GELU (memory-bound, one exp, the heaviest).
_UFUNCS = sorted(n for n, s in REGISTRY.items() if not s.params)


class UfuncInPlace:
    """A ufunc called in place (``fastact.sigmoid(x, out=x)``) and into another array, 65536
    elements, each after a copy of the input (so that the in-place calls see the same values
    every time): the same time both ways, where numba's own loop ran scalar in place."""

    params = [_UFUNCS, list(bench.DTYPES)]
    param_names = ["op", "dtype"]

    def setup(self, op, dtype):
        if not FULL and op not in ("relu", "sigmoid", "gelu"):
            raise NotImplementedError("outside the default sample (FASTACT_ASV_FULL=1 runs it)")
        import numpy as np

        self.f = getattr(fastact, op)
        self.x = np.random.default_rng(0).standard_normal(1 << 16).astype(dtype)
        self.y = np.empty_like(self.x)
        self.time_in_place(op, dtype)
        self.time_into_another(op, dtype)

    def time_in_place(self, op, dtype):
        self.y[...] = self.x
        self.f(self.y, out=self.y)

    def time_into_another(self, op, dtype):
        self.y[...] = self.x
        self.f(self.x, out=self.y)


_BIGGEST_ROWS = max(bench_rows.SHAPES, key=lambda name: math.prod(bench_rows.SHAPES[name]))
_FIRST_ROWS = {c.op: c for c in reversed(bench_rows.CASES)}.values()  # each op's first case
# The row cases, sampled: each op at its first shape, the book's (SoftmaxWithLoss at (100, 10))
# and the biggest (GPT-2's vocabulary, 256 rows): 8 of the 15 (all 15 took 0.45 warm minutes).
_ROW_CASES = {
    str(c): c for c in bench_rows.CASES if FULL or c in _FIRST_ROWS or c.shape_name in ("book", _BIGGEST_ROWS)
}


class Rows:
    """The row ops (softmax, log-softmax, their backward passes, SoftmaxWithLoss) at the bench's
    shapes, fastact and the NumPy expression (``fastact._tools.bench_rows``; the GPT-2 vocabulary at
    256 of its rows, as the quick report)."""

    params = [list(_ROW_CASES)]
    param_names = ["case"]
    timeout = 600

    def setup(self, case):
        self.engines = bench_rows.engines(_ROW_CASES[case], quick=True, with_torch=False)  # warmed up

    def time_fastact(self, case):
        self.engines["fastact"]()

    def time_numpy(self, case):
        self.engines["numpy"]()


class Memory:
    """Peak memory of a process that runs one forward call (what the outputs need, no more)."""

    # Sampled: every layer and dtype at 10M, where the outputs stand out of the interpreter's
    # own memory (1M and 10M took 1.1 warm minutes).
    params = [sorted(bench.REGISTRY), list(bench.DTYPES), ["1M", "10M"] if FULL else ["10M"]]
    param_names = ["layer", "dtype", "size"]

    def setup(self, layer, dtype, size):
        self.x = bench.make_input(bench.Case(f"{layer}.forward", dtype, size))
        self.layer = bench.layer_classes(layer)[0]()
        self.layer.forward(self.x[:10])  # compiled or loaded from the cache

    def peakmem_forward(self, layer, dtype, size):
        self.layer.forward(self.x)


def _warm_cache():
    subprocess.run([sys.executable, "-c", _FIRST_CALL], check=True)


_FIRST_CALL = (
    "import numpy as np, fastact;"
    "x = np.linspace(-3, 3, 5000).reshape(100, 50); d = np.ones((100, 50));"
    "r = fastact.Relu(); r.forward(x); r.backward(d);"
    "s = fastact.Sigmoid(); s.forward(x); s.backward(d)"
)


def timeraw_import_and_first_calls():
    """A fresh interpreter: import fastact, then Relu and Sigmoid forward and backward on the
    book's (100, 50), with the kernel cache already warm."""
    return _FIRST_CALL


timeraw_import_and_first_calls.setup = lambda: _warm_cache()
timeraw_import_and_first_calls.timeout = 120


_FAMILY = [n for n in networks.NETWORKS if n in networks.FAMILY_NETWORKS]
_BOOK = [n for n in networks.NETWORKS if n not in _FAMILY]


def _network_sample(names):
    """The (network, dtype) pairs measured: every network at float64 and the first at float32
    too (the book's five at both dtypes took 0.8 warm minutes, 34 s of it setup_cache); the
    others are skipped."""
    return [(n, d) for n in names for d in bench.DTYPES if FULL or d == "float64" or n == names[0]]


def _measure_networks(params):
    return {
        (network, dtype): networks.measure(network, dtype, rounds=2, steps=2, blas=False)
        for network, dtype in _network_sample(params[0])
    }


class Networks:
    """Whole training steps of the book's networks (``fastact._tools.networks``), batch 100: the
    step's median seconds per engine, and its speedup over the book's layers, measured side
    by side in one process (the same numbers as the bench report's network section)."""

    params = [_BOOK, list(bench.DTYPES)]
    param_names = ["network", "dtype"]
    timeout = 600
    unit = "ratio"

    def setup_cache(self):
        # Each network is measured once for both trackers (asv would run setup for each).
        return _measure_networks(self.params)

    setup_cache.timeout = 1200

    def setup(self, medians, network, dtype):
        if (network, dtype) not in _network_sample(self.params[0]):
            raise NotImplementedError("outside the default sample (FASTACT_ASV_FULL=1 runs it)")

    def track_step_speedup_activations_only(self, medians, network, dtype):
        m = medians[network, dtype]
        return m["seed"]["step"] / m["fastact-act"]["step"]

    def track_step_speedup_all_layers(self, medians, network, dtype):
        m = medians[network, dtype]
        return m["seed"]["step"] / m["fastact"]["step"]


class Family(Networks):
    """The same for the networks with the family's activations (GELU, SiLU), whose seed is
    the NumPy twin as a layer."""

    params = [_FAMILY, list(bench.DTYPES)]

    def setup_cache(self):
        # Its own: asv keys a setup_cache by its source line, so an inherited one is shared
        # with Networks and whichever runs first leaves the other's networks out (KeyError).
        return _measure_networks(self.params)

    setup_cache.timeout = 1200


class NlpModels:
    """Volume 2's models (``fastact._tools.bench_nlp``): one training step (forward, backward,
    remove_duplicate, clipping, the optimizer) with the book's arithmetic and with
    ``fastact.nlp``, and the speedup measured side by side in one process (the same numbers as
    ``python -m fastact bench --section nlp``). Kept short: three steps per engine."""

    params = [list(bench_nlp.MODELS)]
    param_names = ["model"]
    timeout = 600
    unit = "ratio"

    def setup_cache(self):
        return {name: bench_nlp.measure(name, steps=3, breakdown=False)[0] for name in self.params[0]}

    setup_cache.timeout = 1200

    def track_step_speedup(self, medians, model):
        return medians[model]["book"] / medians[model]["fastact"]

    def track_step_seconds_fastact(self, medians, model):
        return medians[model]["fastact"]

    track_step_seconds_fastact.unit = "seconds"
