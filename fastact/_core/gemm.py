"""``np.dot(a, w.T) + bias`` in one BLAS call, bit for bit, for the Convolution's few-column
products: NumPy's own OpenBLAS ``dgemm``, called with beta = 1 over an output that already
holds the bias.

Why: ``np.dot`` calls ``dgemm`` with beta = 0, and OpenBLAS first zeroes the output in a pass
of its own, then adds the product's blocks into it; the book then adds the bias in another
pass. On the ConvNet's first layer (57600 x 25 times 25 x 30), measured alone in one process:
the three 5.8-6.9 ms, the fill of the bias rows and the beta = 1 call 4.9-5.0 ms.

Why the bits are the book's:

- With K no larger than OpenBLAS's inner block (``DGEMM_Q`` in its ``param.h``: 160-256 on
  the x86-64 targets), the kernel computes each output's dot product whole and adds it to C once:
  ``C = alpha * acc + C``, alpha = 1. NumPy's call gives ``+0.0 + acc`` and the book then adds
  the bias: ``(+0.0 + acc) + b``; here ``acc + b``. These differ only when acc is -0.0 and
  b is -0.0 (``+0.0 + -0.0`` is +0.0): biases holding a -0.0 take NumPy's path. (OpenBLAS's
  beta = 0 "small matrix" kernels store ``acc`` itself; ``acc + b`` is then the book's exactly.)
  K is held to ``MAX_K`` = 64, well inside those block sizes.
- Where both acc and b are NaN, which NaN's payload survives may differ (as for ``db``).
- NumPy checks the FP flags after ``np.dot`` and warns ("invalid value encountered in dot"
  for inf * 0); this call raises no warning. The values are the same.

Only NumPy's own bundled OpenBLAS is used (found among the loaded libraries by its place
under NumPy's install, Linux only), and only after a probe product on first use came out bit
for bit the same as ``np.dot(a, w.T) + bias``: anything else (another BLAS, neither of the
wheels' symbols, a failed probe) leaves the caller on NumPy's path (``dot_plus_bias`` returns
None).
"""

import ctypes
import os

import numpy as np

from . import openblas, threads, windows

#: The largest inner dimension taken here (see above).
MAX_K = 64
_F64 = np.dtype(np.float64)
_SERVED = (np.dtype(np.float32), _F64)
# CBLAS's enum values
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# NumPy 2's wheels (scipy-openblas64) and NumPy 1's (openblas64_): 64-bit integers, which the
# "64_" suffix names. No unsuffixed symbol is tried: its integer width cannot be told from its
# name, and a wrong one would hand dgemm garbage sizes before any probe could notice.
_SYMBOLS = ("scipy_cblas_dgemm64_", "cblas_dgemm64_")

_dgemm = None
_state = "untried"  # "untried", "ready" or "unusable"


def bundled_openblas():
    """The loaded OpenBLAS libraries that NumPy's wheel brought (under numpy/ or numpy.libs/)."""
    root = os.path.dirname(os.path.abspath(np.__file__))  # .../site-packages/numpy
    return [path for path in openblas.loaded_openblas() if path.startswith(root)]


def _numpy_openblas():
    """NumPy's bundled OpenBLAS's dgemm as a ctypes function, or None."""
    for path in bundled_openblas():
        lib = openblas.already_loaded(path)
        if lib is None:
            continue
        for name in _SYMBOLS:
            f = getattr(lib, name, None)
            if f is None:
                continue
            size, enum, real, pointer = ctypes.c_int64, ctypes.c_int, ctypes.c_double, ctypes.c_void_p
            f.argtypes = [enum, enum, enum, size, size, size, real, pointer, size, pointer, size, real, pointer, size]
            f.restype = None
            return f
    return None


def _call(a, w, out):
    """out += a @ w.T through dgemm (a: M x K, w: N x K, out: M x N, all C-contiguous float64)."""
    m, k = a.shape
    n = w.shape[0]
    _dgemm(_ROW_MAJOR, _NO_TRANS, _TRANS, m, n, k, 1.0, a.ctypes.data, k, w.ctypes.data, k, 1.0, out.ctypes.data, n)


def _fill(out, bias):
    threads.run(windows.FILL_ROWS, out.size, out, bias, per_iteration=out.shape[1])


def _probe():
    """True when the fused call gives NumPy's bits on a product like the ConvNet's."""
    m, k, n = 203, 25, 30  # rows past a multiple of every kernel's block, uneven columns
    a = np.sin(np.arange(m * k, dtype=np.float64)).reshape(m, k) * 3.0
    w = np.cos(np.arange(n * k, dtype=np.float64) * 0.7).reshape(n, k)
    bias = np.linspace(-1.0, 1.0, n) + 0.1
    expected = np.dot(a, w.T) + bias
    out = np.empty((m, n))
    _fill(out, bias)
    _call(a, w, out)
    return np.array_equal(out.view(np.int64), expected.view(np.int64))


def _ready():
    global _state, _dgemm
    if _state == "untried":
        _state = "unusable"
        try:
            _dgemm = _numpy_openblas()
            if _dgemm is not None and _probe():
                _state = "ready"
        except (OSError, ValueError, TypeError, AttributeError):
            _dgemm = None
    return _state == "ready"


def dot_plus_bias(a, w, bias):
    """``np.dot(a, w.T) + bias``, bit for bit, as a new C-contiguous float64 array, or None where
    this path does not apply (the caller takes NumPy's). a: (M, K) float64, w: (N, K) float32
    or float64, bias: (N,) float32 or float64.

    Only where NumPy's own call is the same dgemm: a single row or a single column is a
    matrix-vector product to NumPy (gemv, another summation), and a ``w`` that is not
    C-contiguous (``w.T`` neither C- nor F-contiguous, e.g. from a strided filter view) is
    copied by NumPy to C order and multiplied untransposed, another kernel."""
    if not (
        type(a) is np.ndarray
        and type(w) is np.ndarray
        and type(bias) is np.ndarray
        and a.dtype == _F64
        and w.dtype in _SERVED
        and bias.dtype in _SERVED
        and a.ndim == 2
        and w.ndim == 2
        and bias.shape == (w.shape[0],)
        and a.shape[1] == w.shape[1]
        and 0 < a.shape[1] <= MAX_K
        and a.shape[0] > 1
        and w.shape[0] > 1
        and a.flags.c_contiguous
        and w.flags.c_contiguous
        and a.flags.aligned
        and a.dtype.isnative
        and w.dtype.isnative
        and bias.dtype.isnative
    ):
        return None
    if np.any((bias == 0) & np.signbit(bias)) or not _ready():
        return None
    w = np.ascontiguousarray(w, dtype=_F64)  # NumPy's dot converts a float32 side the same way
    out = np.empty((a.shape[0], w.shape[0]))
    _fill(out, bias)
    _call(a, w, out)
    return out
