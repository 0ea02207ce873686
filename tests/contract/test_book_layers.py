"""fastact.layers' Affine, Dropout, BatchNormalization, Convolution and Pooling against the
NumPy twins in fastact.reference: every result and attribute
bit for bit, parameters shared in place, failed calls leave the layer as it was, and whole
networks trained step after step give the twins' losses and weights."""

import copy
import pickle

import numpy as np
import pytest

import fastact._core.gemm
from fastact import layers as fast
from fastact import reference as twin
from fastact.testing.bits import assert_same_bits
from fastact.testing.values import FLOATS, layouts, sample


def quiet(f, *args, **kwargs):
    """The twin's result without its RuntimeWarnings (NaN/inf arithmetic, casting signalling
    NaNs); fastact's kernels raise none."""
    with np.errstate(all="ignore"):
        return f(*args, **kwargs)


def same(a, b, context, nan_payloads=True):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iub":
        assert a.dtype == b.dtype and a.shape == b.shape, context
        assert (a == b).all(), context
    else:
        assert_same_bits(a, b, context, nan_payloads=nan_payloads)


def pair(cls, *args, **kwargs):
    return getattr(fast, cls)(*args, **kwargs), getattr(twin, cls)(*args, **kwargs)


# --- Pooling ---------------------------------------------------------------------------------

# (pool_h, pool_w, stride, pad) with shapes where the book's layer works: overlapping windows
# (stride < pool), gaps (stride > pool), pad > 0 where the book's output size allows it.
POOLS = [
    ((2, 2, 2, 0), (3, 4, 8, 8)),
    ((2, 2, 1, 0), (2, 3, 7, 6)),
    ((3, 3, 2, 0), (2, 3, 9, 7)),
    ((3, 3, 3, 1), (2, 2, 9, 9)),
    ((3, 2, 1, 0), (2, 2, 6, 7)),
    ((1, 1, 1, 0), (2, 2, 3, 3)),
    ((2, 2, 3, 0), (2, 2, 8, 8)),
    ((5, 5, 4, 1), (1, 3, 9, 9)),
]


@pytest.mark.parametrize("geometry,shape", POOLS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_pooling_same_bits(geometry, shape, dtype, rng, build):
    x = sample(dtype, shape, rng)
    ph, pw = geometry[:2]
    for name, view in layouts(x):
        a, b = pair("Pooling", *geometry)
        out, expected = a.forward(view), quiet(b.forward, view)
        context = f"Pooling{geometry} {dtype.__name__} {name}"
        same(a.arg_max, b.arg_max, context + " arg_max")
        assert out.strides == expected.strides, context
        if ph * pw <= 4:  # NaN payloads of np.max depend on the array's size (SIMD blocks)
            same(out, expected, context + " forward", nan_payloads=False)
        else:  # documented: NaN payloads and zero signs of tied maxima follow NumPy's SIMD
            # grouping there; the values are the same
            both = np.isnan(out) & np.isnan(expected)
            assert ((out == expected) | both).all(), context
            ok = out != 0
            same(out[ok], expected[ok], context + " forward (nonzero)", nan_payloads=False)
        dout = sample(dtype, out.shape, rng)
        for dname, dview in layouts(dout):
            same(a.backward(dview), quiet(b.backward, dview), f"{context} backward dout {dname}")


def test_pooling_ties_nan_and_padding(build):
    x = np.full((1, 1, 4, 4), -1.0)
    x[0, 0, 0, :2] = [-0.0, 0.0]  # tied zero maxima: the last one's sign, as np.max
    x[0, 0, 1, 2:] = [0.0, -0.0]
    x[0, 0, 2, :2] = [np.nan, -np.nan]  # the first NaN wins the argmax, np.max gives NaN
    x[0, 0, 3, 2:] = [np.inf, np.inf]
    for args in [(2, 2, 2, 0), (2, 2, 1, 0)]:
        a, b = pair("Pooling", *args)
        same(a.forward(x), quiet(b.forward, x), f"ties {args}", nan_payloads=False)
        same(a.arg_max, b.arg_max, f"ties {args}")
    a, b = pair("Pooling", 3, 3, 3, 1)  # padding: zeros take part in the max
    x = np.full((1, 1, 6, 6), -5.0)
    same(a.forward(x), b.forward(x), "pad")
    same(a.arg_max, b.arg_max, "pad")


def test_pooling_other_dtypes_and_float64_output(rng):
    x = rng.integers(-5, 5, (2, 3, 6, 6)).astype(np.int32)
    a, b = pair("Pooling", 2, 2)
    out = a.forward(x)
    same(out, b.forward(x), "int32")
    same(a.backward(out.astype(np.float32)), b.backward(out.astype(np.float32)), "int32 back")
    assert out.dtype == np.float64


# --- Convolution -----------------------------------------------------------------------------

CONVS = [((4, 3, 3, 3), 1, 0), ((5, 3, 3, 3), 1, 1), ((3, 3, 5, 5), 2, 2), ((2, 3, 2, 3), 3, 1), ((6, 3, 1, 1), 1, 0)]


@pytest.mark.parametrize("wshape,stride,pad", CONVS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_convolution_same_bits(wshape, stride, pad, dtype, rng, build):
    W = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype)
    x = rng.standard_normal((3, 3, 9, 10)).astype(dtype)
    x.flat[::7] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-310], x.size // 7 + 1).astype(dtype)
    for name, view in layouts(x):
        f, t = pair("Convolution", W, b, stride, pad)
        # np.dot warns on NaN/inf as in the book's layer (the fused bias path of fastact._core.gemm raises no
        # warning: it calls dgemm itself)
        out, expected = quiet(f.forward, view), quiet(t.forward, view)
        context = f"Convolution {wshape} s{stride} p{pad} {dtype.__name__} {name}"
        same(out, expected, context)
        assert out.strides == expected.strides, context
        same(f.col, t.col, context + " col")
        dout = rng.standard_normal(out.shape).astype(dtype)
        for dname, dview in layouts(dout):
            same(quiet(f.backward, dview), quiet(t.backward, dview), f"{context} dx ({dname})")
            same(f.dW, t.dW, context + " dW")
            same(f.db, t.db, context + " db")


def test_convolution_bias_in_the_blas_call_keeps_the_books_bits(rng, build):
    # fastact._core.gemm: the bias filled into the output, then dgemm with beta = 1. Specials in the bias
    # (NaN, infinities, a subnormal) go through it; a -0.0 in the bias takes NumPy's path,
    # where +0.0 + acc + -0.0 and acc + -0.0 could differ for acc = -0.0 (inputs of zeros).
    W = -np.abs(rng.standard_normal((6, 2, 3, 3)))
    x = rng.standard_normal((4, 2, 7, 7))
    x[0] = 0.0
    x[1, 0] = -0.0
    for b in (np.array([0.0, np.nan, np.inf, -np.inf, 1e-310, -2.5]), np.array([-0.0, 0.0, -0.0, 1.0, 2.0, 3.0])):
        for dtype in FLOATS:
            f, t = pair("Convolution", W.astype(dtype), b.astype(dtype))
            with np.errstate(all="ignore"):
                same(f.forward(x.astype(dtype)), t.forward(x.astype(dtype)), f"bias {b} {dtype.__name__}")
    col = rng.standard_normal((50, 18))
    fused = fastact._core.gemm.dot_plus_bias(col, W.reshape(6, -1), np.ones(6))
    assert (fused is None) == (not fastact._core.gemm._ready())
    assert fastact._core.gemm.dot_plus_bias(col, W.reshape(6, -1), np.array([1.0, -0.0, 0, 0, 0, 0])) is None
    assert (
        fastact._core.gemm.dot_plus_bias(rng.standard_normal((50, 65)), rng.standard_normal((6, 65)), np.ones(6))
        is None
    )


def test_numpys_own_openblas_takes_the_fused_bias():
    # Where NumPy bundles OpenBLAS (its wheels) the fused path must find its dgemm and pass its
    # probe; a NumPy release that renames the symbol shows here, not as a silent slowdown.
    if not fastact._core.gemm.bundled_openblas():
        pytest.skip("this NumPy does not bundle OpenBLAS")
    assert fastact._core.gemm._ready()


# --- Affine ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("bdtype", FLOATS)
def test_affine_same_bits(dtype, bdtype, rng):
    W = rng.standard_normal((60, 7)).astype(dtype)
    b = rng.standard_normal(7).astype(bdtype)
    x = sample(dtype, (20, 3, 4, 5), rng)
    for name, view in layouts(x):
        f, t = pair("Affine", W, b)
        same(quiet(f.forward, view), quiet(t.forward, view), f"Affine {name}")
        same(f.x, t.x, "x")
        assert f.original_x_shape == t.original_x_shape
        dout = rng.standard_normal((20, 7)).astype(dtype)
        same(quiet(f.backward, dout), quiet(t.backward, dout), "dx")
        same(f.dW, t.dW, "dW")
        same(f.db, t.db, "db")
    f, t = pair("Affine", W, 0.5)  # a Python scalar bias keeps NumPy's dtype rules
    same(quiet(f.forward, x), quiet(t.forward, x), "scalar bias")


# --- Dropout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ratio", [0.5, 0.0, 0.15, np.float32(0.3), 1])
def test_dropout_same_draw_and_bits(dtype, ratio, rng, build):
    x = sample(dtype, (37, 50), rng)
    for name, view in layouts(x):
        f, t = pair("Dropout", ratio)
        np.random.seed(5)
        out = f.forward(view)
        after = np.random.rand()
        np.random.seed(5)
        expected = quiet(t.forward, view)
        assert np.random.rand() == after, "the draw must consume the global RNG as the book's"
        context = f"Dropout({ratio}) {dtype.__name__} {name}"
        same(out, expected, context)
        same(f.mask, t.mask, context + " mask")
        dout = sample(dtype, x.shape, rng)
        # backward and inference are the book's NumPy expressions (warnings included)
        same(quiet(f.backward, dout), quiet(t.backward, dout), context + " backward")
        same(quiet(f.forward, view, train_flg=False), quiet(t.forward, view, train_flg=False), context)


def test_dropout_shapes():
    for shape in [(), (0,), (5,), (2, 3, 4)]:
        x = np.ones(shape)
        f, t = pair("Dropout")
        np.random.seed(1)
        out = f.forward(x)
        np.random.seed(1)
        same(out, t.forward(x), str(shape))


# --- BatchNormalization ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(100, 50), (30, 3, 5, 7), (7, 700), (1, 4), (2, 3)])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("pdtype", FLOATS)
def test_batchnorm_same_bits(shape, dtype, pdtype, rng, build):
    d = int(np.prod(shape[1:]))
    gamma = (rng.standard_normal(d) + 1).astype(pdtype)
    beta = rng.standard_normal(d).astype(pdtype)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape) + 3).astype(dtype)
    for name, view in layouts(x):
        f, t = pair("BatchNormalization", gamma, beta)
        context = f"BN {shape} {dtype.__name__}/{pdtype.__name__} {name}"
        for step in range(2):
            same(f.forward(view), quiet(t.forward, view), f"{context} forward {step}")
            for k in ("xc", "xn", "std", "running_mean", "running_var"):
                same(getattr(f, k), getattr(t, k), f"{context} {k}")
            assert f.batch_size == t.batch_size and f.input_shape == t.input_shape
            dout = rng.standard_normal(shape).astype(dtype)
            same(f.backward(dout), quiet(t.backward, dout), f"{context} backward {step}")
            same(f.dgamma, t.dgamma, context + " dgamma")
            same(f.dbeta, t.dbeta, context + " dbeta")
        same(f.forward(view, False), quiet(t.forward, view, False), context + " inference")


@pytest.mark.parametrize("dtype", FLOATS)
def test_batchnorm_special_values(dtype, rng):
    x = sample(dtype, (40, 30), rng)
    gamma, beta = np.ones(30), np.zeros(30)
    f, t = pair("BatchNormalization", gamma, beta)
    # NaN meets NaN in these sums: IEEE 754 leaves open whose payload survives.
    same(f.forward(x), quiet(t.forward, x), "forward", nan_payloads=False)
    for k in ("xc", "xn", "std", "running_mean", "running_var"):
        same(getattr(f, k), getattr(t, k), k, nan_payloads=False)
    dout = sample(dtype, (40, 30), rng)
    same(f.backward(dout), quiet(t.backward, dout), "backward", nan_payloads=False)
    same(f.dgamma, t.dgamma, "dgamma", nan_payloads=False)
    same(f.dbeta, t.dbeta, "dbeta", nan_payloads=False)


def test_batchnorm_running_stats_given(rng):
    x = rng.standard_normal((10, 6))
    rm, rv = rng.standard_normal(6), rng.random(6)
    f, t = pair("BatchNormalization", np.ones(6), np.zeros(6), 0.8, rm, rv)
    same(f.forward(x, False), t.forward(x, False), "inference with given stats")
    same(f.forward(x), t.forward(x), "train")
    same(f.running_mean, t.running_mean, "running_mean")


# --- shared parameters, state on failure, errors -----------------------------------------------


def test_parameters_are_shared_not_copied(rng):
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv = fast.Convolution(W, b)
    x = rng.standard_normal((2, 3, 5, 5))
    before = conv.forward(x).copy()
    W -= 0.1  # the book's optimizers update params in place
    b -= 0.1
    assert conv.W is W and conv.b is b
    expected = twin.Convolution(W, b).forward(x)
    same(conv.forward(x), expected, "after in-place update")
    assert not np.array_equal(before, expected)
    g, be = np.ones(6), np.zeros(6)
    bn = fast.BatchNormalization(g, be)
    assert bn.gamma is g and bn.beta is be
    aff = fast.Affine(W.reshape(36, 3), b[:3])
    assert aff.W.base is W and aff.b.base is b


def test_failed_forward_leaves_state(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    conv = fast.Convolution(rng.standard_normal((4, 3, 3, 3)), np.zeros(4))
    conv.forward(x)
    state = dict(vars(conv))
    with pytest.raises(ValueError, match="shape"):
        conv.forward(rng.standard_normal((2, 2, 6, 6)))
    assert all(vars(conv)[k] is v for k, v in state.items())
    pool = fast.Pooling(2, 2)
    pool.forward(x)
    state = dict(vars(pool))
    with pytest.raises(ValueError):
        pool.forward(x[0])
    with pytest.raises(TypeError):
        pool.forward(x.astype(complex))
    with pytest.raises(ValueError, match="shape"):
        pool.backward(np.zeros((2, 3, 2, 2)))
    assert all(vars(pool)[k] is v for k, v in state.items())
    aff = fast.Affine(rng.standard_normal((5, 2)), np.zeros(2))
    aff.forward(rng.standard_normal((3, 5)))
    state = dict(vars(aff))
    with pytest.raises(ValueError):
        aff.forward(rng.standard_normal((3, 4)))
    assert all(vars(aff)[k] is v for k, v in state.items())
    bn = fast.BatchNormalization(np.ones(5), np.zeros(5))
    bn.forward(rng.standard_normal((3, 5)))
    state = dict(vars(bn))
    with pytest.raises(ValueError):
        bn.forward(rng.standard_normal((3, 4)))
    with pytest.raises(ValueError, match="shape"):
        bn.backward(np.zeros((3, 4)))
    assert all(vars(bn)[k] is v for k, v in state.items())


def test_backward_before_forward_raises():
    for layer in (
        fast.Affine(np.ones((2, 2)), np.zeros(2)),
        fast.Dropout(),
        fast.BatchNormalization(np.ones(2), np.zeros(2)),
        fast.Convolution(np.ones((1, 1, 2, 2)), np.zeros(1)),
        fast.Pooling(2, 2),
    ):
        with pytest.raises(fast.ForwardNotCalledError, match="before"):
            layer.backward(np.zeros((2, 2)))


def test_pooling_pad_the_book_cannot_size_raises():
    with pytest.raises(ValueError, match="pad"):
        fast.Pooling(2, 2, 2, 1).forward(np.zeros((1, 1, 4, 4)))


def test_layers_pickle_and_deepcopy(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    for layer in (fast.Convolution(rng.standard_normal((4, 3, 3, 3)), np.zeros(4)), fast.Pooling(2, 2)):
        layer.forward(x)
        for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
            same(clone.forward(x), layer.forward(x), type(layer).__name__)


# --- whole networks, trained ------------------------------------------------------------------


def _convnet(lib, params):
    return [
        lib.Convolution(params["W1"], params["b1"], 1, 0),
        twin.Relu(),
        lib.Pooling(2, 2, stride=2),
        lib.Affine(params["W2"], params["b2"]),
        twin.Relu(),
        lib.Affine(params["W3"], params["b3"]),
    ]


#: parameter -> (index of its layer, the layer's attribute holding its gradient)
CONVNET_GRADS = {"W1": (0, "dW"), "b1": (0, "db"), "W2": (3, "dW"), "b2": (3, "db"), "W3": (5, "dW"), "b3": (5, "db")}
MLP_GRADS = {"W1": (0, "dW"), "b1": (0, "db"), "g": (1, "dgamma"), "be": (1, "dbeta"), "W2": (4, "dW"), "b2": (4, "db")}


def _step(layers, last, x, t, params, grads, lr=0.1):
    """One step of SGD through layers and the loss layer last; returns the loss."""
    for layer in layers:
        x = layer.forward(x)
    loss = last.forward(x, t)
    dout = last.backward()
    for layer in reversed(layers):
        dout = layer.backward(dout)
    for key in params:
        index, name = grads[key]
        params[key] -= lr * getattr(layers[index], name)
    return loss


@pytest.mark.parametrize("xdtype", FLOATS)
def test_convnet_trains_bit_for_bit(xdtype, rng):
    init = {
        "W1": 0.01 * rng.standard_normal((6, 1, 5, 5)),
        "b1": np.zeros(6),
        "W2": 0.01 * rng.standard_normal((6 * 6 * 6, 20)),
        "b2": np.zeros(20),
        "W3": 0.01 * rng.standard_normal((20, 10)),
        "b3": np.zeros(10),
    }
    x = rng.random((8, 1, 16, 16)).astype(xdtype)
    t = rng.integers(0, 10, 8)
    runs = []
    for lib in (fast, twin):
        params = {k: v.copy() for k, v in init.items()}
        layers, last = _convnet(lib, params), twin.SoftmaxWithLoss()
        losses = [_step(layers, last, x, t, params, CONVNET_GRADS) for _ in range(3)]
        runs.append((losses, params))
    (la, pa), (lb, pb) = runs
    assert la == lb
    for key in init:
        same(pa[key], pb[key], key)


def test_bn_dropout_mlp_trains_like_the_twins(rng):
    init = {
        "W1": 0.1 * rng.standard_normal((30, 40)),
        "b1": np.zeros(40),
        "g": np.ones(40),
        "be": np.zeros(40),
        "W2": 0.1 * rng.standard_normal((40, 5)),
        "b2": np.zeros(5),
    }
    x, t = rng.standard_normal((64, 30)), rng.integers(0, 5, 64)
    runs = []
    for lib in (fast, twin):
        params = {k: v.copy() for k, v in init.items()}
        layers = [
            lib.Affine(params["W1"], params["b1"]),
            lib.BatchNormalization(params["g"], params["be"]),
            twin.Relu(),
            lib.Dropout(0.3),
            lib.Affine(params["W2"], params["b2"]),
        ]
        last = twin.SoftmaxWithLoss()
        np.random.seed(11)
        losses = [_step(layers, last, x, t, params, MLP_GRADS) for _ in range(3)]
        runs.append((losses, params))
    (la, pa), (lb, pb) = runs
    np.testing.assert_allclose(la, lb, rtol=1e-12, atol=0)
    for key in init:
        np.testing.assert_allclose(pa[key], pb[key], rtol=1e-12, atol=1e-15)
        same(pa[key], pb[key], key)  # in fact bit for bit: every BN sum is in NumPy's order


# --- Convolution's db: column sums in NumPy's order -----------------------------------------


@pytest.mark.parametrize("shape", [(57, 30), (9, 300), (1, 1), (0, 4), (4, 0)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_column_sums_are_numpys_axis_0_sum(shape, dtype, rng, build):
    """Every special value mixed in (NaN, -0.0, +-inf, subnormals); 300 columns make two
    blocks, so the parallel build splits them between threads. NaN payloads are NumPy's SIMD
    blocking's (as for BatchNormalization's sums): not compared."""
    from fastact.layers.conv import _column_sums

    a = sample(dtype, shape, rng)
    same(_column_sums(a), quiet(np.sum, a, axis=0), f"{shape} {dtype.__name__}", nan_payloads=False)
    for name, view in layouts(a):  # other layouts take NumPy's own call
        same(
            quiet(_column_sums, view),
            quiet(np.sum, view, axis=0),
            f"{shape} {dtype.__name__} {name}",
            nan_payloads=False,
        )
    zeros = np.full((5, 3), -0.0, dtype)
    same(_column_sums(zeros), np.sum(zeros, axis=0), "a column of -0.0 sums to +0.0, as NumPy's")


def test_convolution_reuses_its_matrix_only_when_nobody_else_holds_it(rng):
    """forward writes over the last im2col matrix only when self.col is its one reference: a
    matrix (or a view of it) the user kept stays as it was."""
    W = rng.standard_normal((3, 2, 3, 3))
    conv = fast.Convolution(W, np.zeros(3), stride=1, pad=1)
    x1, x2 = rng.standard_normal((2, 4, 2, 6, 5))
    conv.forward(x1)
    kept = conv.col
    before = kept.copy()
    view = conv.col[::2]
    conv.forward(x2)
    same(kept, before, "the matrix the user kept")
    same(view, before[::2], "a view of it")
    assert conv.col is not kept
    del kept, view
    unheld = id(conv.col)
    conv.forward(x1)  # x2's matrix, no longer held, becomes the spare ...
    conv.forward(x2)
    assert id(conv.col) == unheld  # ... and is written over: no new pages
    twin_conv = twin.Convolution(W, np.zeros(3), stride=1, pad=1)
    twin_conv.forward(x2)
    same(conv.col, twin_conv.col, "the reused matrix holds the new windows")
    dout = rng.standard_normal((4, 3, 6, 5))
    for _ in range(2):  # backward's product in the spare, twice: same bits each time
        same(conv.backward(dout), twin_conv.backward(dout), "backward")
    assert "_spare" not in pickle.loads(pickle.dumps(conv)).__dict__


def test_star_import_replaces_the_books_common_layers():
    """`from fastact.layers import *` in place of `from common.layers import *`: every layer of
    the book's module, each the fastact class (a name missing from __all__ would silently leave
    a reader's network without it)."""
    import fastact.layers

    namespace = {}
    exec("from fastact.layers import *", namespace)
    book = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization", "Convolution", "Pooling"]
    for name in book:
        assert namespace.get(name) is getattr(fastact.layers, name), name
