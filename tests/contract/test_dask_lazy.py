"""softmax and log_softmax (and the layers and wrappers on them) keep Dask arrays lazy: a Dask
array in, a Dask array out, computed block by block where the axis lies whole in each chunk,
bit for bit the NumPy input's result; a clear error naming the rechunk where it is split."""

import numpy as np
import pytest

import fastact
from fastact.testing.bits import assert_same_bits
from fastact.testing.processes import run_python

da = pytest.importorskip("dask.array")


def data(dtype, rng):
    x = (rng.standard_normal((60, 4, 50)) * 8).astype(dtype)
    x[0, 0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    x[1, 1, :] = -np.inf
    return x


def same(actual, expected, context):
    if actual.dtype == expected.dtype == np.float16:  # bits of float16 too (NaN payloads included)
        actual, expected = actual.view(np.uint16), expected.view(np.uint16)
    assert_same_bits(actual, expected, context)


def lazy_functions():
    return {
        "softmax": fastact.softmax,
        "log_softmax": fastact.log_softmax,
        "Softmax": lambda x, axis=-1: fastact.Softmax(axis).forward(x),
        "LogSoftmax": lambda x, axis=-1: fastact.LogSoftmax(axis).forward(x),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.float16])
def test_lazy_and_bit_for_bit_on_the_threaded_scheduler(dtype, rng):
    x = data(dtype, rng) if np.dtype(dtype).kind == "f" else rng.integers(-90, 90, (60, 4, 50)).astype(dtype)
    for axis, chunks in ((-1, (20, 2, 50)), (0, (60, 1, 25)), (1, (7, 4, 10))):
        lazy = da.from_array(x, chunks=chunks)
        for name, f in lazy_functions().items():
            out = f(lazy, axis=axis)
            assert isinstance(out, da.Array), name
            expected = f(x, axis=axis)
            assert out.dtype == expected.dtype, name
            same(out.compute(scheduler="threads", num_workers=2), expected, f"{name} axis {axis}")
    # the wrappers with parameters stay lazy through their ufunc's protocol
    lazy = da.from_array(x, chunks=(20, 2, 25))
    if np.dtype(dtype).kind == "f":
        for name in ("leaky_relu", "elu", "softplus", "gelu"):
            out = getattr(fastact, name)(lazy)
            assert isinstance(out, da.Array), name
            same(out.compute(scheduler="threads"), getattr(fastact, name)(x), name)


def test_a_split_axis_is_a_clear_error(rng):
    lazy = da.from_array(data(np.float64, rng), chunks=(30, 4, 25))
    for name, f in lazy_functions().items():
        with pytest.raises(ValueError, match=r"rechunk\(\{2: -1\}\)"):
            f(lazy)
        assert isinstance(f(lazy.rechunk({2: -1})), da.Array), name
    with pytest.raises(TypeError, match="out"):
        fastact.softmax(lazy.rechunk({2: -1}), out=np.empty(lazy.shape))


def test_importing_fastact_and_calling_softmax_does_not_import_dask():
    code = (
        "import sys, numpy as np, fastact, fastact.functions; "
        "fastact.softmax(np.ones((2, 3))); fastact.log_softmax([1.0, 2.0]);"
        "fastact.functions.softmax(np.ones(3)); print('dask' in sys.modules)"
    )
    assert run_python(code).stdout.strip() == "False"


def test_on_a_local_cluster_of_processes(rng):
    distributed = pytest.importorskip("distributed")
    x = data(np.float64, rng)
    lazy = da.from_array(x, chunks=(20, 4, 50))
    # ":0": the scheduler's HTTP server on a free port. None still binds 8787 when it can and
    # warns when it can't (another cluster, or the other cluster test on the other xdist worker),
    # and the warning fails the test here (filterwarnings = error).
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        for name, f in lazy_functions().items():
            same(client.compute(f(lazy)).result(), f(x), f"{name} cluster")
        pids = set(client.run(lambda: __import__("os").getpid()).values())
        assert len(pids) == 2
