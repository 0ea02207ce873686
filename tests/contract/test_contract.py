"""The interface clauses of docs/contract.md: attributes, errors, pickling, global state."""

import copy
import pickle

import numpy as np
import pytest

import fastact
from fastact import reference
from fastact.testing.bits import assert_same_bits, bits
from fastact.testing.processes import run_python
from fastact.testing.values import sample


@pytest.mark.parametrize("cls, saved", [(fastact.Relu, "mask"), (fastact.Sigmoid, "out")])
def test_fresh_layer_attributes(cls, saved):
    layer = cls()
    assert getattr(layer, saved) is None
    assert layer.params == [] and layer.grads == []
    with pytest.raises(fastact.ForwardNotCalledError, match="before .*forward"):
        layer.backward(np.ones(3))


def test_relu_backward_before_forward_leaves_dout_alone():
    dout = np.ones(4)
    with pytest.raises(RuntimeError, match="forward"):
        fastact.Relu().backward(dout)
    assert np.all(dout == 1)


@pytest.mark.parametrize("cls", [fastact.Relu, fastact.Sigmoid])
@pytest.mark.parametrize("when", ["fresh", "after forward", "after backward"])
def test_pickle_and_deepcopy_round_trip(cls, when, rng):
    layer = cls()
    x = sample(np.float64, (10, 5), rng)
    if when != "fresh":
        layer.forward(x)
    if when == "after backward":
        layer.backward(np.ones((10, 5)))
    for clone in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        assert type(clone) is cls
        for name in ("mask", "out"):
            if hasattr(layer, name):
                np.testing.assert_array_equal(getattr(clone, name), getattr(layer, name))
        # and the clone keeps working
        d1, d2 = np.full((10, 5), 2.0), np.full((10, 5), 2.0)
        if when != "fresh":
            assert_same_bits(clone.backward(d1), layer.backward(d2), "clone backward")
        clone.forward(x)


def test_relu_dout_shape_mismatch_raises_before_writing(rng):
    layer = fastact.Relu()
    layer.forward(sample(np.float64, (4, 5), rng))
    for dout in (np.ones((5, 4)), np.ones(20), np.ones((4, 5, 1))):
        before = dout.copy()
        with pytest.raises(ValueError, match="shape"):
            layer.backward(dout)
        np.testing.assert_array_equal(dout, before)


def test_relu_read_only_dout_raises_value_error_like_the_seed(rng):
    x = sample(np.float64, (4, 5), rng)
    dout = np.ones((4, 5))
    dout.flags.writeable = False
    seed = reference.Relu()
    seed.forward(x)
    with pytest.raises(ValueError):
        seed.backward(dout)
    layer = fastact.Relu()
    layer.forward(x)
    with pytest.raises(ValueError, match="read-only"):
        layer.backward(dout)
    assert np.all(dout == 1)


@pytest.mark.parametrize("bad", [[1.0, -2.0], (1.0,), 3.0, None, "abc"])
def test_relu_non_array_input_raises_type_error(bad):
    with pytest.raises(TypeError, match="NumPy array"):
        fastact.Relu().forward(bad)


@pytest.mark.parametrize("bad", [[1.0, -2.0], None, "abc"])
def test_sigmoid_non_array_input_raises_type_error(bad):
    with pytest.raises(TypeError, match="NumPy array or a number"):
        fastact.Sigmoid().forward(bad)


@pytest.mark.parametrize("dtype", [object, "U3", "S3", "M8[s]"])
@pytest.mark.parametrize("cls", [fastact.Relu, fastact.Sigmoid])
def test_non_numeric_arrays_raise_type_error(cls, dtype):
    x = np.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match="numeric"):
        cls().forward(x)


def test_relu_backward_list_dout_raises_type_error(rng):
    layer = fastact.Relu()
    layer.forward(sample(np.float64, (2,), rng))
    with pytest.raises(TypeError, match="NumPy array"):
        layer.backward([1.0, 2.0])


def test_layers_from_the_books_dict_and_ordered_dict(rng):
    """TwoLayerNet builds its activation from {'sigmoid': Sigmoid, 'relu': Relu}."""
    activation = {"sigmoid": fastact.Sigmoid, "relu": fastact.Relu}
    seeds = {"sigmoid": reference.Sigmoid, "relu": reference.Relu}
    x = rng.standard_normal((3, 50))
    for name in activation:
        out = activation[name]().forward(x)
        expected = seeds[name]().forward(x)
        np.testing.assert_array_max_ulp(out, expected, maxulp=4)


def test_import_and_warm_up_leave_np_random_alone():
    code = (
        "import numpy as np; np.random.seed(7); state = np.random.get_state()[1].copy();"
        "import fastact; x = np.linspace(-3, 3, 100000).reshape(1000, 100);"
        "r = fastact.Relu(); r.forward(x); r.backward(np.ones_like(x));"
        "s = fastact.Sigmoid(); s.forward(x); s.backward(np.ones_like(x)); fastact.relu(x); fastact.sigmoid(x);"
        "assert (np.random.get_state()[1] == state).all(), 'np.random state changed'"
    )
    run_python(code)


def test_ufuncs_are_real_numpy_ufuncs(rng):
    x = sample(np.float64, (3, 4), rng)
    assert isinstance(fastact.relu, np.ufunc) and isinstance(fastact.sigmoid, np.ufunc)
    assert_same_bits(fastact.relu(x), reference.Relu().forward(x), "relu ufunc")
    out = np.empty((3, 4), np.float32)
    fastact.sigmoid(x.astype(np.float32), out=out)
    layer = fastact.Sigmoid().forward(x.astype(np.float32))
    assert_same_bits(out, layer, "sigmoid ufunc out=")
    # broadcasting and NumPy's casting rules
    assert fastact.relu(np.arange(-2, 3)).dtype == np.float64
    assert fastact.sigmoid(x[:, :1] + x[:1, :]).shape == (3, 4)
    assert_same_bits(fastact.relu(x[::2, ::-1]), reference.Relu().forward(x[::2, ::-1]), "strided")


def test_relu_mask_is_independent_of_later_changes_to_out(rng):
    x = sample(np.float64, (20,), rng)
    layer = fastact.Relu()
    out = layer.forward(x)
    out[:] = 0.0  # a user reusing the output buffer must not change what backward does
    expected = reference.Relu()
    expected.forward(x)
    dout = np.ones(20)
    np.testing.assert_array_equal(layer.backward(dout.copy()), expected.backward(dout.copy()))
    assert bits(layer.mask).sum() == bits(expected.mask).sum()
