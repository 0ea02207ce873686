"""The compiled kernels themselves: vectorized, and actually taken on the paths they serve.
Every test iterates over the registry: a new activation is checked without naming it here."""

import re

import numba
import numba.extending
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastact._core.threads as threads
from fastact._core import dispatch, kernels
from fastact._core.kernels import KERNELS
from fastact._core.layouts import swapped
from fastact.activations import REGISTRY
from fastact.layers import layer_for
from fastact.testing.bits import assert_same_bits
from fastact.testing.canary import Canary
from fastact.testing.ir import kernel_llvm_ir
from fastact.testing.values import sample

# Vectors of the element type, or of integers of its width: formulas that work on the bits
# (ReLU's backward ands dout's bits with the mask) vectorize as integer lanes.
VECTOR = {np.float32: r"<(\d+) x (?:float|i32)>", np.float64: r"<(\d+) x (?:double|i64)>"}
NAMES = sorted(REGISTRY)


def params(name, dtype):
    return tuple(np.dtype(dtype).type(p.default) for p in REGISTRY[name].params)


def kernel_args(name, direction, dtype):
    spec = REGISTRY[name]
    x = np.linspace(-3, 3, 4096).astype(dtype)
    out = np.empty_like(x)
    mask = np.zeros(x.shape, np.uint8)
    if direction == "forward":
        return (x, out, mask, params(name, dtype)) if spec.saves == "mask" else (x, out, params(name, dtype))
    if direction == "forward_in_place":
        return (x, mask, params(name, dtype)) if spec.saves == "mask" else (x, params(name, dtype))
    saved = {"mask": mask, "output": out, "input": x, "nothing": x}[spec.saves]
    if spec.backward_in_place:
        return (x, saved, params(name, dtype))
    return (x, saved, np.empty_like(x), params(name, dtype))


# The serial build's loop; the parallel build runs that same code on each share of the loop
# (kernels.Shares, the test below). The in-place forward (Relu(inplace=True), the staged
# layouts) is checked in float64, its float32 with -m slow.
def _loop_cases():
    for direction in ("forward", "backward", "forward_in_place"):
        for dtype in (np.float32, np.float64):
            slow = direction == "forward_in_place" and dtype == np.float32
            yield pytest.param(direction, dtype, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.vector_ir
@pytest.mark.parametrize("direction,dtype", list(_loop_cases()))
@pytest.mark.parametrize("name", NAMES)
def test_hot_loops_are_vectorized(name, direction, dtype):
    pair = getattr(KERNELS[name], direction)
    ir = kernel_llvm_ir(pair.serial, kernel_args(name, direction, dtype))
    widths = [int(w) for w in re.findall(VECTOR[dtype], ir)]
    assert widths and max(widths) >= 4, f"{name} {direction} {dtype}: no SIMD vectors in IR"
    # 512-bit vectors asked for by the costly formulas only: the cheap ones stream memory, where
    # a 512-bit store into NumPy's arrays spans two cache lines (kernels.WIDE_MIN_COST)
    wide = REGISTRY[name].cost_of(direction.removesuffix("_in_place")) >= kernels.WIDE_MIN_COST
    assert ('"prefer-vector-width"="512"' in ir) == wide, f"{name} {direction}: vector width not as its cost says"


@given(n=st.integers(0, 100_000), parts=st.integers(1, 300))
def test_shares_cover_the_loop_once_in_order(n, parts):
    """The shares of a loop are its iterations, each once, in order; the share past the last
    (a kernel's finish) is empty; the flat kernels' shares start at multiples of FLAT_ALIGN."""
    for share in (kernels.share, kernels.flat_share):
        pieces = [share(n, part, parts) for part in range(parts + 1)]
        assert [i for piece in pieces for i in piece] == list(range(n)), share.__name__
        assert len(pieces[-1]) == 0
        if share is kernels.flat_share:
            assert all(p[0] % kernels.FLAT_ALIGN == 0 for p in pieces if len(p))


@pytest.mark.parametrize("name", ["sigmoid", "gelu"])
def test_under_load_shares_of_chunk_elements_are_dealt_one_at_a_time(name, monkeypatch, rng):
    """Where other processes are seen using a core, a parallel call cuts its loop into shares
    of about CHUNK_ELEMENTS, which numba's threads take one at a time: the same bits."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread: no parallel build")
    x = sample(np.float64, (1 << 20,), rng)  # 8 MiB: parallel by size
    with threads.forced("serial"):
        want = layer_of(name).forward(x)
    pair = KERNELS[name].forward
    seen = []
    original = pair.parallel.launch
    monkeypatch.setattr(pair.parallel, "launch", lambda head, *a: (seen.append(a[:3]), original(head, *a))[1])
    monkeypatch.setattr(threads, "_other_load", lambda: 0.3)  # a third of a core taken
    monkeypatch.setattr(threads, "_CPUS", 2)
    monkeypatch.setattr(threads, "_awake_until", float("inf"))
    got = layer_of(name).forward(x)
    assert seen == [(x.size // threads.CHUNK_ELEMENTS, 2, 1)], seen  # (shares, threads, chunk size)
    assert_same_bits(got, want, name)


@pytest.mark.parametrize("name", NAMES)
def test_the_parallel_build_runs_the_serial_builds_code_on_every_share(name, rng):
    """Each share of a parallel call is the serial build's compiled function, called by its
    address; with any number of shares the results are the serial build's bits."""
    pair = KERNELS[name].backward
    args = kernel_args(name, "backward", np.float64)
    args = tuple(
        sample(np.float64, a.shape, rng) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args
    )
    out = 0 if REGISTRY[name].backward_in_place else 2  # dx, or dout itself
    expected = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    with np.errstate(all="ignore"):
        pair.serial(*expected, 0, 1)
        for parts in (1, 2, 7, 4096, 5000):  # shares of one element, and empty ones
            got = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            pair.parallel(*got, 0, parts)
            assert_same_bits(got[out], expected[out], f"{name}: {parts} shares")
    exact = tuple(numba.typeof(a) for a in args) + (numba.types.int64, numba.types.int64)
    build = pair.serial.overloads[exact]
    address = build.library.get_pointer_to_function(build.fndesc.llvm_func_name)
    assert pair.parallel._types[exact] == address


@numba.extending.intrinsic
def _owner(typingctx, a):
    """The address of the reference-count owner (meminfo) of the array a, 0 for none."""

    def codegen(context, builder, signature, args):
        array = context.make_array(a)(context, builder, value=args[0])
        return builder.ptrtoint(array.meminfo, context.get_value_type(numba.types.int64))

    return numba.types.int64(a), codegen


def _owners_kernel():
    def kernel(x, rows, owners, part, parts):
        for i in kernels.share(owners.shape[0], part, parts):
            owners[i] = _owner(x) + _owner(rows[i]) + _owner(owners)

    return kernel


def test_the_shares_see_arrays_without_their_owners():
    """Each share gets the caller's arrays without their reference-count owner, as numba's
    own parallel loops pass them: a view the kernel takes (x[i]) then counts nothing, where
    every thread counting up and down on the one owner made softmax's two shares 3x slower
    than one. The whole loop, called from Python, gets its arrays as they are."""
    pair = kernels.Pair("owners_test", _owners_kernel)
    x, rows = np.ones(8), np.ones((8, 3))
    owners = np.full(8, -1)
    pair.serial(x, rows, owners, 0, 1)
    assert (owners != 0).all(), owners
    for parts in (1, 2, 8):
        owners[:] = -1
        pair.parallel(x, rows, owners, 0, parts)
        assert (owners == 0).all(), (parts, owners)


@pytest.mark.vector_ir
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_element_formulas_vectorize_in_a_plain_loop(name, dtype):
    """What the ufuncs run: numba's ufunc loop around the formula, a plain strided loop."""
    formula = REGISTRY[name].forward
    values = params(name, dtype)

    @numba.njit(error_model="numpy")
    def loop(x, out, values):
        for i in range(x.shape[0]):
            out[i] = formula(x[i], *values)

    x = np.ones(1024, dtype)
    loop(x, np.empty_like(x), values)
    assert re.search(VECTOR[dtype], "\n".join(loop.inspect_llvm().values()))


def layer_of(name):
    return layer_for(name)


@pytest.mark.parametrize("name", NAMES)
def test_parallel_build_runs_above_the_threshold(name, monkeypatch, rng):
    """Forcing the threshold to 0 must make the parallel build compile and run."""
    calls = []
    pair = KERNELS[name].forward
    original = pair.parallel.launch
    monkeypatch.setattr(pair.parallel, "launch", lambda head, *a: (calls.append(head[0].size), original(head, *a))[1])
    with threads.forced("parallel"):
        layer_of(name).forward(sample(np.float64, (50, 20), rng))
    assert calls == [1000]


@pytest.mark.parametrize("name", NAMES)
def test_serial_below_the_threshold_parallel_from_it(name, monkeypatch, rng):
    spec = REGISTRY[name]
    monkeypatch.setattr(threads, "_forced_parallel", True)  # ignore other processes' load
    pair = KERNELS[name].forward
    calls = []
    original = pair.parallel.launch
    monkeypatch.setattr(pair.parallel, "launch", lambda head, *a: (calls.append(head[0].size), original(head, *a))[1])
    for dtype in (np.float32, np.float64):  # the threshold is in bytes: twice the float32s
        n = threads.thresholds(f"{name}_forward", spec.cost)[1] // np.dtype(dtype).itemsize
        with np.errstate(invalid="ignore"):  # the ufunc's signalling NaNs, as NumPy's own
            layer_of(name).forward(sample(dtype, (n - 1,), rng))
        assert calls == []
        layer_of(name).forward(sample(dtype, (n,), rng))
        assert calls == [n]
        calls.clear()


@pytest.mark.parametrize("name", NAMES)
def test_below_the_parallel_threshold_contiguous_arrays_take_the_ufunc(name, monkeypatch, rng):
    """The ufunc's contiguous loop is the serial kernel's, without its dispatch: a contiguous
    array takes it up to the parallel threshold; a strided one only up to the ufunc limit
    (numba's strided loop is scalar), then the serial kernel, staged (copied into the output,
    then computed there in place)."""
    spec = REGISTRY[name]
    if spec.params:
        pytest.skip("a ufunc with parameters never vectorizes: it keeps the small limit")
    if spec.saves == "mask":
        pytest.skip("the fused kernel writes output and mask in one pass, the ufuncs in two")
    calls = []
    for pair in (KERNELS[name].forward, KERNELS[name].forward_in_place):
        original = pair.serial
        monkeypatch.setattr(pair, "serial", lambda *a, f=original: (calls.append(a[0].size), f(*a))[1])
    monkeypatch.setattr(threads, "_forced_parallel", True)  # ignore other processes' load
    ufunc_max, parallel_min = threads.thresholds(f"{name}_forward", spec.cost)
    for dtype in (np.float32, np.float64):
        size = np.dtype(dtype).itemsize
        n = (parallel_min - 1) // size
        x = sample(dtype, (n,), rng)
        with np.errstate(invalid="ignore"):  # the ufunc's signalling NaNs, as NumPy's own
            out = layer_of(name).forward(x)
        assert calls == []
        m = ufunc_max // size + 1
        strided = np.zeros(2 * m, dtype)[::2]
        strided[...] = x[:m]
        assert_same_bits(layer_of(name).forward(strided), out[:m], f"{name} {np.dtype(dtype)} strided")
        assert calls == [m]
        calls.clear()


def test_relu_backward_into_dout_takes_the_ufunc_up_to_the_ufunc_limit(monkeypatch, rng):
    """Relu's backward writes into dout: the ufunc's in-place twin of its contiguous loop
    (ufunc_loop.fast_loops) vectorizes as the kernel does, so dout takes the ufunc up to the
    ufunc limit, as any op (numba's own loop ran scalar in place, and the limit was 16 KiB);
    the kernel from there. The seed's bits either way."""
    import fastact.reference as reference

    pair = KERNELS["relu"].backward
    calls = []
    original = pair.serial
    monkeypatch.setattr(pair, "serial", lambda *a: (calls.append(a[0].size), original(*a))[1])
    monkeypatch.setattr(threads, "_forced_parallel", True)  # ignore other processes' load
    ufunc_max = threads.thresholds("relu_backward", REGISTRY["relu"].cost_of("backward"))[0]
    assert ufunc_max > 16384
    for dtype in (np.float32, np.float64):
        n = ufunc_max // np.dtype(dtype).itemsize
        for size, kernel_calls in ((n, []), (n + 1, [n + 1])):
            layer = layer_of("relu")
            layer.forward(sample(dtype, (size,), rng))
            dout = sample(dtype, (size,), rng)
            want = reference.relu_backward(dout.copy(), layer.mask)
            assert_same_bits(layer.backward(dout), want, f"relu backward {np.dtype(dtype)} {size}")
            assert calls == kernel_calls
            calls.clear()


def test_from_asleep_only_large_calls_go_parallel_and_a_loop_wakes_the_pool(monkeypatch, rng, spy_on):
    """Between the tables' parallel threshold and ASLEEP_PARALLEL_MIN_BYTES a call runs serial
    unless it comes right after another kernel (the pool's wake-up would cost more than the
    second core saves); larger calls go parallel either way. Same bits on both builds."""
    pair = KERNELS["sigmoid"].forward
    hot = threads.thresholds("sigmoid_forward", REGISTRY["sigmoid"].cost)[1]
    assert hot < threads.ASLEEP_PARALLEL_MIN_BYTES
    cases = []
    for nbytes, expected in ((hot, ["serial", "parallel"]), (threads.ASLEEP_PARALLEL_MIN_BYTES, ["parallel"] * 2)):
        x = rng.standard_normal(nbytes // 8)
        want = np.empty_like(x)
        pair.serial(x, want, (), 0, 1)
        cases.append((x, want, expected))
    calls = []
    for build in ("serial", "parallel"):
        spy_on(pair, build, lambda head, b=build: calls.append(b))
    monkeypatch.setattr(threads, "_other_load", lambda: 0.0)  # other processes' load aside
    monkeypatch.setattr(threads, "POOL_AWAKE_SECONDS", 60.0)  # "right after", however slow CI is
    for x, want, expected in cases:
        monkeypatch.setattr(threads, "_awake_until", 0.0)  # asleep
        for _ in expected:
            out = np.empty_like(x)
            threads.run(pair, x.size, x, out, ())
            assert_same_bits(out, want, f"{x.nbytes} bytes, {calls}")
        assert calls == expected, (x.nbytes, calls)
        calls.clear()


def test_default_thresholds_fall_as_the_declared_cost_rises():
    """A new kernel needs no table entry: its defaults come from its declared cost. A
    memory-bound op (cost 1) takes the ufunc up to 64 KiB and the parallel build from 1 MiB;
    more arithmetic per byte lowers both, the ufunc's to no less than 4 KiB, the parallel
    build's to no less than a quarter, and a costlier op never gets a higher threshold."""
    assert threads.default_thresholds("memory_bound", 1) == (64 << 10, 1 << 20)
    ops = {}
    for spec in REGISTRY.values():
        for direction in ("forward", "backward"):
            cost = spec.cost_of(direction)
            ops[spec.name, direction] = cost, threads.default_thresholds(f"{spec.name}_{direction}", cost)
    costs = sorted({cost for cost, _ in ops.values()})
    assert costs[0] == 1 and costs[-1] >= 16, costs  # the registry has both kinds: the checks below bite
    for op, (cost, (ufunc_max, parallel_min)) in ops.items():
        assert 4 << 10 <= ufunc_max < parallel_min, op
        assert 1 << 18 <= parallel_min <= 1 << 20, op
        for other, (other_cost, (other_ufunc, other_parallel)) in ops.items():
            if cost < other_cost:
                assert other_ufunc <= ufunc_max and other_parallel <= parallel_min, (op, other)
                if cost < 4:  # below the cap both fall: the costlier op goes parallel sooner
                    assert other_parallel < parallel_min, (op, other)
    cheapest = min(ops.values())[1]
    costliest = max(ops.values())[1]
    assert costliest[0] < cheapest[0] and costliest[1] < cheapest[1]


def test_swapped_finds_the_books_conv_backward_and_nothing_else():
    a = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    conv = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # (N, H, W, C) memory
    views = swapped(np.empty_like(a), a, conv)
    assert [v.shape for v in views] == [(2, 3, 20), (2, 3, 20), (2, 20, 3)]
    assert all(v.flags.c_contiguous for v in views)
    np.testing.assert_array_equal(views[1], views[2].transpose(0, 2, 1))  # the same elements
    assert np.shares_memory(views[2], conv) and np.shares_memory(views[1], a)
    assert swapped(a, a, a) is None  # one order: the flat kernels' case
    assert swapped(a, a, np.asfortranarray(a)) is None  # more than the last two axes differ
    assert swapped(a, a, conv[:, :, ::2]) is None  # not dense
    a1 = np.ascontiguousarray(a[:, :1])
    one = np.ascontiguousarray(a1.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert swapped(a1, a1, one) is None  # a single channel: nothing to swap


SLABS = sorted(
    n
    for n, s in REGISTRY.items()
    if not s.backward_in_place and (s.cost_of("backward") >= dispatch.STAGE_MIN_COST or not s.walks_strided)
)


def _slab_cases():
    # the parallel build of one of them in every run, of the others with -m slow (compile time)
    for name in sorted(n for n, s in REGISTRY.items() if not s.backward_in_place):
        for dtype in (np.float32, np.float64):
            yield name, dtype, "serial"
            slow = name != SLABS[0] or dtype != np.float64
            yield pytest.param(name, dtype, "parallel", marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("name,dtype,build", list(_slab_cases()))
def test_a_backward_against_the_saved_arrays_transposed_view_goes_slab_by_slab(
    name, dtype, build, monkeypatch, rng, spy_on
):
    """The book's conv backward: a C-ordered dout against the saved activation's (N, H, W, C)
    memory. The formulas staging would serve, or which don't vectorize walked, take the slab
    kernel up to its slab size (larger slabs, and the others, the other paths): the ufunc's
    bits, nothing written outside dx, dout and saved untouched."""
    shape = (3, 6, 5, 7)
    kernels = KERNELS[name]
    params = tuple(np.dtype(dtype).type(p.default) for p in REGISTRY[name].params)
    calls = []
    spy_on(kernels.backward_swapped, build, lambda head: calls.append(head[0].shape))
    x = sample(dtype, shape, rng)
    with np.errstate(invalid="ignore"):  # signalling NaNs, as in NumPy
        saved_c = x if REGISTRY[name].saves == "input" else kernels.ufunc(x, *params)
    saved = np.ascontiguousarray(saved_c.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    dout = sample(dtype, shape, rng)
    before = dout.copy(), saved.copy()
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0, as in NumPy
        expected = kernels.backward_ufunc(dout, saved, *params)
    for slab_max, taken in ((dispatch.SWAPPED_MAX_SLAB_BYTES, name in SLABS), (6 * 35 * x.itemsize - 1, False)):
        monkeypatch.setattr(dispatch, "SWAPPED_MAX_SLAB_BYTES", slab_max)
        dx = Canary("C", shape, dtype)
        with threads.forced(build), np.errstate(invalid="ignore", over="ignore"):
            dispatch.backward(kernels, dout, saved, dx.view, params)
        assert calls == ([(3, 6, 35)] if taken else []), (name, slab_max, calls)
        calls.clear()
        assert_same_bits(dx.view, expected, f"{name} {np.dtype(dtype)} slab max {slab_max}", nan_payloads=False)
        assert dx.outside_changed().size == 0, name
        assert_same_bits(dout, before[0], "dout was modified")
        assert_same_bits(saved, before[1], "saved was modified")


def test_the_driver_sets_numbas_threads_and_chunk_size_for_the_call_and_restores_them(monkeypatch, rng):
    """The shares' driver reads and sets numba's thread count and chunk size through numba's
    own symbols (their C types matter: a wrong width reads garbage), and a parallel call leaves
    the user's settings as they were, by the kernel's path and by a share that raised."""
    from fastact._core.kernels import _get_chunksize, _get_threads, _set_chunksize, _set_threads

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread: no parallel build")

    @numba.njit
    def probe(threads, chunksize):
        before = (_get_threads(), _get_chunksize())
        _set_threads(threads)
        _set_chunksize(chunksize)
        during = (_get_threads(), _get_chunksize())
        _set_threads(before[0])
        _set_chunksize(before[1])
        return before, during

    numba.set_num_threads(2)
    numba.set_parallel_chunksize(3)
    try:
        assert probe(1, 5) == ((2, 3), (1, 5))
        assert (numba.get_num_threads(), numba.get_parallel_chunksize()) == (2, 3)
        numba.set_num_threads(1)  # the user's own numba code: one thread, chunks of 3
        x = sample(np.float64, (1 << 17,), rng)
        with threads.forced("parallel"):
            got = layer_of("sigmoid").forward(x)
        with threads.forced("serial"):
            want = layer_of("sigmoid").forward(x)
        assert_same_bits(got, want, "sigmoid")
        assert (numba.get_num_threads(), numba.get_parallel_chunksize()) == (1, 3)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        numba.set_parallel_chunksize(0)


def test_the_shares_key_of_an_argument_tells_numbas_types_apart():
    """The shares keep each serial build's address under ``kernels._key`` of the arguments
    (numba's ``typeof`` costs 5 us an array): arguments with one key must have one numba
    type, over dtypes, byte orders, dimensions, layouts, read-only and unaligned arrays,
    scalars and tuples. (A Python int beyond int64 shares int64's key, as in numba's own
    dispatch of a tuple, whose call then raises OverflowError: the kernels' ints are sizes.)"""
    from numba import typeof

    from fastact._core.kernels import _key

    arrays = []
    for dtype in ("<f8", "<f4", "<i8", "u1", "?"):
        flat = np.arange(48).astype(dtype)
        grid = flat.reshape(6, 8)
        arrays += [flat, flat[::2], flat[::-1], grid, grid.T, grid[:, ::2], grid[::2], grid[:1], flat[:1], flat[0:0]]
        arrays += [flat.reshape(2, 3, 8), flat.reshape(2, 3, 8).transpose(1, 0, 2), np.asarray(flat[0])]
    unaligned = np.zeros(8 * 48 + 1, np.uint8)[1:].view("<f8")
    arrays += [unaligned, unaligned.reshape(6, 8), unaligned[::2]]
    for a in list(arrays):
        frozen = a.view()
        frozen.flags.writeable = False
        arrays.append(frozen)
    values = [
        *arrays,
        3,
        1.5,
        np.float32(1.5),
        np.float64(1.5),
        (arrays[0], 2.0),
        (arrays[3], arrays[4]),
        ((arrays[0],), (np.float32(1.5),)),
    ]
    types_of = {}
    for v in values:
        types_of.setdefault(_key(v), set()).add(typeof(v))
    assert all(len(t) == 1 for t in types_of.values()), [t for t in types_of.values() if len(t) > 1]
    assert len({t for ts in types_of.values() for t in ts}) > 60  # (the matrix spans many types)


@settings(max_examples=300, deadline=None)
@given(
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=5),
    orders=st.lists(st.permutations(range(5)), min_size=3, max_size=3),
    steps=st.lists(st.sampled_from([1, 1, 1, 2, -1]), min_size=15, max_size=15),
)
def test_flat_together_is_flat_of_each_in_one_order(shape, orders, steps):
    """``layouts.flat_together`` (the flat kernels' test, without NumPy's argsort) takes arrays
    exactly when ``flat`` takes each and ``same_order`` pairs them, and gives ``flat``'s views:
    over shapes with size-0 and size-1 axes, axis orders, steps and reversed axes."""
    from fastact._core.layouts import flat, flat_together, same_order

    arrays = []
    for k, order in enumerate(orders):
        order = [i for i in order if i < len(shape)]
        stored = np.arange(int(np.prod([2 * n + 1 for n in shape]))).reshape([2 * n + 1 for n in shape])
        step = [steps[5 * k + i] for i in range(len(shape))]
        view = stored[
            tuple(
                slice(None, s * n, s) if s > 0 else slice(n - 1, None, -1) if n else slice(0, 0)
                for n, s in zip(shape, step)
            )
        ]
        dense = np.ascontiguousarray(view.transpose(*order)).transpose(
            *sorted(range(len(order)), key=order.__getitem__)
        )
        arrays.append(dense if k != 2 or all(s == 1 for s in step) else view)
    for group in (arrays[:2], arrays):
        views = flat_together(*group)
        each = [flat(a) for a in group]
        lines_up = all(e is not None for e in each) and all(same_order(group[0], a) for a in group[1:])
        assert (views is not None) == lines_up, [a.strides for a in group]
        if views is not None:
            for v, e in zip(views, each):
                assert v.shape == e.shape and v.__array_interface__["data"] == e.__array_interface__["data"]
                np.testing.assert_array_equal(v, e)
