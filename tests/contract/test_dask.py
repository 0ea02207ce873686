"""fastact on Dask arrays: lazy, and bit for bit what it gives on the NumPy array, on the
threaded scheduler and on a LocalCluster of 2 worker processes (which import fastact and load
its kernels themselves)."""

import numpy as np
import pytest

import fastact
from fastact.activations import REGISTRY
from fastact.testing.bits import assert_same_bits

da = pytest.importorskip("dask.array")


def data(dtype, rng):
    x = (rng.standard_normal((400, 300)) * 8).astype(dtype)
    x[0, :6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40]
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_function_on_the_threaded_scheduler(dtype, rng):
    x = data(dtype, rng)
    lazy = da.from_array(x, chunks=(100, 150))
    for name in REGISTRY:
        f = getattr(fastact, name)
        out = f(lazy)
        assert isinstance(out, da.Array), name
        assert_same_bits(out.compute(scheduler="threads", num_workers=4), f(x), f"{name} threads")


def test_on_a_local_cluster_of_processes(rng):
    distributed = pytest.importorskip("distributed")
    x = data(np.float64, rng)
    lazy = da.from_array(x, chunks=(100, 300))
    # ":0": the scheduler's HTTP server on a free port. None still binds 8787 when it can and
    # warns when it can't (another cluster, or the other cluster test on the other xdist worker),
    # and the warning fails the test here (filterwarnings = error).
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        for name in REGISTRY:
            f = getattr(fastact, name)
            assert_same_bits(client.compute(f(lazy)).result(), f(x), f"{name} cluster")
        pids = set(client.run(lambda: __import__("os").getpid()).values())
        assert len(pids) == 2  # really two processes
