"""The loss and softmax layers against the book's (fastact.reference), gradients, bad input."""

import copy
import pickle

import numpy as np
import pytest

import fastact._core.threads as threads
from fastact import reference
from fastact._core.softmax import log_softmax, softmax
from fastact.layers import ForwardNotCalledError, LogSoftmax, SigmoidWithLoss, Softmax, SoftmaxWithLoss
from fastact.testing.bits import assert_same_bits
from fastact.testing.gradients import numerical_gradient

FLOATS = [np.float32, np.float64]


def batch(rng, dtype, rows=100, classes=10, scale=3.0):
    x = (rng.standard_normal((rows, classes)) * scale).astype(dtype)
    labels = rng.integers(0, classes, rows)
    return x, labels, np.eye(classes, dtype=dtype)[labels]


# --- SoftmaxWithLoss ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["serial", "parallel"])
@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_with_loss_as_the_book(dtype, one_hot, path, rng):
    x, labels, hot = batch(rng, dtype)
    t = hot if one_hot else labels
    ours, book = SoftmaxWithLoss(), reference.SoftmaxWithLoss()
    with threads.forced(path):
        loss = ours.forward(x, t)
        dx = ours.backward()
    expected = book.forward(x, t)
    assert type(loss) is type(expected)  # np.float64, np.float32 for float32 input
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    assert abs(loss - expected) <= rtol * abs(expected)
    assert ours.t is t and ours.loss is loss
    assert_same_bits(ours.y, softmax(x), "y is fastact.softmax(x)")
    np.testing.assert_allclose(ours.y, book.y, rtol=300 * np.finfo(dtype).eps, atol=1e-300)
    # backward: the book's operations on our y, bit for bit
    n = x.shape[0]
    if one_hot:
        book_dx = (ours.y - t) / n
    else:
        book_dx = ours.y.copy()
        book_dx[np.arange(n), t] -= 1
        book_dx = book_dx / n
    assert_same_bits(dx, book_dx, "dx")
    assert ours.backward(dout=5.0) is not dx  # dout ignored, as in the book
    assert_same_bits(ours.backward(dout=5.0), book_dx, "dout ignored")


def test_softmax_with_loss_extreme_logits_no_warning(rng):
    x, labels, _ = batch(rng, np.float64, scale=1e3)
    with np.errstate(all="raise"):
        loss = SoftmaxWithLoss().forward(x, labels)
    # y[t] underflows to 0 for most rows: the book's floor gives -log(1e-7) there
    assert np.isfinite(loss) and loss <= -np.log(1e-7) + 1e-12


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_with_loss_other_inputs_as_the_book(dtype, rng):
    x, labels, hot = batch(rng, dtype, rows=6, classes=5)
    cases = [
        (x[0], hot[0]),  # one sample, one-hot (the book reshapes 1-D input)
        (np.asfortranarray(x), labels),  # another layout
        (x[:, ::2].copy(order="F"), labels % 3),
        (x.astype(np.int64), labels),  # ints: float64 softmax
        (x, labels.astype(np.int32)),
        (x, -1 - labels),  # negative labels count from the end, as NumPy's
        (x, hot.astype(np.int64)),  # one-hot ints
    ]
    for i, (xi, ti) in enumerate(cases):
        ours, book = SoftmaxWithLoss(), reference.SoftmaxWithLoss()
        loss, expected = ours.forward(xi, ti), book.forward(xi, ti)
        assert np.result_type(loss) == np.result_type(expected), i
        np.testing.assert_allclose(loss, expected, rtol=1e-12 if np.result_type(expected) == np.float64 else 2e-6)
        eps = np.finfo(np.result_type(expected)).eps  # the book's y is a few ULP off, y - 1 cancels
        np.testing.assert_allclose(ours.backward(), book.backward(), rtol=1e-6, atol=16 * eps, err_msg=str(i))


def test_softmax_with_loss_bad_input_keeps_state(rng):
    x, labels, hot = batch(rng, np.float64, rows=4, classes=3)
    layer = SoftmaxWithLoss()
    layer.forward(x, labels)
    state = (layer.y, layer.t, layer.loss)
    bad = [
        ((x, labels[:3]), ValueError, "shape"),
        ((x, np.array([0, 1, 3, 0])), IndexError, r"\[0, 3\)"),
        ((x, np.array([0, 1, -4, 0])), IndexError, r"\[0, 3\)"),
        ((x, labels.astype(float)), TypeError, "integers"),
        ((x, hot[:, :2]), ValueError, "shape"),
        ((x.astype(str), labels), TypeError, "numeric"),
        ((x, labels.astype(str)), TypeError, "numeric"),
        ((x, [0, 1, 2, 0]), None, None),  # a list of labels: fine (the book would fail on .reshape for 1-D only)
    ]
    for args, error, match in bad:
        if error is None:
            continue
        with pytest.raises(error, match=match):
            layer.forward(*args)
        assert (layer.y, layer.t, layer.loss) == state


def test_softmax_with_loss_backward_before_forward():
    with pytest.raises(ForwardNotCalledError):
        SoftmaxWithLoss().backward()


def backward_and_numerical_gradient(loss_layer, x, t):
    """The loss layer's dx by backprop, and the loss's gradient by central differences."""
    layer = loss_layer()
    layer.forward(x, t)
    return layer.backward(), numerical_gradient(lambda: loss_layer().forward(x, t), x)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_gradient(one_hot, rng):
    x, labels, hot = batch(rng, np.float64, rows=5, classes=4)
    t = hot if one_hot else labels
    dx, num = backward_and_numerical_gradient(SoftmaxWithLoss, x, t)
    # the book's 1e-7 inside the log shifts the loss's true gradient by ~1e-7 / y[t] relative
    np.testing.assert_allclose(dx, num, rtol=1e-4, atol=1e-6)


def test_layers_pickle_and_deepcopy(rng):
    x, labels, _ = batch(rng, np.float64, rows=3, classes=4)
    for layer in (SoftmaxWithLoss(), Softmax(), LogSoftmax(), SigmoidWithLoss()):
        if isinstance(layer, SoftmaxWithLoss):
            layer.forward(x, labels)
        elif isinstance(layer, SigmoidWithLoss):
            layer.forward(x[:, 0], labels % 2)
        else:
            layer.forward(x)
        for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
            assert type(clone) is type(layer)


# --- Softmax / LogSoftmax layers -----------------------------------------------------------


@pytest.mark.parametrize("path", ["serial", "parallel"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_layer_as_the_sequel(dtype, path, rng):
    x = (rng.standard_normal((30, 20)) * 3).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    ours, book = Softmax(), reference.Softmax()
    with threads.forced(path):
        out = ours.forward(x)
        dx = ours.backward(dout)
    assert ours.out is out and ours.params == [] and ours.grads == []
    assert_same_bits(out, softmax(x), "out")
    # per element the sequel's operations on our out, the row sum in float64
    s = (out * dout).astype(np.float64).sum(axis=1, keepdims=True).astype(dtype)
    expected = out * dout - out * s
    tol = 4 * np.finfo(dtype).eps * np.abs(out * dout).sum(1, keepdims=True)
    assert (np.abs(dx - expected) <= tol).all()
    book.forward(x)
    np.testing.assert_allclose(
        dx,
        book.backward(dout.copy()),
        rtol=1e-3 if dtype == np.float32 else 1e-9,
        atol=1e-6 if dtype == np.float32 else 1e-14,
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_softmax_layer(dtype, rng):
    x = (rng.standard_normal((30, 20)) * 3).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    layer = LogSoftmax()
    out = layer.forward(x)
    assert_same_bits(out, log_softmax(x), "out")
    dx = layer.backward(dout)
    xl, dl = x.astype(np.longdouble), dout.astype(np.longdouble)
    e = np.exp(xl - xl.max(1, keepdims=True))
    truth = dl - e / e.sum(1, keepdims=True) * dl.sum(1, keepdims=True)
    tol = 8 * np.finfo(dtype).eps * np.abs(dl).sum(1, keepdims=True)
    assert (np.abs(dx - truth) <= tol).all()


@pytest.mark.parametrize("cls", [Softmax, LogSoftmax])
def test_softmax_layers_any_axis_and_layout(cls, rng):
    x = rng.standard_normal((3, 4, 5))
    dout = rng.standard_normal((3, 4, 5))
    for axis in (0, 1, -1):
        layer = cls(axis=axis)
        out = layer.forward(np.asfortranarray(x))
        dx = layer.backward(dout[:, :, ::-1].copy()[:, :, ::-1])
        ref = cls(axis=-1)
        ref_out = ref.forward(np.ascontiguousarray(np.moveaxis(x, axis, -1)))
        ref_dx = ref.backward(np.ascontiguousarray(np.moveaxis(dout, axis, -1)))
        assert_same_bits(np.ascontiguousarray(out), np.ascontiguousarray(np.moveaxis(ref_out, -1, axis)), "out")
        assert_same_bits(np.ascontiguousarray(dx), np.ascontiguousarray(np.moveaxis(ref_dx, -1, axis)), "dx")


@pytest.mark.parametrize("cls", [Softmax, LogSoftmax])
def test_softmax_layers_gradient(cls, rng):
    x = rng.standard_normal((4, 5))
    w = rng.standard_normal((4, 5))
    layer = cls()
    layer.forward(x)
    dx = layer.backward(w)
    num = numerical_gradient(lambda: float(np.sum(w * cls().forward(x))), x)
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("cls", [Softmax, LogSoftmax])
def test_softmax_layers_bad_input(cls, rng):
    layer = cls()
    with pytest.raises(ForwardNotCalledError):
        layer.backward(np.ones((2, 3)))
    layer.forward(rng.standard_normal((2, 3)))
    out = layer.out
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(TypeError, match="numeric"):
        layer.backward(np.full((2, 3), "a"))
    with pytest.raises(TypeError):
        layer.forward(np.array([["a", "b"]]))
    assert layer.out is out
    # mixed dtypes: NumPy's promotion, as the sequel's expression
    dx = layer.backward(np.ones((2, 3), np.float32))
    assert dx.dtype == np.float64


# --- SigmoidWithLoss ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_with_loss_as_the_sequel(dtype, rng):
    import fastact

    x = (rng.standard_normal(50) * 4).astype(dtype)
    t = rng.integers(0, 2, 50)
    ours, book = SigmoidWithLoss(), reference.SigmoidWithLoss()
    loss, expected = ours.forward(x, t), book.forward(x, t)
    assert_same_bits(ours.y, fastact.sigmoid(x), "y")
    assert np.result_type(loss) == np.result_type(expected)
    np.testing.assert_allclose(loss, expected, rtol=1e-12 if dtype == np.float64 else 1e-5)
    assert_same_bits(np.asarray(loss), np.asarray(reference.cross_entropy_error(np.c_[1 - ours.y, ours.y], t)), "loss")
    assert_same_bits(ours.backward(), (ours.y - t) * 1 / 50, "dx")
    assert ours.params == [] and ours.grads == [] and ours.t is t
    # no overflow warning (NumPy's default errstate; warnings are errors here)
    SigmoidWithLoss().forward(np.array([-1000.0, 1000.0]), np.array([0, 1]))


def test_sigmoid_with_loss_gradient(rng):
    x = rng.standard_normal(6)
    t = rng.integers(0, 2, 6)
    dx, num = backward_and_numerical_gradient(SigmoidWithLoss, x, t)
    # the book's 1e-7 floor inside the log makes the loss's gradient differ by ~1e-7
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-6)


def test_sigmoid_with_loss_bad_input_keeps_state(rng):
    layer = SigmoidWithLoss()
    layer.forward(np.zeros(3), np.array([0, 1, 1]))
    state = (layer.y, layer.t, layer.loss)
    for args, error in [
        ((np.zeros(3), np.array([0, 1])), ValueError),
        ((np.zeros(3), np.array([0, 2, 1])), ValueError),
        ((np.zeros(3).astype(str), np.array([0, 1, 1])), TypeError),
        ((np.zeros(3, bool), np.array([0, 1, 1])), TypeError),
        (([0.0, 1.0, 2.0], np.array([0, 1, 1])), TypeError),
    ]:
        with pytest.raises(error):
            layer.forward(*args)
        assert (layer.y, layer.t, layer.loss) == state
    with pytest.raises(ForwardNotCalledError):
        SigmoidWithLoss().backward()
