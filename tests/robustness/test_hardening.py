"""The classes of input and circumstance an adversarial round broke, each covered as
a class: views under in-place ReLU, self-overlapping douts, FP flags on every path, state after
a failed forward, interrupts, fork during compile, numba's environment settings, array-likes,
and the smaller cases."""

import os

import numba
import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided, sliding_window_view

import fastact
import fastact._core.dispatch as apply_module
import fastact._core.threads as threads
from fastact import reference
from fastact._core.kernels import KERNELS
from fastact.activations import REGISTRY
from fastact.layers import layer_for
from fastact.testing.bits import assert_same_bits
from fastact.testing.processes import run_python
from fastact.testing.values import FLOATS, layouts, sample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def non_dense_views(x):
    """Views that are not one dense block: the kernels cannot walk them flat."""
    yield "[::-1]", x[::-1]
    yield "[::2]", x[::2]
    yield "[:, :2]", x[:, :2]
    yield "[1::2, ::-3]", x[1::2, ::-3]
    yield "transposed slice", x.T[:, 1:]


@pytest.mark.parametrize("dtype", FLOATS)
def test_inplace_relu_on_every_layout(dtype, path, rng):
    base = sample(dtype, (40, 30), rng)
    views = list(layouts(base)) + list(non_dense_views(base.copy()))
    for name, view in views:
        x = view.copy() if name in dict(layouts(base)) else view
        expected = reference.Relu().forward(np.array(x))
        before_mask = np.array(x) <= 0
        layer = fastact.Relu(inplace=True)
        out = layer.forward(x)
        assert out is x, name
        assert_same_bits(np.array(x), expected, f"inplace {name} {path}")
        np.testing.assert_array_equal(layer.mask, before_mask, err_msg=name)


def overlapping_douts(dtype, rng):
    """Writeable douts whose elements share memory, and a fresh base to rebuild each."""

    def windows():
        base = sample(dtype, (64,), rng)
        return base, sliding_window_view(base, 8, writeable=True)  # (57, 8), overlapping

    def broadcast():
        base = sample(dtype, (8,), rng)
        return base, as_strided(base, shape=(57, 8), strides=(0, base.itemsize))

    def interleaved():
        base = sample(dtype, (200,), rng)
        return base, as_strided(base, shape=(57, 8), strides=(3 * base.itemsize, base.itemsize))

    return [windows, broadcast, interleaved]


@pytest.mark.parametrize("dtype", FLOATS)
def test_backward_on_self_overlapping_dout_gives_the_seeds_result(dtype, path, rng):
    x = sample(dtype, (57, 8), rng)
    for make in overlapping_douts(dtype, rng):
        base, dout = make()
        seed_base = base.copy()
        seed_dout = as_strided(seed_base, dout.shape, dout.strides)
        fast, seed = fastact.Relu(), reference.Relu()
        fast.forward(x)
        seed.forward(x)
        seed.backward(seed_dout)
        assert fast.backward(dout) is dout
        assert_same_bits(base, seed_base, f"{make.__name__} {path}")


def normal_result_inputs(dtype):
    """Every magnitude whose sigmoid is a normal number, and the specials; for float64 the
    range the correction term used to underflow in (-745 .. -354)."""
    lo = -708.0 if dtype == np.float64 else -87.0
    x = np.concatenate(
        [np.linspace(lo, 800, 50_001), -np.geomspace(1e-300, -lo, 2001), [np.inf, -np.inf, np.nan, 0.0, -0.0]]
    )
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_no_floating_point_flag_on_any_path(name, dtype, path):
    x = normal_result_inputs(dtype)
    # Sigmoid's results here are all normal numbers: not even underflow may be flagged. The
    # family's tiny inputs give subnormal results (leaky_relu(-1e-300)), whose underflow
    # flag NumPy ignores by default, as for its own exp: overflow, invalid, divide are checked.
    with np.errstate(all="raise", under="raise" if name == "sigmoid" else "ignore"):
        layer = layer_for(name)
        out = layer.forward(x)
        getattr(fastact, name)(x)
        dout = np.ones_like(x)
        layer.backward(dout)
    assert out.dtype == dtype


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_no_flag_from_a_product_the_backward_does_not_use(name, dtype, path):
    """Every derivative is below 2 in size, so dout = 4 keeps every result finite: so must
    every product on the way. Hardswish's backward once formed dout * (x / 3 + 0.5) for every
    x and overflowed for |x| near the largest float, where it returns dout or 0."""
    big = np.finfo(dtype).max
    x = np.array([big, -big, big / 2, -big / 2, 1e30, -1e30, np.inf, -np.inf, np.nan, 0.5, -0.5, 0.0], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        layer = layer_for(name)
        layer.forward(x)
        dx = layer.backward(np.full_like(x, 4.0))
    assert np.isfinite(dx[:6]).all()


class Boom(Exception):
    pass


@pytest.mark.parametrize("failure", [Boom, KeyboardInterrupt, MemoryError])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_failed_forward_keeps_the_previous_state(name, failure, monkeypatch, rng):
    spec = REGISTRY[name]
    layer = layer_for(name)
    x = sample(np.float64, (600, 500), rng)  # 2.4 MB, above every parallel threshold: the kernels
    layer.forward(x)
    kept = getattr(layer, spec.attribute)
    expected = layer.backward(np.ones_like(x))

    def fail(*args, **kwargs):
        raise failure("injected")

    monkeypatch.setattr(apply_module, "forward", fail)
    monkeypatch.setattr(apply_module, "forward_ufunc", fail)
    monkeypatch.setattr(KERNELS[name], "ufunc", fail)  # the tiny paths call it directly
    monkeypatch.setattr(fastact.layers.activation, "_relu_ufunc", fail)  # (Relu's, through a global)
    for size in ((600, 500), (3, 4)):
        with pytest.raises(failure):
            layer.forward(sample(np.float64, size, rng))
        assert getattr(layer, spec.attribute) is kept
    assert_same_bits(layer.backward(np.ones_like(x)), expected, f"{name} after a failed forward")


def test_an_interrupted_parallel_call_leaves_the_process_usable(monkeypatch, rng):
    pair = KERNELS["sigmoid"].forward
    real = pair.parallel.launch
    calls = []

    def interrupted(*args):
        calls.append("interrupted")
        raise KeyboardInterrupt

    numba.set_num_threads(1)  # the user's own setting for their numba code
    x = rng.standard_normal(400_000)
    with threads.forced("parallel"):
        monkeypatch.setattr(pair.parallel, "launch", interrupted)
        with pytest.raises(KeyboardInterrupt):
            fastact.Sigmoid().forward(x)
        monkeypatch.setattr(pair.parallel, "launch", lambda *a: (calls.append("ran"), real(*a)))
        out = fastact.Sigmoid().forward(x)
    assert calls == ["interrupted", "ran"]  # the lock was released: the next call ran parallel
    assert not threads._slot  # the slot was given back
    assert numba.get_num_threads() == 1
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_max_ulp(out, reference.sigmoid(x), maxulp=4)


def test_the_users_numba_thread_setting_is_left_alone(rng):
    x = sample(np.float32, (600_000,), rng)
    numba.set_num_threads(1)
    try:
        with threads.forced("parallel"):
            fastact.Relu().forward(x)
            fastact.Sigmoid().forward(x)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


CHECK_ALL_SIZES = """
    import warnings, numpy as np, fastact
    from fastact import reference
    for dtype in (np.float32, np.float64):
        for n in (10, 5000, 2_000_000):
            x = np.random.default_rng(n).standard_normal(n).astype(dtype)
            r = fastact.Relu()
            assert (r.forward(x) == reference.Relu().forward(x)).all()
            seed = reference.Relu()
            seed.forward(x)
            assert (r.backward(np.ones_like(x)) == seed.backward(np.ones_like(x))).all()
            s = fastact.Sigmoid()
            assert np.abs(s.forward(x) - reference.sigmoid(x)).max() < 1e-6
            s.backward(np.ones_like(x))
    print("ok")
"""


@pytest.mark.parametrize(
    "env",
    [
        {"NUMBA_DISABLE_JIT": "1"},
        {"NUMBA_THREADING_LAYER": "tbb"},
        {"NUMBA_THREADING_LAYER": "safe"},
        {"NUMBA_THREADING_LAYER": "workqueue"},
        {"NUMBA_NUM_THREADS": "1"},
    ],
    ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()),
)
def test_every_size_works_under_numbas_environment_settings(env):
    result = run_python(CHECK_ALL_SIZES, env=env)
    assert "ok" in result.stdout
    # at most one warning, and one that says what happened
    assert result.stderr.count("RuntimeWarning") <= 1, result.stderr


def test_fork_while_another_thread_compiles_does_not_hang(tmp_path):
    code = """
        import os, sys, threading, time, numpy as np, numba, fastact
        stop = False
        def compile_forever():
            i = 0
            while not stop:
                numba.njit(eval(f"lambda x: x + {i}"))(1.0)  # a new function each time
                i += 1
        t = threading.Thread(target=compile_forever, daemon=True)
        t.start()
        time.sleep(0.5)
        children = []
        for k in range(6):
            pid = os.fork()
            if pid == 0:
                # needs numba's compiler lock: compile (empty cache) or load a kernel (Relu's:
                # Sigmoid's took each child 2.5 s of compiling, six children on 2 cores)
                fastact.Relu().forward(np.ones(10 + k, np.float32))
                os._exit(0)
            children.append(pid)
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        for pid in children:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    assert os.waitstatus_to_exitcode(status) == 0
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    sys.exit("a forked child hung")
                time.sleep(0.05)
        stop = True
        print("no hang")
    """
    assert "no hang" in run_python(code, env={"NUMBA_CACHE_DIR": str(tmp_path)}).stdout


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own
def test_array_likes_and_subclasses(rng):
    x = sample(np.float64, (4, 5), rng)
    masked = np.ma.masked_array(x, mask=x > 1)
    out = fastact.Sigmoid().forward(masked)
    assert isinstance(out, np.ma.MaskedArray)
    np.testing.assert_array_equal(np.ma.getmaskarray(out), x > 1)
    matrix = np.asmatrix(x)
    assert type(fastact.Sigmoid().forward(matrix)) is np.matrix
    relu = fastact.Relu().forward(masked)
    assert isinstance(relu, np.ma.MaskedArray)
    assert type(fastact.Relu().forward(matrix)) is np.matrix
    # the same classes through every activation function
    for name in REGISTRY:
        assert type(getattr(fastact, name)(matrix)) is np.matrix


def test_dask_arrays_stay_lazy_and_compute_the_same(rng):
    da = pytest.importorskip("dask.array")
    x = rng.standard_normal((60, 50)) * 10
    x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    lazy = da.from_array(x, chunks=(20, 25))
    for name in REGISTRY:
        out = layer_for(name).forward(lazy)
        assert isinstance(out, da.Array), name
        assert_same_bits(out.compute(scheduler="sync"), layer_for(name).forward(x), name)


def test_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    x = sample(np.float64, (4, 5), rng)
    out = fastact.Sigmoid().forward(torch.from_numpy(x))
    assert type(out) is np.ndarray  # as the seed's NumPy expression gives
    assert_same_bits(out, fastact.Sigmoid().forward(x), "torch tensor")
    with pytest.raises(TypeError, match="Tensor"):
        fastact.Relu().forward(torch.from_numpy(x))  # the seed fails too (no .copy())


def test_smaller_cases(rng):
    fastact.set_num_threads(np.int64(1))
    assert fastact.get_num_threads() == 1
    fastact.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert fastact.Sigmoid().forward(True) == reference.Sigmoid().forward(True)
    with pytest.raises(TypeError):
        fastact.Sigmoid().forward(np.bool_(True))  # the seed's -x fails for NumPy bools
    result = run_python(module="fastact", args=["check", "--plot", "f.png"], cwd=ROOT, check=False)
    assert result.returncode == 2 and "bench command only" in result.stderr


def test_relu_agrees_with_numpy_when_subnormals_are_zero(rng):
    torch = pytest.importorskip("torch")
    x = np.array([5e-324, -5e-324, 1e-310, 1.0, -1.0, 0.0] * 50_000)
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot treat subnormals as zero")
    try:
        for size in (6, x.size):
            fast, seed = fastact.Relu(), reference.Relu()
            out = fast.forward(x[:size])
            assert_same_bits(out, seed.forward(x[:size]), "DAZ forward")
            np.testing.assert_array_equal(fast.mask, seed.mask)
            d = np.ones(size)
            assert_same_bits(fast.backward(d.copy()), seed.backward(d.copy()), "DAZ backward")
    finally:
        torch.set_flush_denormal(False)
