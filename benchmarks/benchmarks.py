"""asv suite: every case of ``fastact._tools.bench`` (op x dtype x size/layout), fastact and the seed's
twin side by side, from the same registry as ``python -m fastact bench``.

    asv run --python=same --quick     # every benchmark once, against the installed checkout
    FASTACT_ASV_FULL=1 asv run ...    # the per-op grid at every size, not only (100, 50) and 1M

JIT warm-up (and the cache load) happens in ``setup``, never in the timed body.
"""

import os
import subprocess
import sys

from fastact._tools import bench, bench_nlp, bench_rows, networks, report

_CASES = {(c.op, c.dtype, c.size): c for c in bench.cases()}
#: The per-op grid: every op and dtype at the book's (100, 50) and at 1M elements by default,
#: which keeps `asv run --quick` of the whole suite within minutes on 2 cores; every size of
#: ``bench.SIZES`` (100 elements, the conv view, 10M too) with FASTACT_ASV_FULL=1.
SIZES = list(bench.SIZES) if os.environ.get("FASTACT_ASV_FULL") == "1" else ["book", "1M"]
PARAMS = [list(bench.OPS), list(bench.DTYPES), SIZES]
NAMES = ["op", "dtype", "size"]


class Layers:
    """Median seconds per call as a user calls the layers: fastact and the seed."""

    params = PARAMS
    param_names = NAMES
    timeout = 300

    def setup(self, op, dtype, size):
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
        self.case = _CASES[op, dtype, size]
        self.times = bench.measure(self.case, budget=0.05, engine_names=("fastact", "seed", "copy"))

    def track_speedup_over_seed(self, op, dtype, size):
        return self.times["seed"] / self.times["fastact"]

    def track_copy_bandwidth_fraction(self, op, dtype, size):
        return report.copy_fraction(self.case, self.times)


_ROW_CASES = {str(c): c for c in bench_rows.CASES}


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

    params = [sorted(bench.REGISTRY), list(bench.DTYPES), ["1M", "10M"]]
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


def _measure_networks(params):
    return {
        (network, dtype): networks.measure(network, dtype, rounds=2, steps=2, blas=False)
        for network in params[0]
        for dtype in params[1]
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

    def track_step_speedup_activations_only(self, medians, network, dtype):
        m = medians[network, dtype]
        return m["seed"]["step"] / m["fastact-act"]["step"]

    def track_step_speedup_all_layers(self, medians, network, dtype):
        m = medians[network, dtype]
        return m["seed"]["step"] / m["fastact"]["step"]


class Family(Networks):
    """The same for the networks with the family's activations (GELU, SiLU), whose seed is
    the NumPy twin as a layer. (Not in CI's run: its regex names Networks only.)"""

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
