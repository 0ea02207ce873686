"""Cold start: what a first call compiles, checked by its mechanisms, never by a clock.

Each check runs in a fresh interpreter (a process's compiled kernels outlive any test), on this
session's numba cache: what is counted is what numba is asked to compile or load (its
``numba:compile`` events, a dispatcher's ``signatures``), the same on a warm cache as a cold one.
"""

from fastact.testing.processes import run_python

#: Prints the py_func names numba compiled (or loaded) for a block of code.
_LISTEN = """
from numba.core import event
compiled = []
class _Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(getattr(ev.data["dispatcher"], "py_func", ev.data["dispatcher"]).__name__)
    def on_end(self, ev):
        pass
event.register("numba:compile", _Listener())
"""


def test_importing_fastact_compiles_nothing():
    code = (
        _LISTEN
        + """
import fastact, fastact.layers, fastact.functions, fastact.ufuncs
import fastact.layers.dense, fastact.layers.conv, fastact.layers.losses
import fastact._tools.cli
print("compiled:", compiled)
"""
    )
    assert run_python(code).stdout.strip().endswith("compiled: []")


def test_a_float32_call_compiles_only_its_dtype_and_build():
    """A large float32 Relu compiles the parallel float32 flat kernels, and no float64 signature,
    no serial build, no ufunc; a small one then the serial build alone, float32 again."""
    code = """
import numpy as np
import fastact.layers as L
from fastact._core import threads
from fastact._core.kernels import KERNELS

k = KERNELS["relu"]
layer = L.Relu()
with threads.forced("parallel"):
    layer.backward(layer.forward(np.ones((200, 300), np.float32)))
from numba import types
sig = lambda d: [tuple(str(a.dtype) for a in s if isinstance(a, types.Array)) for s in d.signatures]
assert sig(k.forward.parallel) == [("float32", "float32", "uint8")], sig(k.forward.parallel)
assert sig(k.backward.parallel) == [("float32", "uint8")], sig(k.backward.parallel)
assert k.forward.serial.signatures == [] and k.backward.serial.signatures == []
assert "ufunc" not in vars(k) and "backward_ufunc" not in vars(k), "a ufunc was built"
with threads.forced("serial"):
    layer.backward(layer.forward(np.ones((200, 300), np.float32)))
assert sig(k.forward.serial) == [("float32", "float32", "uint8")], sig(k.forward.serial)
assert len(k.forward.parallel.signatures) == 1
print("ok")
"""
    assert run_python(code).stdout.strip().endswith("ok")


def test_main_timing_table_is_short():
    """``python -m fastact``'s table times the book's own layers (Relu, Sigmoid), both dtypes,
    the book's size and 1M: 16 rows, not every activation of the registry (112 rows, about 30 s
    of the first run); ``python -m fastact bench`` times the rest."""
    code = """
import contextlib, io
from fastact._tools import bench, cli
bench.measure = lambda case, **kw: {"fastact": 1e-6, "seed": 2e-6}  # the rows, not their times
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    cli.timing_table()
rows = [line.split() for line in buf.getvalue().splitlines() if line.strip().endswith("x")]
assert len(rows) == 16, rows
assert {r[0] for r in rows} == {"relu.forward", "relu.backward", "sigmoid.forward", "sigmoid.backward"}
print("ok")
"""
    assert run_python(code).stdout.strip().endswith("ok")


def test_a_fortran_ordered_argument_takes_the_any_layout_build():
    """An F-ordered array compiles no build of its own: it runs the A build (any strides),
    which then serves F and A arrays alike, with the same values; C keeps its own build."""
    code = """
import numpy as np
from fastact._core.kernels import COPY_4D

kernel = COPY_4D.serial
src = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
layouts = lambda: sorted(tuple(a.layout for a in s) for s in kernel.signatures)
for dst_order, src_view in [("F", src), ("C", np.asfortranarray(src)), ("F", src[:, :, ::-1]), ("C", src)]:
    dst = np.zeros(src.shape, order=dst_order)
    kernel(dst, src_view)
    np.testing.assert_array_equal(dst, src_view)
assert layouts() == [("A", "A"), ("A", "C"), ("C", "A"), ("C", "C")], layouts()
from numba.core.errors import TypingError
try:  # what numba cannot type still gets numba's own error, naming the argument
    kernel(np.asfortranarray(src), object())
except TypingError as error:
    assert "argument 1" in str(error), error
else:
    raise AssertionError("no error")
print("ok")
"""
    assert run_python(code).stdout.strip().endswith("ok")
