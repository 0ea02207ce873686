"""fastact.softmax / log_softmax: accuracy against a high-precision truth, special values as
PyTorch, every axis and layout, out=, dtypes, no warnings, and vectorized kernels."""

import re
import warnings

import hypothesis.extra.numpy as hnp
import mpmath
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastact._core.threads as threads
from fastact import reference
from fastact._core.rows import PAIRS, for_rows
from fastact._core.softmax import ULP_BOUNDS, AxisError, log_softmax, softmax
from fastact.testing.bits import assert_same_bits
from fastact.testing.ir import kernel_llvm_ir
from fastact.testing.ulp import max_ulp_error
from fastact.testing.values import layouts, special_values

FLOATS = [np.float32, np.float64]
#: The bounds the module docstrings state (ULP of the result).
BOUND = {t: ULP_BOUNDS["softmax", t.__name__] for t in FLOATS}
LOG_BOUND = {t: ULP_BOUNDS["log_softmax", t.__name__] for t in FLOATS}
#: The float32 exp pair's relative error, as the bounds above take it (measured 2**-25.80)
EXP_PAIR_EPS = 2.0**-25.75


def truth(x):
    """Softmax and log-softmax over the last axis in np.longdouble from the exact inputs.

    The log near 0 is taken as -log1p(R), R the sum of the terms below the max (summed on
    their own, so a tiny R keeps its relative precision), as the kernels do.
    """
    xl = x.astype(np.longdouble)
    m = xl.max(-1, keepdims=True)
    d = xl - m
    e = np.exp(d)
    s = e.sum(-1, keepdims=True)
    at_max = d == 0
    r = np.where(at_max, 0, e).sum(-1, keepdims=True)
    count = at_max.sum(-1, keepdims=True)
    return e / s, d - np.log1p(r + (count - 1))


def rows(kind, dtype, rng):
    if kind == "normal":
        return rng.standard_normal((500, 10))
    if kind == "spread60":  # the classic loss for x - max: rows over +-60
        return rng.uniform(-60, 60, (200, 100))
    if kind == "wide":  # rows over +-700: results down to the subnormals
        return rng.uniform(-700, 700, (100, 50)) if dtype == np.float64 else rng.uniform(-100, 100, (100, 50))
    if kind == "long":
        return rng.standard_normal((4, 20000)) * 5
    if kind == "ties":
        return rng.integers(-3, 3, (300, 12)).astype(float)
    if kind == "offset":  # a large common offset: x - max must still be exact
        return rng.standard_normal((200, 30)) + 1e4
    if kind == "tiny":  # near-uniform rows: log-softmax results near log(1/n)
        return rng.standard_normal((200, 30)) * 1e-6
    if kind == "dominant":  # one value far above the rest: log-softmax of the max ~ -1e-30
        x = rng.standard_normal((200, 30))
        x[:, 3] += 70
        return x
    if kind == "below float32":  # the terms under the max are subnormal (or less) in float32
        x = rng.uniform(-100, -88, (50, 300))
        x[:, 7] = 0.0
        return x
    if kind == "long dominant":  # a small R over a long row: the sum's own error must not show
        x = rng.standard_normal((4, 20000)) - 12
        x[:, 0] = 3.0
        return x
    raise ValueError(kind)


KINDS = ["normal", "spread60", "wide", "long", "ties", "offset", "tiny", "dominant", "below float32", "long dominant"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_ulp_bound_against_longdouble(kind, dtype, rng):
    x = rows(kind, dtype, rng).astype(dtype)
    y, ly = truth(x)
    assert max_ulp_error(softmax(x), y, dtype, unit="rounded") <= BOUND[dtype], (kind, dtype)
    assert max_ulp_error(log_softmax(x), ly, dtype, unit="rounded") <= LOG_BOUND[dtype], (kind, dtype)


def test_float32_exp_pair_within_the_eps_the_bounds_take(rng):
    """exp(v - m) as the float32 kernels take it (a pair e + e_lo = exp(v - m) 2**64 from the
    exact difference) against long double, over 2M (v, m) of every spread down to 2**-180."""
    from fastact._core.rows import _exp_diff_f32

    @numba.njit
    def pairs(v, m, out):
        for i in range(v.shape[0]):
            out[i, 0], out[i, 1] = _exp_diff_f32(v[i], m[i])

    n = 2_000_000
    m = (rng.standard_normal(n) * 30).astype(np.float32)
    gap = np.abs(rng.standard_normal(n)) * rng.choice([0.01, 1.0, 10.0, 30.0], n)
    v = np.minimum(m, (m - gap).astype(np.float32))
    out = np.empty((n, 2), np.float32)
    pairs(v, m, out)
    true = np.exp(v.astype(np.longdouble) - m.astype(np.longdouble))
    got = (out[:, 0].astype(np.longdouble) + out[:, 1].astype(np.longdouble)) / 2.0**64
    normal = true > 2.0**-180
    assert normal.sum() > n // 2
    assert np.max(np.abs(got[normal] - true[normal]) / true[normal]) <= EXP_PAIR_EPS


@pytest.mark.parametrize("dtype", FLOATS)
def test_longdouble_truth_agrees_with_mpmath(dtype, rng):
    """The truth used above, checked on a few rows against 50-digit mpmath."""
    mpmath.mp.dps = 50
    x = np.concatenate([rows("spread60", dtype, rng)[:3, :20], rows("dominant", dtype, rng)[:3, :20]])
    x = x.astype(dtype)
    y, ly = truth(x)
    for i in range(x.shape[0]):
        e = [mpmath.exp(mpmath.mpf(float(v))) for v in x[i]]
        s = mpmath.fsum(e)
        for j in range(x.shape[1]):
            exact_y = e[j] / s
            exact_l = mpmath.log(e[j]) - mpmath.log(s)
            assert abs(mpmath.mpf(str(y[i, j])) - exact_y) <= abs(exact_y) * 1e-17
            assert abs(mpmath.mpf(str(ly[i, j])) - exact_l) <= abs(exact_l) * 1e-17 + 1e-300


@pytest.mark.parametrize("dtype", FLOATS)
def test_better_than_the_books_expression_where_it_loses(dtype, rng):
    x = rows("spread60", dtype, rng).astype(dtype)
    y, _ = truth(x)
    book = max_ulp_error(reference.softmax(x), y, dtype, unit="rounded")
    assert book > 10  # the rounding of x - max, amplified by exp
    assert max_ulp_error(softmax(x), y, dtype, unit="rounded") <= BOUND[dtype]


TORCH_ROWS = {
    "nan": [1.0, np.nan, 2.0],
    "all -inf": [-np.inf, -np.inf, -np.inf],
    "-inf beside finite": [-np.inf, 0.0, 1.0],
    "+inf": [np.inf, 1.0, 2.0],
    "two +inf": [np.inf, np.inf, 1.0],
    "+inf and -inf": [np.inf, -np.inf, 0.0],
    "nan and +inf": [np.nan, np.inf, 1.0],
    "huge spread": [1e308, -1e308, 0.0],
    "max and -max": [np.finfo(np.float32).max, -np.finfo(np.float32).max, 0.0],
}


@pytest.mark.parametrize("length", [3, 40])
@pytest.mark.parametrize("dtype", FLOATS)
def test_special_rows_as_torch(dtype, length):
    torch = pytest.importorskip("torch")
    with np.errstate(over="ignore"):
        x = np.array([np.resize(v, length) for v in TORCH_ROWS.values()]).astype(dtype)
    tx = torch.from_numpy(x)
    expected = torch.softmax(tx, -1).numpy()
    expected_log = torch.log_softmax(tx, -1).numpy()
    with np.errstate(all="raise"):
        got, got_log = softmax(x), log_softmax(x)
    for name, g, e in [("softmax", got, expected), ("log_softmax", got_log, expected_log)]:
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=name)
        ok = ~np.isnan(e)
        np.testing.assert_allclose(g[ok], e[ok], rtol=4 * np.finfo(dtype).eps, atol=0, err_msg=name)


@pytest.mark.parametrize("dtype", FLOATS)
def test_no_warnings_for_any_special_value(dtype, rng):
    specials = special_values(dtype)
    x = rng.choice(specials, (300, 7))
    x[::3] = np.where(np.isnan(x[::3]), 0, x[::3])  # some rows without NaN
    x[1::3] = np.where(np.abs(x[1::3]) == np.inf, -1, x[1::3])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        y, ly = softmax(x), log_softmax(x)
    finite_rows = np.isfinite(x).all(-1)
    assert np.isfinite(y[finite_rows]).all()
    np.testing.assert_allclose(y[finite_rows].sum(-1), 1, rtol=1e-5 if dtype == np.float32 else 1e-14)
    assert (ly[finite_rows] <= 0).all()
    nan_rows = np.isnan(x).any(-1) | (x == np.inf).any(-1) | (x == -np.inf).all(-1)
    assert np.isnan(y[nan_rows]).all() and np.isnan(ly[nan_rows]).all()
    assert not np.isnan(y[~nan_rows]).any()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("f", [softmax, log_softmax])
def test_every_axis_and_layout(f, dtype, rng):
    x = (rng.standard_normal((3, 4, 5, 6)) * 10).astype(dtype)
    for axis in range(-4, 4):
        expected = np.moveaxis(f(np.ascontiguousarray(np.moveaxis(x, axis, -1))), -1, axis)
        for name, view in layouts(x):
            got = f(view, axis=axis)
            assert_same_bits(got, np.ascontiguousarray(expected), f"{f.__name__} axis={axis} {name}")


@pytest.mark.parametrize("shape", [(64, 33), (600, 500)], ids=str)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("f", [softmax, log_softmax])
def test_serial_and_parallel_builds_agree(f, dtype, shape, rng, spy_on):
    """The parallel build gives the serial build's bits, each forced and seen to run: on a
    batch the dispatch leaves serial and on one above the parallel threshold."""
    x = (rng.standard_normal(shape) * 20).astype(dtype)
    x[5, 3] = np.nan
    x[6] = -np.inf
    pair = for_rows(f.__name__, shape[1])
    ran = []
    for build in ("serial", "parallel"):
        spy_on(pair, build, lambda head, build=build: ran.append(build))
    with threads.forced("serial"):
        expected = f(x)
    with threads.forced("parallel"):
        got = f(x)
    assert ran == ["serial", "parallel"]
    assert_same_bits(got, expected, f"parallel vs serial {shape}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("f", [softmax, log_softmax])
def test_out(f, dtype, rng):
    x = rng.standard_normal((6, 7)).astype(dtype)
    expected = f(x)
    for axis, ex in [(-1, expected), (0, f(x.T).T)]:
        for out in (np.empty_like(x), np.empty_like(x, order="F"), np.zeros((12, 14), dtype)[::2, ::2]):
            got = f(x, axis=axis, out=out)
            assert got is out
            assert_same_bits(np.ascontiguousarray(out), np.ascontiguousarray(ex), f"out axis={axis}")
    y = x.copy()
    f(y, out=y)  # in place
    assert_same_bits(y, expected, "in place")
    with pytest.raises(ValueError, match="shape"):
        f(x, out=np.empty((7, 6), dtype))
    with pytest.raises(TypeError, match="dtype"):
        f(x, out=np.empty((6, 7), np.float16))


@pytest.mark.parametrize("f", [softmax, log_softmax])
def test_dtypes_as_numpy_computes_the_books_expression(f, rng):
    ints = rng.integers(-50, 50, (5, 8))
    for dt in (np.int8, np.int32, np.int64, np.uint8, np.uint16):
        x = ints.astype(dt) if np.dtype(dt).kind == "i" else np.abs(ints).astype(dt)
        got = f(x)
        result = np.result_type(dt, np.float16)  # NumPy's exp dtype rule, as the book's expression
        assert got.dtype == result == np.exp(np.zeros(1, dt)).dtype
        compute = np.float32 if result.itemsize <= 4 else np.float64
        assert_same_bits(got, f(x.astype(compute)).astype(result), str(dt))
    h = (rng.standard_normal((5, 8)) * 4).astype(np.float16)
    got = f(h)
    assert got.dtype == np.float16
    assert_same_bits(got, f(h.astype(np.float32)).astype(np.float16), "float16")
    big_endian = rng.standard_normal((5, 8)).astype(">f8")
    assert_same_bits(f(big_endian), f(big_endian.astype(np.float64)), "big-endian")
    ld = rng.standard_normal((5, 8)).astype(np.longdouble)
    got = f(ld)
    assert got.dtype == np.longdouble
    np.testing.assert_allclose(got.astype(np.float64), f(ld.astype(np.float64)), rtol=1e-14)
    assert f([[1.0, 2.0], [3.0, 4.0]]).dtype == np.float64  # lists, as the book's np.max takes them
    with pytest.raises(TypeError, match="bool"):
        f(np.array([[True, False]]))
    with pytest.raises(TypeError, match="numeric"):
        f(np.array([["a", "b"]]))


@pytest.mark.parametrize("f", [softmax, log_softmax])
def test_shapes(f):
    for shape in [(0,), (3, 0), (0, 4), (2, 0, 3)]:
        x = np.zeros(shape)
        assert f(x).shape == shape
    assert f(np.zeros(0)).shape == (0,)
    for dtype in FLOATS:
        one = np.array([[-np.inf, -np.inf, 5.0, -np.inf], [-np.inf, 2.0, 2.0, -np.inf]], dtype)
        np.testing.assert_array_equal(softmax(one), [[0, 0, 1, 0], [0, 0.5, 0.5, 0]])
        np.testing.assert_array_equal(
            log_softmax(one), [[-np.inf, -np.inf, 0, -np.inf], [-np.inf, -np.log(dtype(2)), -np.log(dtype(2)), -np.inf]]
        )
    np.testing.assert_array_equal(softmax(np.array([5.0])), [1.0])
    np.testing.assert_array_equal(log_softmax(np.array([5.0])), [0.0])
    with np.errstate(all="ignore"):  # a 0-d input: the book's expression (1.0, or log 0.0)
        assert_same_bits(
            np.asarray(f(np.float64(1.0))), np.asarray(getattr(reference, f.__name__)(np.float64(1.0))), "0-d"
        )
    with pytest.raises(AxisError):
        f(np.zeros((2, 3)), axis=2)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from(FLOATS),
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
        elements={"allow_nan": True, "allow_infinity": True, "allow_subnormal": True},
    ),
    st.integers(-1, 2),
)
def test_properties(x, axis):
    axis = min(axis, x.ndim - 1)
    with np.errstate(all="raise"):
        y = softmax(x, axis=axis)
        ly = log_softmax(x, axis=axis)
    assert y.dtype == x.dtype and y.shape == x.shape
    xm = np.moveaxis(x, axis, -1)
    ym, lm = np.moveaxis(y, axis, -1), np.moveaxis(ly, axis, -1)
    good = ~(np.isnan(xm).any(-1) | (xm == np.inf).any(-1) | (xm == -np.inf).all(-1))
    assert np.isnan(ym[~good]).all() and np.isnan(lm[~good]).all()
    yg, lg = ym[good], lm[good]
    assert ((yg >= 0) & (yg <= 1)).all() and (lg <= 0).all()
    if yg.size:
        tol = 1e-5 if x.dtype == np.float32 else 1e-13
        np.testing.assert_allclose(yg.astype(np.float64).sum(-1), 1, rtol=tol)
        with np.errstate(under="ignore"):
            np.testing.assert_allclose(np.exp(lg.astype(np.float64)), yg, rtol=tol * 10, atol=1e-30)


VECTOR = {np.float32: r"<(\d+) x (?:float|double)>", np.float64: r"<(\d+) x double>"}


# Each case reads the IR of the serial build of both dtypes (separate row code; an uncached
# copy is compiled where the build came from numba's cache: seconds each). The parallel build
# runs the serial build's code on each share of the rows (kernels.Shares;
# tests/layouts_and_paths/test_kernels.py checks that it calls that code).
@pytest.mark.vector_ir
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward"])
def test_row_loops_are_vectorized(name, dtype):
    build = "serial"
    x = np.linspace(-3, 3, 4096).astype(dtype).reshape(4, -1)
    args = (x, np.empty_like(x)) if "backward" not in name else (x, x.copy(), np.empty_like(x))
    ir = kernel_llvm_ir(getattr(getattr(PAIRS, name), build), args)
    widths = [int(w) for w in re.findall(VECTOR[dtype], ir)]
    assert widths and max(widths) >= 4, f"{name} {build} {dtype}: no SIMD vectors in IR"
    # the vector exponential's shift of 2**k into the exponent field, and a vector sum
    assert re.search(r"fadd reassoc <\d+ x double>", ir) or name in ("softmax", "log_softmax")
    assert name == "softmax_backward" or re.search(r"shl <\d+ x i(?:32|64)>", ir), (
        f"{name} {build} {dtype}: exponential not vectorized"
    )
    if dtype == np.float32 and "backward" not in name:
        # the float64 sum of the exps' pairs in vectors as wide (in bits) as the kernel's widest
        # (it is compiled apart: on Intel it took LLVM's 256 bits where the kernel asks 512)
        sums = [int(w) for w in re.findall(r"fadd reassoc <(\d+) x double>", ir)]
        floats = [int(w) for w in re.findall(r"<(\d+) x float>", ir)]
        assert sums and 64 * max(sums) == 32 * max(floats), f"{name}: pair sum {max(sums, default=0)} doubles wide"


@pytest.mark.vector_ir
def test_loss_logs_are_vectorized():
    """SoftmaxWithLoss takes its rows' logs in one vector loop: no call to libm's log."""
    from fastact._core.rows import _logs

    @numba.njit(error_model="numpy")
    def logs(a):
        _logs(a)

    a = np.linspace(1e-7, 1.0, 1000)
    logs(a)
    np.testing.assert_allclose(a, np.log(np.linspace(1e-7, 1.0, 1000)), rtol=1e-15)
    ir = "\n".join(logs.inspect_llvm().values())
    # (LLVM also "vectorizes" math.log, into llvm.log.v4f64: four libm calls in the end); any
    # vector width: the target CPU picks it (4 on AVX2, 8 where 512-bit vectors are preferred)
    assert re.search(r"<\d+ x double>", ir) and not re.search(r"@llvm\.log\.|@log\(", ir)


@pytest.mark.parametrize("dtype", FLOATS)
def test_short_row_blocks_give_the_row_functions_bits(dtype, rng):
    """Rows shorter than _STORE_MIN are done in blocks (their exps in one flat loop, or, up to
    _COLUMNS_MAX, a lane per row): the same bits as the row function, row by row."""
    from fastact._core.rows import _COLUMNS_MAX, _STORE_MIN, softmax_row

    @numba.njit
    def row_by_row(x, o):
        for i in range(x.shape[0]):
            softmax_row(x, o, i, np.empty(x.shape[1], x.dtype))

    for n in (1, 3, 10, _COLUMNS_MAX, _COLUMNS_MAX + 1, _STORE_MIN - 1):
        x = (rng.standard_normal((257, n)) * 30).astype(dtype)
        x[5, 0] = np.nan
        x[6] = -np.inf
        x[7, -1] = np.inf
        x[8, -1] = np.nan
        x[9] = 0.0
        x[9, ::2] = -0.0
        expected = np.empty_like(x)
        row_by_row(x, expected)
        for build, parts in (("serial", 1), ("parallel", 3)):
            got = np.empty_like(x)
            getattr(PAIRS.softmax_short, build)(x, got, 0, parts)
            assert_same_bits(got, expected, f"n={n} {build}")


def test_split_exponential_error_as_documented(rng):
    """fastact._core.rows._exp_split (exp before its last rounding), the basis of the float64 bounds."""
    from fastact._core.rows import _exp_split

    @numba.njit
    def split(a, e, err):
        for i in range(a.shape[0]):
            e[i], err[i] = _exp_split(a[i])

    a = -np.concatenate([rng.uniform(0, 700, 200_000), rng.uniform(0, 1, 100_000), rng.uniform(0, 1e-6, 10_000)])
    e, err = np.empty_like(a), np.empty_like(a)
    split(a, e, err)
    true = np.exp(a.astype(np.longdouble))
    ulps = np.abs(e.astype(np.longdouble) + err - true) / np.spacing(e).astype(np.longdouble)
    assert ulps.max() <= 0.26
