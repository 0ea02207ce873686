"""Every bad or unusual input in docs/reliability.md's table: the seed's result or a clear error, and
never a changed input array or a partly written dout."""

import numpy as np
import pytest

import fastact
from fastact import reference


def unaligned(values):
    raw = np.zeros(8 * len(values) + 1, np.uint8)
    a = raw[1:].view(np.float64)
    a[:] = values
    return a


def read_only(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


X = np.array([[1.5, -0.5, 0.0], [-0.0, np.nan, -np.inf]])
HUGE = np.broadcast_to(np.float64(-1.0), (10**7, 10**7))  # 8e14 bytes if materialised

# (name, input, what it gets): "seed" = the seed's result; an exception type = that error,
# its message naming the problem.
FORWARD_ROWS = [
    ("Python list", [1.0, -2.0], {"relu": TypeError, "sigmoid": TypeError}),
    ("Python float", 3.0, {"relu": TypeError, "sigmoid": "seed"}),
    ("bool array", np.array([True, False]), {"relu": "seed", "sigmoid": TypeError}),
    ("int8 array", np.array([-3, 0, 5], np.int8), {"relu": "seed", "sigmoid": "seed"}),
    ("uint8 array", np.array([0, 7, 255], np.uint8), {"relu": "seed", "sigmoid": "exact"}),
    ("int64 array", np.arange(-3, 4), {"relu": "seed", "sigmoid": "seed"}),
    ("float16 array", X.astype(np.float16), {"relu": "seed", "sigmoid": "seed"}),
    ("complex array", np.array([1 + 2j, -1 - 1j]), {"relu": "seed", "sigmoid": "seed"}),
    ("object array", np.array([1.0, None], dtype=object), {"relu": TypeError, "sigmoid": TypeError}),
    ("string array", np.array(["a", "b"]), {"relu": TypeError, "sigmoid": TypeError}),
    ("byte-swapped float64", X.astype(">f8"), {"relu": "seed", "sigmoid": "seed"}),
    ("unaligned float64", unaligned(X.ravel()), {"relu": "seed", "sigmoid": "seed"}),
    ("read-only x", read_only(X), {"relu": "seed", "sigmoid": "seed"}),
    ("0-d array", np.array(-2.0), {"relu": "seed", "sigmoid": "seed"}),
    ("empty array", np.empty((3, 0, 2)), {"relu": "seed", "sigmoid": "seed"}),
    ("NaN, ±inf, ±0.0", X, {"relu": "seed", "sigmoid": "seed"}),
    ("x < -710 (seed overflows)", np.array([-750.0, -1e300]), {"relu": "seed", "sigmoid": "seed"}),
    ("output too big to allocate", HUGE, {"relu": MemoryError, "sigmoid": MemoryError}),
]

LAYERS = {"relu": (fastact.Relu, reference.Relu), "sigmoid": (fastact.Sigmoid, reference.Sigmoid)}


def snapshot(a):
    """a's bytes, to prove it unchanged (None for what is not a small array)."""
    return a.tobytes() if isinstance(a, np.ndarray) and a.size < 10**6 else None


@pytest.mark.parametrize("name, x, outcome", FORWARD_ROWS, ids=[r[0] for r in FORWARD_ROWS])
@pytest.mark.parametrize("layer", ["relu", "sigmoid"])
def test_forward_bad_input(layer, name, x, outcome):
    fast_cls, seed_cls = LAYERS[layer]
    expected = outcome[layer]
    before = snapshot(x)
    fast = fast_cls()
    if isinstance(expected, type):
        with pytest.raises(expected) as info:
            fast.forward(x)
        if expected is TypeError:
            assert any(w in str(info.value) for w in ("NumPy array", "numeric", "bool")), info.value
        assert getattr(fast, "mask", None) is None and getattr(fast, "out", None) is None
    else:
        out = fast.forward(x)
        if expected == "exact":  # the seed is wrong here (uint8: -x wraps around)
            truth = 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))
            np.testing.assert_array_max_ulp(out, truth.astype(out.dtype), maxulp=1)
        else:
            with np.errstate(all="ignore"):
                seed_out = seed_cls().forward(x)
            assert np.asarray(out).dtype == np.asarray(seed_out).dtype
            assert type(out) is type(seed_out) or isinstance(out, np.ndarray)
            if layer == "relu":
                np.testing.assert_array_equal(out, seed_out)
            else:
                np.testing.assert_allclose(out, seed_out, rtol=2e-3 if out.dtype == np.float16 else 1e-15)
    if before is not None:
        assert x.tobytes() == before, f"{name}: x was modified"


def forward_done(layer, x=X):
    fast, seed = LAYERS[layer][0](), LAYERS[layer][1]()
    fast.forward(x)
    with np.errstate(all="ignore"):
        seed.forward(x)
    if layer == "sigmoid":
        seed.out = fast.out  # compare backward on equal outputs
    return fast, seed


BACKWARD_ROWS = [
    (
        "backward before forward",
        None,
        {"relu": fastact.ForwardNotCalledError, "sigmoid": fastact.ForwardNotCalledError},
    ),
    ("Python list dout", [[1.0] * 3] * 2, {"relu": TypeError, "sigmoid": "seed"}),
    ("dout of another shape", np.ones((3, 2)), {"relu": ValueError, "sigmoid": ValueError}),
    ("broadcastable dout (1, 3)", np.ones((1, 3)), {"relu": ValueError, "sigmoid": "seed"}),
    ("read-only dout", read_only(np.full((2, 3), 2.0)), {"relu": ValueError, "sigmoid": "seed"}),
    ("int dout", np.full((2, 3), 3), {"relu": "seed", "sigmoid": "seed"}),
    ("float32 dout, float64 forward", np.full((2, 3), 2.5, np.float32), {"relu": "seed", "sigmoid": "seed"}),
    ("byte-swapped dout", np.full((2, 3), 2.5, ">f8"), {"relu": "seed", "sigmoid": "seed"}),
    ("NaN/inf in dout", np.array([[np.nan, np.inf, -np.inf], [1, -0.0, np.nan]]), {"relu": "seed", "sigmoid": "seed"}),
    ("dout a strided view", np.full((4, 6), 2.0)[::2, ::2], {"relu": "seed", "sigmoid": "seed"}),
]


@pytest.mark.parametrize("name, dout, outcome", BACKWARD_ROWS, ids=[r[0] for r in BACKWARD_ROWS])
@pytest.mark.parametrize("layer", ["relu", "sigmoid"])
def test_backward_bad_input(layer, name, dout, outcome):
    expected = outcome[layer]
    if dout is None:
        fast, dout = LAYERS[layer][0](), np.ones((2, 3))
    else:
        fast, seed = forward_done(layer)
    before = snapshot(dout)
    if isinstance(expected, type):
        with pytest.raises(expected, match="forward|shape|read-only|NumPy array|broadcast"):
            fast.backward(dout)
        if before is not None:
            assert dout.tobytes() == before, f"{name}: dout was written"
        return
    seed_dout = np.array(dout) if isinstance(dout, np.ndarray) else dout
    with np.errstate(all="ignore"):
        expected_dx = seed.backward(seed_dout)
        dx = fast.backward(dout)
    np.testing.assert_array_equal(dx, expected_dx)
    assert np.asarray(dx).dtype == np.asarray(expected_dx).dtype
    if layer == "relu":
        assert dx is dout
        np.testing.assert_array_equal(dout, seed_dout)
    elif before is not None:
        assert dout.tobytes() == before, f"{name}: dout was modified"
