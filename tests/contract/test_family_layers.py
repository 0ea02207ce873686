"""Every activation layer of the registry, built from its declaration: the same bits as its own
ufuncs on every path and layout, the twin's bits where the declaration promises them, the
book's interface, NumPy's dtype rules, and a numerical gradient check. (The formulas' accuracy
against mpmath is tests/exactness/test_formulas.py's; Relu's and Sigmoid's contract, test_relu/_sigmoid.)"""

import copy
import pickle

import numpy as np
import pytest

import fastact
import fastact._core.threads as threads
from fastact import reference, ufuncs
from fastact._core.kernels import KERNELS
from fastact.activations import REGISTRY
from fastact.layers import layer_for
from fastact.testing.bits import assert_same_bits, bits
from fastact.testing.gradients import numerical_gradient
from fastact.testing.values import FLOATS, layouts

NAMES = sorted(REGISTRY)
NEW_ARRAY = sorted(n for n, s in REGISTRY.items() if not s.backward_in_place)


def values(dtype, shape, rng):
    """Every magnitude and the quiet specials (signalling NaNs signal, as in NumPy)."""
    n = int(np.prod(shape))
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 3, n)
    picks = rng.random(n) < 0.1
    x[picks] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 3.0, -3.0, 1e-310, -1e-310], picks.sum())
    return x.astype(dtype).reshape(shape)


@pytest.fixture(params=["ufunc", "serial", pytest.param("parallel", marks=pytest.mark.slow)])
def family_path(request):
    """The paths, the parallel build with -m slow: its compile dominates this file's time in a
    fresh checkout, and test_hardening runs every activation's parallel build anyway."""
    with threads.forced(request.param):
        yield request.param


def saved_of(layer):
    return getattr(layer, layer.spec.attribute)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(100, 50), (2, 3, 4, 5)], ids=str)
@pytest.mark.parametrize("name", NEW_ARRAY)
def test_layer_equals_its_ufuncs_on_every_path_and_layout(name, shape, dtype, family_path, rng):
    path = family_path
    spec = REGISTRY[name]
    kernels = KERNELS[name]
    params = tuple(np.dtype(dtype).type(p.default) for p in spec.params)
    for lname, x in layouts(values(dtype, shape, rng)):
        ctx = f"{name} {np.dtype(dtype)} {shape} {lname} {path}"
        before = bits(x).copy()
        layer = layer_for(name)
        out = layer.forward(x)
        assert_same_bits(out, kernels.ufunc(x, *params), ctx + " forward")
        assert_same_bits(x, before.view(x.dtype), ctx + " x was modified")
        # dout as C, and in the layout least like x's (the 4-D strided and ufunc walks)
        for dname, dout in list(layouts(values(dtype, shape, rng)))[::-3]:
            dbefore = bits(dout).copy()
            with np.errstate(invalid="ignore"):  # inf * 0 in dout * f'(x), as in NumPy
                dx = layer.backward(dout)
                expected = kernels.backward_ufunc(dout, saved_of(layer), *params)
            assert_same_bits(dx, expected, f"{ctx} backward dout {dname}", nan_payloads=False)
            assert not np.shares_memory(dx, dout), ctx
            assert_same_bits(dout, dbefore.view(dout.dtype), ctx + " dout was modified")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(n for n in NEW_ARRAY if REGISTRY[n].ulp == 0))
def test_piecewise_linear_ones_are_the_twins_bits(name, dtype, family_path, rng):
    spec = REGISTRY[name]
    x = values(dtype, (64, 33), rng)
    x.reshape(-1)[:7] = [-3, 3, -2.9999, 2.9999, -6, 6, 0.5]
    for params in ({}, {p.name: p.default * 3 + 0.1 for p in spec.params}):
        layer = layer_for(name, **params)
        out = layer.forward(x)
        with np.errstate(all="ignore"):
            twin = getattr(reference, name)(x, *[np.dtype(dtype).type(v) for v in params.values()])
        finite = np.abs(x) < np.finfo(dtype).max / 8  # hardswish's twin overflows x * 6
        assert_same_bits(out[finite], twin[finite], f"{name} {params} forward")
        dout = values(dtype, x.shape, rng)
        with np.errstate(all="ignore"):
            expected = getattr(reference, f"{name}_backward")(
                dout, x, *[np.dtype(dtype).type(v) for v in params.values()]
            )
        with np.errstate(invalid="ignore"):
            dx = layer.backward(dout)
        assert_same_bits(dx[finite], expected[finite], f"{name} {params} backward", nan_payloads=False)


@pytest.mark.parametrize("name", NAMES)
def test_the_books_interface(name, rng):
    layer = layer_for(name)
    attribute = layer.spec.attribute
    assert getattr(layer, attribute) is None
    assert layer.params == [] and layer.grads == []
    with pytest.raises(fastact.ForwardNotCalledError, match="before"):
        layer.backward(np.ones(3))
    x = values(np.float64, (10, 5), rng)
    layer.forward(x)
    for clone in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        assert type(clone) is type(layer) and repr(clone) == repr(layer)
        d1, d2 = np.full((10, 5), 2.0), np.full((10, 5), 2.0)
        assert_same_bits(clone.backward(d1), layer.backward(d2), f"{name} clone")


@pytest.mark.parametrize("name", NEW_ARRAY)
def test_dtypes_follow_numpy(name, rng):
    f = ufuncs.get(name)
    for dtype, expected in (
        (np.int64, np.float64),
        (np.uint8, np.float16),
        (np.float16, np.float16),
        (np.float32, np.float32),
        (">f8", np.float64),
    ):
        x = (rng.standard_normal(20) * 4).astype(dtype)
        out = layer_for(name).forward(x)
        assert out.dtype == expected, (name, dtype)
        exact = np.asarray(f(x.astype(np.float64))).astype(expected)
        np.testing.assert_array_max_ulp(out, exact, maxulp=1)
    assert np.asarray(layer_for(name).forward(np.float32(0.5))).dtype == np.float32  # scalar in, scalar out
    with pytest.raises(TypeError):
        layer_for(name).forward([1.0, 2.0])


def test_parameters_are_checked_and_shown():
    assert repr(fastact.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(fastact.Softplus(beta=2)) == "Softplus(beta=2, threshold=20.0)"
    assert repr(fastact.GELU("tanh")) == "GELU(approximate='tanh')"
    for bad in (
        lambda: fastact.ELU("1"),
        lambda: fastact.LeakyReLU(None),
        lambda: fastact.GELU("erf"),
        lambda: fastact.Softplus(1, 2, 3),
        lambda: fastact.SELU(1.0),
    ):
        with pytest.raises((TypeError, ValueError)):
            bad()
    x = np.linspace(-4, 4, 9)
    assert_same_bits(fastact.gelu(x, approximate="tanh"), fastact.GELU("tanh").forward(x), "gelu tanh")
    assert_same_bits(fastact.leaky_relu(x, negative_slope=0.3), fastact.leaky_relu(x, 0.3), "by keyword")
    out = np.empty_like(x)
    assert fastact.softplus(x, 2.0, out=out) is out


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(n for n, s in REGISTRY.items() if s.params))
def test_functions_with_parameters_give_their_ufuncs_bits(name, dtype, rng):
    """fastact.<f>(x, p) runs the flat kernels where it can (the ufunc with a parameter runs
    unvectorized): the ufunc's bits and dtype on every route, x untouched, out= honoured."""
    spec = REGISTRY[name]
    f, u = getattr(fastact, name), KERNELS[name].ufunc
    given = tuple(2.0 * p.default + 0.3 for p in spec.params)  # Python floats: the kernel route
    for shape in [(7,), (100, 50), (3, 4, 5)]:
        x = values(dtype, shape, rng)
        before = bits(x).copy()
        ctx = f"{name} {np.dtype(dtype)} {shape}"
        expected = u(x, *given)
        assert expected.dtype == dtype
        assert_same_bits(f(x, *given), expected, ctx)
        assert_same_bits(x, before.view(x.dtype), ctx + " x was modified")
        assert_same_bits(f(x), u(x, *spec.defaults), ctx + " defaults")
        out = np.empty_like(x)
        assert f(x, *given, out=out) is out
        assert_same_bits(out, expected, ctx + " out=")
        y = x.copy()
        assert f(y, *given, out=y) is y
        assert_same_bits(y, expected, ctx + " in place")
        # the ufunc's own routes: a strided view, NumPy scalars as parameters, an int
        assert_same_bits(f(x.T, *given), u(x.T, *given), ctx + " transposed")
        numpy_scalars = tuple(np.float64(v) for v in given)
        assert_same_bits(f(x, *numpy_scalars), u(x, *numpy_scalars), ctx + " NumPy scalars")
    assert_same_bits(
        f(np.arange(5.0, dtype=dtype), *[1] * len(given)), u(np.arange(5.0, dtype=dtype), *[1] * len(given)), "int"
    )


@pytest.mark.parametrize("name", NAMES)
def test_backward_is_the_numerical_gradient(name, rng):
    x = rng.uniform(-4, 4, (6, 7))
    x[np.abs(np.abs(x) - 3) < 0.05] += 0.1  # away from hardswish's / hardsigmoid's kinks
    x[np.abs(x) < 0.05] += 0.1  # and from ReLU's
    w = rng.standard_normal(x.shape)
    layer = layer_for(name)
    layer.forward(x)
    analytic = layer.backward(w.copy())
    probe = x.copy()
    numeric = numerical_gradient(lambda: float(np.sum(layer_for(name).forward(probe) * w)), probe)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7, err_msg=name)
