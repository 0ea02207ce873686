"""Stand-ins (``kernels.Pair.stand_in``): the NumPy functions that run in a kernel's place while
its serial build compiles in the background. Each must give the kernel's results bit for bit,
NaN payloads, signed zeros and the return value included: which one ran depends on timing;
and write nothing outside its outputs (each inside a canary buffer)."""

import numpy as np
import pytest

from fastact._core import rows, windows
from fastact._core.kernels import KERNELS, Pair
from fastact.testing.bits import assert_same_bits
from fastact.testing.canary import Canary
from fastact.testing.values import FLOATS, special_values


def _pairs_with_stand_ins():
    found = {p.name: p for p in vars(windows).values() if isinstance(p, Pair) and p.stand_in is not None}
    found.update({f"rows_{name}": getattr(rows.PAIRS, name) for name in rows._STAND_INS})
    for kernels in KERNELS.values():
        found.update({p.name: p for p in (getattr(kernels, a) for a, _ in kernels.act.stand_ins)})
    return found


def _sprinkled(shape, dtype, rng):
    """Random values of every sign and a wide range, with every special value in random places."""
    a = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(dtype)
    flat = a.reshape(-1)
    specials = special_values(dtype)
    where = rng.choice(flat.size, size=min(flat.size // 4, 3 * specials.size), replace=False)
    flat[where] = np.resize(specials, where.size)
    return a


#: (N, C, H, W, FH, FW, stride, pad): the ConvNets' layers, strides, padding, narrow and wide rows
_COL2IM_GEOMETRIES = [
    (2, 1, 28, 28, 5, 5, 1, 0),
    (2, 3, 9, 9, 3, 3, 2, 1),
    (2, 4, 7, 7, 3, 3, 1, 1),
    (1, 2, 10, 12, 3, 2, 1, 0),
    (2, 2, 6, 5, 2, 3, 3, 2),
]


def _im2col_calls(pair, rng):
    for n, c, h, w, fh, fw, stride, pad in _COL2IM_GEOMETRIES:
        oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
        for dtype in FLOATS:
            x = _sprinkled((n, c, h, w), dtype, rng)
            nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # a conv output's memory
            for flat, strides in [
                (x.reshape(-1), (c * h * w, h * w, w, 1)),
                (nhwc.reshape(-1), (h * w * c, 1, w * c, c)),
            ]:
                col = np.empty((n * oh * ow, c * fh * fw))
                yield (flat, col, n, c, h, w, *strides, fh, fw, stride, pad, oh, ow), (1,)


def _pool_forward_calls(pair, rng):
    # (N, C, H, W, PH, PW, stride, pad): the book's 2x2 (its straight-line body), overlapping,
    # padded, a 1x1 and windows of odd shapes
    for n, c, h, w, ph, pw, stride, pad in [
        (2, 5, 8, 8, 2, 2, 2, 0),
        (2, 3, 7, 9, 3, 3, 2, 1),
        (1, 4, 5, 5, 1, 1, 1, 0),
        (2, 2, 6, 7, 2, 3, 1, 1),
    ]:
        oh, ow = (h + 2 * pad - ph) // stride + 1, (w + 2 * pad - pw) // stride + 1
        for dtype in FLOATS:
            for x in (
                _sprinkled((n, c, h, w), dtype, rng),
                rng.choice(np.array([0.0, -0.0, 1.0], dtype), (n, c, h, w)),
            ):
                for src in (x.transpose(0, 2, 3, 1), np.ascontiguousarray(x.transpose(0, 2, 3, 1))):
                    out, arg_max = np.empty((n, oh, ow, c)), np.empty(n * oh * ow * c, np.intp)
                    yield (src, out, arg_max, ph, pw, stride, pad, oh, ow), (1, 2)


def _col2im_calls(pair, rng):
    for n, c, h, w, fh, fw, stride, pad in _COL2IM_GEOMETRIES:
        oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
        extra = (windows.runs_rows(c * fh * fw, oh, ow),) if pair is windows.COL2IM_RUNS else ()
        for dtype in FLOATS:
            col = _sprinkled((n * oh * ow, c * fh * fw), dtype, rng)
            yield (col, np.empty((n, c, h, w)), fh, fw, stride, pad, oh, ow, *extra), (1,)


def _pool_backward_tiled_calls(pair, rng):
    for n, c, oh, ow, ph, pw in [(2, 3, 4, 5, 2, 2), (1, 30, 12, 12, 2, 2), (2, 2, 3, 2, 3, 1)]:
        for dtype in FLOATS:
            dout = _sprinkled((n, c, oh, ow), dtype, rng)
            arg_max = rng.integers(0, ph * pw, n * oh * ow * c).astype(np.intp)
            yield (dout, arg_max, np.empty((n, oh * ph, ow * pw, c)), ph, pw, oh, ow), (2,)


def _xent_backward_labels_calls(pair, rng):
    for batch, n in [(100, 10), (7, 3), (5, 1000)]:
        for dtype in FLOATS:
            y = _sprinkled((batch, n), dtype, rng)
            for labels in (rng.integers(-n, n, batch), rng.integers(-2 * n, 2 * n, batch)):  # some outside
                yield (y, labels, batch, np.empty_like(y)), (3,)


def _relu_forward_calls(pair, rng):
    for size in (1, 7, 1000, 4099):
        for dtype in FLOATS:
            x = _sprinkled((size,), dtype, rng)
            yield (x, np.empty_like(x), np.empty(size, np.uint8), ()), (1, 2)


def _relu_backward_calls(pair, rng):
    for size in (1, 7, 1000, 4099):
        for dtype in FLOATS:
            yield (_sprinkled((size,), dtype, rng), rng.integers(0, 2, size).astype(np.uint8), ()), (0,)


def _column_sums_calls(pair, rng):
    # what conv.column_sums passes: C-contiguous (N, D), D > 1, one block of columns or several
    for n, d in [(100, 10), (7, 2), (3, 300), (57, 513), (1, 30)]:
        for dtype in FLOATS:
            yield (_sprinkled((n, d), dtype, rng), np.empty(d, dtype)), (1,)
            # signed zeros only: a column of -0.0 sums to +0.0 (from +0.0, as NumPy's sum)
            yield (rng.choice(np.array([-0.0, -0.0, 0.0], dtype), (n, d)), np.empty(d, dtype)), (1,)


def _rows_calls(pair, rng):
    # the bias rows of Affine and the GEMM's output: out (N, D) C-contiguous, b (D,) of its
    # dtype or, for float64 rows, float32 (the only mix the layers send)
    for n, d in [(100, 10), (5, 1), (3, 300), (57, 31)]:
        for dtype, bias in [(np.float32, np.float32), (np.float64, np.float64), (np.float64, np.float32)]:
            yield (_sprinkled((n, d), dtype, rng), _sprinkled((d,), bias, rng)), (0,)


#: For each pair with a stand-in: its calls, as (arguments, the positions of its outputs)
_CALLS = {
    "window_im2col": _im2col_calls,
    "window_pool_forward": _pool_forward_calls,
    "window_col2im": _col2im_calls,
    "window_col2im_runs": _col2im_calls,
    "window_pool_backward_tiled": _pool_backward_tiled_calls,
    "window_column_sums": _column_sums_calls,
    "window_add_rows": _rows_calls,
    "window_fill_rows": _rows_calls,
    "rows_xent_backward_labels": _xent_backward_labels_calls,
    "relu_forward": _relu_forward_calls,
    "relu_backward": _relu_backward_calls,
}


def test_every_stand_in_is_checked_here():
    assert set(_pairs_with_stand_ins()) == set(_CALLS)


@pytest.mark.parametrize("name", sorted(_CALLS))
def test_a_stand_in_gives_its_kernels_bits(name, rng):
    pair = _pairs_with_stand_ins()[name]
    calls = 0
    for args, outputs in _CALLS[name](pair, rng):
        mine = list(args)
        theirs = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        canaries = {i: Canary("C", args[i].shape, args[i].dtype, fill=args[i]) for i in outputs}
        for i, canary in canaries.items():  # each output inside a buffer of sentinel bytes
            mine[i] = canary.view
        with np.errstate(all="ignore"):
            got = pair.stand_in(*mine)
        expected = pair.serial(*theirs, 0, 1)
        assert got == expected, f"{name}: returned {got!r}, the kernel {expected!r}"
        for i in outputs:
            assert_same_bits(mine[i], theirs[i], f"{name} output {i}, {args[0].dtype}, shape {args[0].shape}")
            assert not canaries[i].outside_changed().size, f"{name} wrote outside output {i}"
        for i, a in enumerate(args):  # and the inputs untouched alike
            if i not in outputs and isinstance(a, np.ndarray):
                assert_same_bits(mine[i], theirs[i], f"{name} input {i}")
        calls += 1
    assert calls >= 6
