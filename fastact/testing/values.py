"""Test inputs: the dtypes, the shapes, the special values, random samples of every magnitude
and the memory layouts the kernels must handle. NumPy only (Hypothesis is imported by the one
function that builds a strategy)."""

import numpy as np

FLOATS = [np.float32, np.float64]
SHAPES = [(), (0,), (1,), (7,), (100, 50), (3, 0, 2), (2, 3, 4, 5), (2, 3, 2, 3, 2), (4, 30, 24, 24)]
#: The unsigned integer type of each float's width: its bits.
UINT = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}


def float_arrays():
    """Hypothesis: float32/float64 arrays of 0 to 4 dims, any values (NaN, inf, subnormals)."""
    import hypothesis.extra.numpy as hnp
    from hypothesis import strategies as st

    return hnp.arrays(
        st.sampled_from(FLOATS),
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9),
        elements={"allow_nan": True, "allow_infinity": True, "allow_subnormal": True},
    )


def special_values(dtype):
    """NaNs (quiet, signalling, negative, with payload), ±0, ±inf, subnormals, ±max, ..."""
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    u = UINT[dtype]
    nans = {
        np.float32: [0x7FC00000, 0xFFC00000, 0x7FC00123, 0x7F800001, 0xFF800001],
        np.float64: [
            0x7FF8000000000000,
            0xFFF8000000000000,
            0x7FF8000000000123,
            0x7FF0000000000001,
            0xFFF0000000000001,
        ],
    }[dtype.type]
    finite = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        fi.max,
        -fi.max,
        fi.tiny,
        -fi.tiny,
        fi.smallest_subnormal,
        -fi.smallest_subnormal,
        fi.tiny / 3,
        -fi.tiny / 3,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1e-3,
        -1e-3,
        20.0,
        -20.0,
        88.7,
        -88.7,
        103.9,
        -103.9,
        709.7,
        -709.7,
        745.2,
        -745.2,
        800.0,
        -800.0,
    ]
    with np.errstate(over="ignore"):
        values = np.array(finite, dtype=np.float64).astype(dtype)
    return np.concatenate([np.array(nans, dtype=u).view(dtype), values])


def quiet_special_values(dtype):
    """``special_values`` less the signalling NaNs (any use of one raises invalid, in NumPy's
    own ufuncs too)."""
    x = special_values(dtype)
    dtype = np.dtype(dtype)
    quiet_bit = 1 << (np.finfo(dtype).nmant - 1)
    return x[~np.isnan(x) | ((x.view(UINT[dtype]) & UINT[dtype](quiet_bit)) != 0)]


def sample(dtype, shape, rng):
    """Random values of every magnitude, with every special value mixed in."""
    n = int(np.prod(shape))
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 3, n)).astype(dtype)
    specials = special_values(dtype)
    picks = rng.random(n) < 0.2
    x[picks] = rng.choice(specials, picks.sum())
    return x.reshape(shape)


def every_magnitude(n, rng, lo=-300, hi=300):
    """n float64s of random sign and mantissa, exponent uniform over 10**lo .. 10**hi."""
    return rng.choice([-1.0, 1.0], n) * rng.random(n) * 10.0 ** rng.uniform(lo, hi, n)


def layouts(x):
    """(name, view) pairs holding x's values in different memory layouts."""
    yield "C", x
    if x.ndim == 0:
        return
    yield "F", np.asfortranarray(x)
    yield "transposed", np.ascontiguousarray(x.T).T
    yield "reversed", np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    big = np.zeros(tuple(2 * n + 1 for n in x.shape), x.dtype)
    view = big[tuple(slice(1, None, 2) for _ in x.shape)]
    view[...] = x
    yield "strided", view
    if x.ndim == 4:  # the book's conv activations: reshape(N, H, W, C).transpose(0, 3, 1, 2)
        yield "conv", np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def sampled_layouts(dtype, shape, rng, label=""):
    """(context, view) pairs: one ``sample`` of dtype and shape in every memory layout, each
    with a context naming the dtype, shape, layout and label for assertion messages."""
    for name, x in layouts(sample(dtype, shape, rng)):
        yield f"{np.dtype(dtype)} {shape} {name} {label}", x
