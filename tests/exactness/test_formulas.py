"""fastact._core.formulas: accuracy against mpmath, bits against the NumPy twins, special values,
no FP flags, SIMD. Each scalar formula is tested through a float32/float64 ufunc built from it."""

import numba
import numpy as np
import pytest

import fastact._core.formulas as F
from fastact import reference as ref
from fastact.activations import REGISTRY, ROUNDED_ONCE
from fastact.testing.bits import assert_same_bits
from fastact.testing.family import KEEPS_NEGATIVE_ZERO
from fastact.testing.ir import as_ufunc, assert_simd, prange_loop_ir, ufunc_loop_ir
from fastact.testing.truths import ROOTS, truth
from fastact.testing.ulp import ulp_error
from fastact.testing.values import FLOATS, SHAPES, every_magnitude, layouts, quiet_special_values, sample

#: Every declared activation whose formulas live in fastact._core.formulas (the family), from the
#: registry: a new declaration is tested here with nothing else to list (a missing truth or bound
#: fails, never skips). PARAMS: its default parameters, in the order the formula takes them.
FORWARD = [n for n, spec in REGISTRY.items() if spec.forward is getattr(F, n, None)]
PARAMS = {n: REGISTRY[n].defaults for n in FORWARD if REGISTRY[n].params}
PIECEWISE = [n for n in FORWARD if REGISTRY[n].ulp == 0]
ALL = [(n, d) for n in FORWARD for d in ("forward", "backward")]
#: what is measured against mpmath: every direction with a declared float64 bound (the others
#: are the twin's bits: tanh's backward, the piecewise-linear ones)
MEASURED = [(n, d) for n, d in ALL if REGISTRY[n].bound(d, np.float64)]


def formula(name, direction):
    return getattr(F, name if direction == "forward" else f"{name}_backward")


def ufunc(name, direction="forward"):
    nargs = len(PARAMS.get(name, ())) + (1 if direction == "forward" else 2)
    return as_ufunc(formula(name, direction), nargs)


def call(name, direction, x, dout=None, params=None):
    params = PARAMS.get(name, ()) if params is None else params
    dt = x.dtype.type
    args = (x,) if direction == "forward" else (dout, x)
    return ufunc(name, direction)(*args, *(dt(p) for p in params))


def twin(name, direction, x, dout=None, params=None):
    params = PARAMS.get(name, ()) if params is None else params
    if direction == "forward":
        return getattr(ref, name)(x, *params)
    return getattr(ref, f"{name}_backward")(dout, x, *params)


def accuracy_inputs(name, dtype, rng, n):
    x = [
        every_magnitude(n, rng, -12, 3),
        rng.uniform(-12, 12, n),
        rng.uniform(-1, 1, n // 2),
        rng.uniform(-40, -5, n // 4),
        rng.uniform(-760, -700, n // 8),
    ]
    if name in ROOTS:
        r = ROOTS[name]
        x.append(r + r * rng.uniform(-1e-3, 1e-3, n // 4))
    x = np.concatenate(x).astype(dtype)
    return x[np.isfinite(x)]


#: Where a float64 derivative's terms cancel (near its root) the error is instead within
#: TERMS_ULP ULP of the size of its terms. The bounds themselves are the declarations'
#: (``Declaration.ulp64``, ``ulp32``; float32 through the float64 code: rounded once).
TERMS_ULP = 1.0


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,direction", MEASURED)
def test_accuracy_against_mpmath(name, direction, dtype, rng):
    n = 1500 if dtype == np.float64 else 600
    x = accuracy_inputs(name, dtype, rng, n)
    dout = np.ones_like(x) if direction == "forward" else rng.uniform(0.5, 2, x.size).astype(dtype)
    t, size = truth(name, direction, x, dout)
    with np.errstate(all="raise", under="ignore"):
        y = call(name, direction, x, dout)
    err = ulp_error(y, t, dtype)
    err_terms = ulp_error(size + (y.astype(np.longdouble) - t), size, dtype)  # |y - t| / ulp(size)
    spec = REGISTRY[name]
    bound = spec.bound(direction, dtype)
    # float32 rounded once from float64 has no escape near roots: float64 resolves the
    # cancellation (through the float64 code, or mish's, whose derivative is patched there).
    resolved = (dtype == np.float32) and bound <= ROUNDED_ONCE
    bad = (err > bound) & ((err_terms > TERMS_ULP) | resolved)
    if bad.any():
        i = np.flatnonzero(bad)[np.argmax(err[bad])]
        raise AssertionError(
            f"{name} {direction} {np.dtype(dtype)}: x={x[i]!r} dout={dout[i]!r}: "
            f"{y[i]!r} vs {t[i]!r}: {err[i]:.3g} ULP ({err_terms[i]:.3g} of terms)"
        )
    # Where the terms cancel by less than a factor 2, the bound holds in ULPs of the result.
    plain = size <= 2 * np.abs(t)
    assert err[plain].max() <= bound, (err[plain].max(), x[plain][np.argmax(err[plain])])


# --- bits against the twins ---------------------------------------------------------------


def bit_inputs(dtype, rng, shape=(4000,)):
    x = sample(dtype, shape, rng)
    extra = np.array([-3, 3, -3.0000002, 2.9999998, -6, 6, 1e-40, -1e-40, 0.5, -0.5], dtype)
    return np.concatenate([x.ravel(), extra, np.nextafter(extra, dtype(np.inf)), np.nextafter(extra, dtype(-np.inf))])


def hardswish_twin_region(x):
    """Where the twin's x * 6 is finite (beyond, and at +-inf, fastact gives x and the limits)."""
    with np.errstate(all="ignore"):
        return np.isfinite(x * x.dtype.type(6)) | np.isnan(x)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("name", PIECEWISE)
def test_piecewise_linear_bits_match_twin(name, direction, dtype, rng):
    x = bit_inputs(dtype, rng)
    dout = sample(dtype, x.shape, rng)
    for params in [None] + ([(0.2,), (-0.5,), (3.0,)] if name == "leaky_relu" else []):
        with np.errstate(all="ignore"):  # signalling NaNs signal, the twin overflows
            got = call(name, direction, x, dout, params)
            want = twin(name, direction, x, dout, params)
        keep = hardswish_twin_region(x) if (name, direction) == ("hardswish", "forward") else ...
        assert_same_bits(got[keep], want[keep], f"{name} {direction} {np.dtype(dtype)} {params}", nan_payloads=False)


@pytest.mark.parametrize("dtype", FLOATS)
def test_hardswish_beyond_the_twin(dtype):
    """Where the twin overflows (x > max/6) fastact gives x; at -inf the limit -0.0."""
    fi = np.finfo(dtype)
    x = np.array([fi.max, fi.max / 5, np.inf, -np.inf], dtype)
    with np.errstate(all="raise"):
        y = call("hardswish", "forward", x)
    assert_same_bits(y, np.array([fi.max, fi.max / 5, np.inf, -0.0], dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_hardswish_overflow_threshold(dtype):
    """The largest x whose x * 6 is finite (hardswish's switch to returning x), and the next."""
    t = {np.float32: np.float32(5.6713724e37), np.float64: np.float64(2.996155224770526e307)}[dtype]
    above = np.nextafter(t, dtype(np.inf))
    with np.errstate(over="ignore"):
        assert np.isfinite(t * dtype(6)) and np.isinf(above * dtype(6))
    with np.errstate(all="ignore"):
        want = ref.hardswish(np.array([t], dtype))
    assert_same_bits(call("hardswish", "forward", np.array([t, above], dtype)), np.array([want[0], above], dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_tanh_backward_bits_match_twin(dtype, rng):
    y = np.tanh(sample(dtype, (5000,), rng))
    y = np.concatenate([y, np.array([1, -1, np.nextafter(dtype(1), dtype(0)), 0.0, -0.0], dtype)])
    dout = sample(dtype, y.shape, rng)
    with np.errstate(all="ignore"):
        assert_same_bits(
            call("tanh", "backward", y, dout),
            ref.tanh_backward(dout, y),
            f"tanh_backward {np.dtype(dtype)}",
            nan_payloads=False,
        )


@pytest.mark.parametrize("shape", SHAPES[:6])
@pytest.mark.parametrize("dtype", FLOATS)
def test_layouts_shapes_match_twin(dtype, shape, rng):
    """Every memory layout and shape: the piecewise-linear formulas and tanh_backward keep
    matching their twins bit for bit (the ufunc over views)."""
    x = sample(dtype, shape, rng)
    d = sample(dtype, shape, rng)
    for label, view in layouts(x):
        with np.errstate(all="ignore"):
            for name in PIECEWISE:
                got, want = call(name, "forward", view), twin(name, "forward", view)
                keep = hardswish_twin_region(np.asarray(view)) if name == "hardswish" else ...
                assert_same_bits(
                    np.asarray(got)[keep], np.asarray(want)[keep], f"{name} {label} {shape}", nan_payloads=False
                )
                assert_same_bits(
                    np.asarray(call(name, "backward", view, d)),
                    np.asarray(twin(name, "backward", view, d)),
                    f"{name} backward {label} {shape}",
                    nan_payloads=False,
                )


def test_parameters_are_run_time_values_in_the_arrays_dtype():
    """One compiled function serves every parameter value; a float64 parameter with float32
    data is rounded to float32 first (as NumPy's weak Python floats and PyTorch do)."""

    @numba.njit
    def run(x, slope, alpha):
        out = np.empty((2, x.size), x.dtype)
        for i in range(x.size):
            out[0, i] = F.leaky_relu(x[i], slope)
            out[1, i] = F.elu(x[i], alpha)
        return out

    x = np.linspace(-3, 3, 101).astype(np.float32)
    for slope, alpha in [(0.01, 1.0), (0.3, 0.5), (1.7, 2.0)]:
        got = run(x, slope, alpha)
        assert got.dtype == np.float32
        assert_same_bits(got[0], ref.leaky_relu(x, slope))
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(got[1], ref.elu(x.astype(np.float64), np.float32(alpha)), rtol=2e-7, atol=1e-45)
    assert len(run.signatures) == 1


# --- special values and flags -------------------------------------------------------------

#: name -> (forward(-inf), forward(+inf), backward(-inf), backward(+inf)) with dout = 1.
LIMITS = {
    "leaky_relu": (-np.inf, np.inf, 0.01, 1.0),
    "elu": (-1.0, np.inf, 0.0, 1.0),
    "selu": (-1.7580993408473768, np.inf, 0.0, 1.0507009873554805),
    "gelu": (-0.0, np.inf, 0.0, 1.0),
    "gelu_tanh": (-0.0, np.inf, 0.0, 1.0),
    "silu": (-0.0, np.inf, 0.0, 1.0),
    "tanh": (-1.0, 1.0, None, None),
    "softplus": (0.0, np.inf, 0.0, 1.0),
    "mish": (-0.0, np.inf, 0.0, 1.0),
    "hardswish": (-0.0, np.inf, 0.0, 1.0),
    "hardsigmoid": (0.0, 1.0, 0.0, 0.0),
    "log_sigmoid": (-np.inf, 0.0, 1.0, 0.0),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", FORWARD)
def test_special_values(name, dtype):
    inf = np.array([-np.inf, np.inf], dtype)
    one = np.ones(2, dtype)
    fm, fp, bm, bp = LIMITS[name]
    with np.errstate(all="raise", under="ignore"):
        y = call(name, "forward", inf)
        assert_same_bits(y, np.array([fm, fp], dtype), f"{name}(+-inf)")
        if bm is not None:
            np.testing.assert_array_equal(
                call(name, "backward", inf, one), np.array([bm, bp], np.float64).astype(dtype)
            )
        nan = np.array([np.nan, -np.nan], dtype)
        assert np.isnan(call(name, "forward", nan)).all()
        if name not in PIECEWISE:  # those follow PyTorch's comparisons: NaN > 0 is False
            assert np.isnan(call(name, "backward", nan, one)).all()
        zero = call(name, "forward", np.array([0.0, -0.0], dtype))
    if name in KEEPS_NEGATIVE_ZERO:
        assert np.signbit(zero).tolist() == [False, True], f"{name}(-0.0) = {zero[1]!r}"


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("name", FORWARD)
def test_no_floating_point_flags(name, direction, dtype, rng):
    """No overflow, divide-by-zero or invalid for any x (quiet NaNs, infinities, the largest
    finite values included) with a finite dout; underflow is raised where a result is
    subnormal, as NumPy's own arithmetic does (NumPy ignores it by default)."""
    top = 308 if dtype == np.float64 else 38
    x = np.concatenate(
        [
            quiet_special_values(dtype),
            every_magnitude(20_000, rng, -45, top).astype(dtype),
            rng.uniform(-800, 800, 5000).astype(dtype),
        ]
    )
    dout = rng.uniform(-3, 3, x.size).astype(dtype)
    if (name, direction) == ("tanh", "backward"):  # saved is tanh's output, in [-1, 1]
        x = np.tanh(x)
    with np.errstate(all="raise", under="ignore"):
        call(name, direction, x, dout)


# --- vectorization ------------------------------------------------------------------------


@pytest.mark.slow  # tests/layouts_and_paths/test_kernels.py checks the registry's kernels built from these formulas
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,direction", ALL)
def test_loops_vectorize(name, direction, dtype):
    f = formula(name, direction)
    nargs = len(PARAMS.get(name, ())) + (1 if direction == "forward" else 2)
    assert_simd(prange_loop_ir(f, nargs, dtype), dtype, f"{name} {direction} prange")
    assert_simd(ufunc_loop_ir(f, nargs, dtype), dtype, f"{name} {direction} ufunc")
