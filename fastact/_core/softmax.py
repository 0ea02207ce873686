"""``softmax`` and ``log_softmax`` over any axis, within 2 ULP of the true value.

Both are numerically stable for every input: no overflow and no floating-point warning for any
float input. Rows (1-D slices along ``axis``) holding a NaN or a +inf, and rows that are all
-inf, give NaN, as PyTorch 2.13 does; a -inf beside finite values gives 0 (log: -inf).

Float32 and float64 run compiled row kernels (``fastact._core.rows``; its docstring has the error
analysis). Accuracy against the true value, measured and tested (``tests/exactness/test_softmax.py``):
float32 (computed in float32, exps as float32 pairs) softmax within 1.1 ULP and log-softmax
within 0.95 ULP as worst-case bounds for rows shorter than 2**16 (measured 0.69 and 0.52);
float64 softmax within 1.6 ULP (0.5 + 4 x 0.26 + 1/32, 0.26 the measured error of the
exponential before its last rounding; measured 0.8), float64 log-softmax within 2.02 ULP as a
worst-case bound (glibc's log1p counted as 1 ULP), 1.0 measured, 2 tested.
Other dtypes follow NumPy's rules for the book's expression: integers give the dtype NumPy's
``exp`` gives them (int8/uint8 float16, int16/uint16 float32, wider float64), computed in float32
or float64 and rounded once; float16 is computed in float32 and rounded once; longdouble and
complex are computed by the book's NumPy expression. So are ndarray subclasses (masked arrays
keep their mask), 0-d input (1.0, as the book's expression gives) and everything while numba's
JIT is off (``NUMBA_DISABLE_JIT=1``: nothing can be compiled). A Dask array gives a lazy Dask
array, each block computed here where the axis lies whole in every chunk.
"""

import numba
import numpy as np

from .. import reference
from . import threads
from .rows import for_rows

try:
    from numpy.lib.array_utils import normalize_axis_index
except ImportError:  # NumPy < 2.0
    from numpy.core.multiarray import normalize_axis_index

AxisError = getattr(np, "exceptions", np).AxisError  # np.exceptions: NumPy >= 1.25

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

#: The proven bounds, in ULP of the true value (``fastact._core.rows`` derives them), per function
#: and dtype: what the tests and the self-check hold the kernels to.
ULP_BOUNDS = {
    ("softmax", "float32"): 1.1,
    ("log_softmax", "float32"): 0.95,
    ("softmax", "float64"): 1.6,
    ("log_softmax", "float64"): 2.02,
}


_JIT_OFF = numba.config.DISABLE_JIT  # read once: numba reads it once too, at import


def _result_dtype(dt, name):
    """The result's dtype for input dtype ``dt`` where the kernels compute it (in float32 or
    float64, rounded once to it), or None where NumPy's expression must (longdouble, complex)."""
    if dt.kind == "f" and dt.itemsize in (4, 8):
        return dt.newbyteorder("=")
    if dt.kind == "b" or dt.kind not in "iufc":
        raise TypeError(f"{name}: x must be a numeric array of real numbers (not bool), got dtype {dt}")
    if dt.kind in "iu":
        return np.result_type(dt, np.float16)  # NumPy's exp(int8) is float16, exp(int32) float64
    if dt == np.float16:
        return np.dtype(np.float16)
    return None  # longdouble, complex: NumPy's expression


def _is_dask(x):
    # Duck typing by the type's module: dask is imported only by its own users' arrays.
    return type(x).__module__.split(".", 1)[0] == "dask" and hasattr(x, "map_blocks") and hasattr(x, "chunks")


def _lazy(x, axis, out, log, name):
    """``name`` of a Dask array, lazily: each block computed by fastact where the axis lies whole
    in every chunk (a row never spans two blocks); a clear error where it does not."""
    if out is not None:
        raise TypeError(f"{name}: out= is not supported for a Dask array (the result is lazy)")
    if x.ndim == 0:
        raise ValueError(f"{name} needs at least one axis; got a 0-d Dask array")
    axis = normalize_axis_index(axis, x.ndim)
    dt = _result_dtype(np.dtype(x.dtype), name)
    if dt is None:
        dt = np.result_type(x.dtype, np.float16)
    if len(x.chunks[axis]) > 1:
        raise ValueError(
            f"{name}: the Dask array is split into {len(x.chunks[axis])} chunks along axis {axis}, "
            f"and each softmax row must lie whole in one chunk: call x.rechunk({{{axis}: -1}}) first"
        )
    return x.map_blocks(log_softmax if log else softmax, axis=axis, dtype=dt)


def _numpy(x, axis, log):
    # The book's expression along ``axis``, for the dtypes the kernels don't serve.
    if log:
        return reference.log_softmax(x, axis)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _by_rows(x, axis, out, name):
    """Run kernel ``name`` over the rows of ``x`` along ``axis``; the kernels' dtypes only."""
    n = x.shape[axis]
    xm = np.moveaxis(x, axis, -1)
    if not xm.flags.c_contiguous:
        xm = np.ascontiguousarray(xm)  # one strided copy, then unit-stride rows
    om = None
    if out is not None:
        om = np.moveaxis(out, axis, -1)
        if not om.flags.c_contiguous or (
            om is not xm and np.may_share_memory(om, xm) and om.__array_interface__ != xm.__array_interface__
        ):
            om = None
    target = om if om is not None else np.empty(xm.shape, x.dtype)
    if x.size:
        threads.run(for_rows(name, n), x.size, xm.reshape(-1, n), target.reshape(-1, n), per_iteration=n)
    if out is None:
        return np.moveaxis(target, -1, axis)
    if om is None:
        np.copyto(out, np.moveaxis(target, -1, axis))
    return out


def _along_axis(x, axis, out, log):
    name = "log_softmax" if log else "softmax"
    if (
        type(x) is np.ndarray
        and axis == -1
        and out is None
        and not _JIT_OFF
        and ((dt := x.dtype) is _F64 or dt is _F32)
        and x.flags.c_contiguous
        and x.flags.aligned
        and x.ndim
        and x.size
    ):
        # The common case in as few Python steps as possible.
        n = x.shape[-1]
        o = np.empty_like(x)
        threads.run(for_rows(name, n), x.size, x.reshape(-1, n), o.reshape(-1, n), per_iteration=n)
        return o
    if type(x) is not np.ndarray:
        if _is_dask(x):
            return _lazy(x, axis, out, log, name)
        if isinstance(x, np.ndarray) or np.ndim(x) == 0:
            # subclasses (the mask kept) and 0-d input (1.0): the book's expression itself
            return _numpy_checked(x, axis, out, log, name)
        x = np.asarray(x)
    if _JIT_OFF or x.ndim == 0:
        return _numpy_checked(x, axis, out, log, name)
    axis = normalize_axis_index(axis, x.ndim)
    dt = _result_dtype(x.dtype, name)
    if out is not None and type(out) is not np.ndarray and isinstance(out, np.ndarray):
        # a subclass as out (a masked array): computed, then written into it by NumPy
        _check_out(out, x, dt, name)
        np.copyto(out, _along_axis(x, axis, None, log))
        return out
    if out is not None:
        _check_out(out, x, dt, name)
    if dt is None:
        with np.errstate(all="ignore"):
            r = _numpy(x, axis, log)
        if out is None:
            return r
        np.copyto(out, r)
        return out
    if dt == np.float16:
        r = _by_rows(x.astype(_F32), axis, None, name).astype(np.float16)
    elif dt == _F32 and x.dtype != _F32:  # int16/uint16: exact in float32
        r = _by_rows(x.astype(_F32), axis, None, name)
    else:
        if x.dtype != dt or not x.flags.aligned:
            x = x.astype(dt)  # ints -> float64; byte-swapped or unaligned -> native copy
        if out is not None and out.dtype.isnative and out.flags.aligned:
            return _by_rows(x, axis, out, name)
        r = _by_rows(x, axis, None, name)
    if out is None:
        return r
    np.copyto(out, r)
    return out


def _check_out(out, x, dt, name):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: out must be a NumPy array, got {type(out).__name__}")
    if out.shape != np.shape(x):
        raise ValueError(f"{name}: out has shape {out.shape}, expected {np.shape(x)}")
    want = dt if dt is not None else np.result_type(x.dtype, np.float16)
    if out.dtype != want:
        raise TypeError(f"{name}: out has dtype {out.dtype}, the result is {want}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: out is read-only")


def _numpy_checked(x, axis, out, log, name):
    """The book's expression, after the checks the kernels' path makes (dtype, axis, out)."""
    dt = _result_dtype(np.asarray(x).dtype if not isinstance(x, np.ndarray) else x.dtype, name)
    ndim = np.ndim(x)
    axis = normalize_axis_index(axis, ndim) if ndim else axis
    if out is not None:
        _check_out(out, x, dt, name)
    if type(x) is np.ndarray and dt is not None and (x.dtype != dt or dt == np.float16):
        # plain arrays as the kernels compute them (the same values with the JIT on or off):
        # ints converted before the subtraction (the book's int8 x - max wraps around),
        # float16 in float32, rounded once
        x = x.astype(_F32 if dt.itemsize <= 4 else dt)
    with np.errstate(all="ignore"):
        r = _numpy(x, axis, log)
        if dt is not None and r.dtype != dt:
            r = r.astype(dt)
    if out is None:
        return r
    np.copyto(out, r)
    return out


def softmax(x, axis=-1, out=None):
    """exp(x - max) / sum(exp(x - max)) along ``axis``, for any float input without overflow.

    Float32: within 1.1 ULP of the true value; float64: within 1.6 ULP (see the module
    docstring). A row holding NaN or +inf, or all -inf, gives NaN (as PyTorch).
    """
    return _along_axis(x, axis, out, False)


def log_softmax(x, axis=-1, out=None):
    """(x - max) - log(sum(exp(x - max))) along ``axis``, accurate near 0 too (log1p).

    Float32: within 0.95 ULP of the true value; float64: within 2 ULP (tested). A row
    holding NaN or +inf, or all -inf, gives NaN (as PyTorch); -inf beside finite values gives -inf.
    """
    return _along_axis(x, axis, out, True)
