"""Cold start: what a first call compiles, checked by its mechanisms, never by a clock.

Each check runs in a fresh interpreter (a process's compiled kernels outlive any test), on this
session's numba cache: what is counted is what numba is asked to compile or load (a
dispatcher's ``signatures``, calls of ``jit.compile_folded``), the same on a warm cache as a cold
one. (numba's ``numba:compile`` event fires for a compile only, not for a load from its cache.)
"""

import time

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
    """A large float32 Relu compiles the float32 flat kernels' serial builds, which its
    parallel shares run, the shares' entry for those argument types and their one driver: no
    float64 signature, no ufunc; a small one then compiles nothing more."""
    code = """
import numpy as np
import fastact.layers as L
from fastact._core import threads
from fastact._core.kernels import KERNELS, _DRIVE, _SPREAD

k = KERNELS["relu"]
layer = L.Relu()
with threads.forced("parallel"):
    layer.backward(layer.forward(np.ones((200, 300), np.float32)))
from numba import types
def arrays(signature):
    for t in signature:
        if isinstance(t, types.BaseTuple):
            yield from arrays(t)
        elif isinstance(t, types.Array):
            yield str(t.dtype)
sig = lambda d: [tuple(arrays(s)) for s in d.signatures]
assert sig(k.forward.serial) == [("float32", "float32", "uint8")], sig(k.forward.serial)
assert sig(k.backward.serial) == [("float32", "uint8")], sig(k.backward.serial)
assert sig(k.forward.parallel) == sig(k.forward.serial) and sig(k.backward.parallel) == sig(k.backward.serial)
assert sorted(sig(_SPREAD)) == [("float32", "float32", "uint8"), ("float32", "uint8")], sig(_SPREAD)
assert [tuple(map(str, s)) for s in _DRIVE.signatures] == [("int64",) * 5], _DRIVE.signatures
assert "ufunc" not in vars(k) and "backward_ufunc" not in vars(k), "a ufunc was built"
with threads.forced("serial"):
    layer.backward(layer.forward(np.ones((200, 300), np.float32)))
assert len(k.forward.serial.signatures) == len(k.backward.serial.signatures) == 1
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
layouts = lambda: sorted(tuple(a.layout for a in s if hasattr(a, "layout")) for s in kernel.signatures)
for dst_order, src_view in [("F", src), ("C", np.asfortranarray(src)), ("F", src[:, :, ::-1]), ("C", src)]:
    dst = np.zeros(src.shape, order=dst_order)
    kernel(dst, src_view, 0, 1)
    np.testing.assert_array_equal(dst, src_view)
assert layouts() == [("A", "A"), ("A", "C"), ("C", "A"), ("C", "C")], layouts()
from numba.core.errors import TypingError
try:  # what numba cannot type still gets numba's own error, naming the argument
    kernel(np.asfortranarray(src), object(), 0, 1)
except TypingError as error:
    assert "argument 1" in str(error), error
else:
    raise AssertionError("no error")
print("ok")
"""
    assert run_python(code).stdout.strip().endswith("ok")


#: A process where fastact's parallel builds are chosen whatever else the machine is doing, with
#: a large Sigmoid input (8 MiB: parallel by size, past every default threshold).
_PARALLEL_BY_SIZE = """
import os, time
import numpy as np
import fastact
from fastact._core import jit, threads
from fastact._core.kernels import KERNELS
threads._other_load = lambda: 0.0   # however busy the machine is right now
jit.BACKGROUND.NICE = 0  # the checks wait for its builds: at 19 beside busy test workers, minutes
fastact.set_num_threads(2)
pair = KERNELS["sigmoid"].forward
x = np.linspace(-30, 30, 1 << 20)
"""

#: The same, with numba's disk cache taken as empty where a call would defer a build (the
#: suite's cache is warm, and a call loads a cached build itself: jit.load_cached).
_COLD = (
    _PARALLEL_BY_SIZE
    + "jit.load_cached = lambda dispatcher, exact: dispatcher.overloads.get(jit.folded(exact)) is not None\n"
)

#: Its environment: two threads, background compiling on (the suite turns it off: conftest).
_ON = {"NUMBA_NUM_THREADS": "2", "FASTACT_BACKGROUND_COMPILE": "1"}


def test_a_parallel_build_not_compiled_yet_is_compiled_in_the_background():
    """A call that picks the parallel build before it can run compiles the serial build (the
    code the parallel shares run) and runs it, and queues the shares' driver and entry, once
    however often it is asked for; calls run the serial build (the same bits) until they are
    compiled, at once (not through the parallel path's setup again), then the shares; and the
    thread, idle, ends."""
    code = (
        _COLD
        + """
from fastact._core.kernels import _DRIVE, _SPREAD
jit.BACKGROUND.QUIET_SECONDS = 3600  # hold the builds back while the calls are checked
jit.BACKGROUND.IDLE_SECONDS = 0.2
layer = fastact.Sigmoid()
first = layer.forward(x)
assert len(pair.serial.signatures) == 1, pair.serial.signatures
attempts = []
real = pair.parallel.launch
pair.parallel.launch = lambda *a: (attempts.append(1), real(*a))[1]
again = layer.forward(x)
layer.forward(x)
assert attempts == [], attempts
del pair.parallel.launch
assert _DRIVE.signatures == _SPREAD.signatures == [], _SPREAD.signatures
assert [entry[0] for entry in jit.BACKGROUND._queue] == [_DRIVE, _SPREAD], jit.BACKGROUND._queue
assert len(jit.BACKGROUND._pending) == 2
assert jit.BACKGROUND._thread.name == "fastact-compile"
jit.BACKGROUND.QUIET_SECONDS = 0.0
with jit.BACKGROUND._cv:
    jit.BACKGROUND._cv.notify_all()
assert jit.BACKGROUND.wait(240), "the builds were not compiled"
assert len(_DRIVE.signatures) == len(_SPREAD.signatures) == 1, _SPREAD.signatures
calls = []
real = pair.parallel.launch
pair.parallel.launch = lambda *a: (calls.append(1), real(*a))[1]
last = layer.forward(x)
assert calls == [1], calls
for y in (again, last):
    np.testing.assert_array_equal(y.view(np.int64), first.view(np.int64))
import threading  # with nothing left to compile, the thread ends
deadline = time.monotonic() + 60
while any(t.name == "fastact-compile" for t in threading.enumerate()) and time.monotonic() < deadline:
    time.sleep(0.05)
assert jit.BACKGROUND._thread is None, threading.enumerate()
assert not any(t.name == "fastact-compile" for t in threading.enumerate())
print("ok")
"""
    )
    assert run_python(code, env=_ON).stdout.strip().endswith("ok")


def test_a_build_in_numbas_cache_is_loaded_by_the_call_not_deferred(tmp_path):
    """Where numba's disk cache holds the builds (a first process compiled them), the first
    call loads them itself (milliseconds) and runs the parallel build at once: nothing is
    queued, nothing runs serial. A deferred build was queued even then, and the warm
    process's first steps ran the stand-ins and serial builds until the thread loaded it."""
    env = {**_ON, "NUMBA_CACHE_DIR": str(tmp_path)}
    fill = (
        _PARALLEL_BY_SIZE
        + """
jit.BACKGROUND.QUIET_SECONDS = 0.0
fastact.Sigmoid().forward(x)
assert jit.BACKGROUND.wait(240)
fastact.Sigmoid().forward(x)
print("ok")
"""
    )
    assert run_python(fill, env=env).stdout.strip().endswith("ok")
    warm = (
        _PARALLEL_BY_SIZE
        + """
from fastact._core.kernels import _DRIVE, _SPREAD
jit.BACKGROUND.QUIET_SECONDS = 3600
serial = []
real_serial = threads._serial
threads._serial = lambda *a: (serial.append(1), real_serial(*a))[1]
assert pair.serial.signatures == _DRIVE.signatures == _SPREAD.signatures == []
y = fastact.Sigmoid().forward(x)
assert serial == [], "the first call ran serial"
assert len(pair.serial.signatures) == len(_DRIVE.signatures) == len(_SPREAD.signatures) == 1
assert not jit.BACKGROUND._queue and not jit.BACKGROUND._pending, jit.BACKGROUND._queue
assert sum(pair.serial.stats.cache_hits.values()) == 1 and not pair.serial.stats.cache_misses
with threads.forced("serial"):
    np.testing.assert_array_equal(fastact.Sigmoid().forward(x).view(np.int64), y.view(np.int64))
print("ok")
"""
    )
    assert run_python(warm, env=env).stdout.strip().endswith("ok")


def test_a_serial_build_with_a_stand_in_is_compiled_in_the_background_ahead_of_parallel_ones():
    """Kernels with a NumPy stand-in (Pooling's) whose serial builds are not compiled run the
    stand-ins (the same bits) and queue the builds ahead of the parallel builds queued before
    them; once compiled, calls run them. A call forced down the serial build compiles it."""
    code = (
        _COLD
        + """
from fastact._core import windows
from fastact._core.rows import PAIRS
from fastact._core.kernels import _DRIVE, _SPREAD
jit.BACKGROUND.QUIET_SECONDS = 3600  # hold the builds back while the calls are checked
fastact.Sigmoid().forward(x)  # compiles its serial build, queues the driver and entry of its shares
layer = fastact.layers.Pooling(2, 2, 2)
image = np.random.default_rng(1).standard_normal((2, 3, 8, 8))
dout = np.random.default_rng(2).standard_normal((2, 3, 4, 4))
ahead = layer.forward(image)
first = layer.backward(dout)
forward, backward = windows.POOL_FORWARD, windows.POOL_BACKWARD_TILED
assert forward.serial.signatures == [] and backward.serial.signatures == [], backward.serial.signatures
queued = [entry[0] for entry in jit.BACKGROUND._queue]
assert queued == [forward.serial, backward.serial, _DRIVE, _SPREAD], queued
jit.BACKGROUND.QUIET_SECONDS = 0.0
with jit.BACKGROUND._cv:
    jit.BACKGROUND._cv.notify_all()
assert jit.BACKGROUND.wait(240), "the builds were not compiled"
assert len(forward.serial.signatures) == len(backward.serial.signatures) == 1
calls = []
real = backward.serial
backward.serial = lambda *a: (calls.append(1), real(*a))[1]
np.testing.assert_array_equal(layer.forward(image).view(np.int64), ahead.view(np.int64))
last = layer.backward(dout)
assert calls == [1], calls
np.testing.assert_array_equal(last.view(np.int64), first.view(np.int64))
y = np.full((4, 3), 1 / 3)
with threads.forced("serial"):
    threads.run(PAIRS.xent_backward_labels, y.size, y, np.arange(4) % 3, 4, np.empty_like(y))
assert len(PAIRS.xent_backward_labels.serial.signatures) == 1 and not jit.BACKGROUND._pending
print("ok")
"""
    )
    assert run_python(code, env=_ON).stdout.strip().endswith("ok")


def test_the_first_deferred_build_waits_for_the_callers_compiling_to_pause():
    """The caller that defers a build counts as compiling: the thread that its first deferral
    starts waits QUIET_SECONDS before it takes numba's lock (it had found the lock quiet, its
    lock watcher not yet registered, and took it from the caller's next compile). Calls that
    ask again for a build already queued do not count: a training loop asks on every step,
    and must not keep the thread waiting for good."""
    code = (
        _COLD
        + """
started = []  # when the thread takes each build (compiled, or loaded from numba's cache)
compile_folded = jit.compile_folded
jit.compile_folded = lambda *a: (started.append(time.monotonic()), compile_folded(*a))[1]
jit.BACKGROUND.QUIET_SECONDS = 1.5
fastact.layers.Pooling(2, 2, 2).forward(np.ones((2, 3, 8, 8)))  # queues its serial build, runs the stand-in
asked = time.monotonic()
assert jit.BACKGROUND.wait(240)
assert started and started[0] - asked >= 1.0, (started[:1], asked)
jit.BACKGROUND.QUIET_SECONDS = 3600  # (what is checked is the clock the thread waits on)
layer = fastact.Tanh()
layer.forward(x)  # its serial build compiles in the call; its shares' entry is queued
assert jit.BACKGROUND._pending
last = jit.BACKGROUND._last_other
for _ in range(20):
    layer.forward(x)  # asks for the queued build again, call after call
assert jit.BACKGROUND._last_other == last, "asking again counted as compiling"
print("ok")
"""
    )
    assert run_python(code, env=_ON).stdout.strip().endswith("ok")


def test_with_background_compiling_off_the_call_compiles_its_parallel_build():
    code = (
        _PARALLEL_BY_SIZE
        + """
from fastact._core.kernels import _DRIVE, _SPREAD
calls = []
real = pair.parallel.launch
pair.parallel.launch = lambda *a: (calls.append(1), real(*a))[1]
fastact.Sigmoid().forward(x)
assert calls == [1] and len(pair.serial.signatures) == 1
assert len(_DRIVE.signatures) == len(_SPREAD.signatures) == 1
assert jit.BACKGROUND._thread is None
print("ok")
"""
    )
    env = {"NUMBA_NUM_THREADS": "2", "FASTACT_BACKGROUND_COMPILE": "0"}
    assert run_python(code, env=env).stdout.strip().endswith("ok")


def test_a_fork_while_a_build_compiles_in_the_background_leaves_the_child_able_to_compile(tmp_path):
    """numba compiles under one lock; a child forked while the background thread holds it
    would inherit it held by a thread it does not have, and hang at its first compile. The
    fork waits for that build instead (``threads._before_fork``), and the child, without the
    thread, compiles its own builds. On an empty cache, so that the build takes a while."""
    code = (
        _PARALLEL_BY_SIZE
        + """
from numba.core.compiler_lock import global_compiler_lock
jit.BACKGROUND.QUIET_SECONDS = 0.0
# queues Pooling's serial build (about 1 s to compile; a parallel call's builds can be done
# before the loop below looks) and runs its stand-in
fastact.layers.Pooling(2, 2, 2).forward(np.ones((2, 3, 8, 8)))
deadline = time.monotonic() + 120
held = False
while jit.BACKGROUND._pending and time.monotonic() < deadline:
    if global_compiler_lock._lock.acquire(blocking=False):
        global_compiler_lock._lock.release()
        time.sleep(0.0005)
    else:
        held = True   # the background thread is compiling: fork now
        break
pid = os.fork()
if pid == 0:
    t = np.linspace(-3, 3, 1000)
    ok = np.array_equal(fastact.Relu().forward(t), np.where(t <= 0, 0.0, t))  # compiles Relu's ufunc
    os._exit(0 if ok and jit.BACKGROUND._thread is None and not jit.BACKGROUND.enabled else 1)
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
assert code == 0, code
print("forked while compiling:", held)
assert jit.BACKGROUND.wait(240)
print("ok")
"""
    )
    env = {**_ON, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = run_python(code, env=env, timeout=240).stdout
    assert out.strip().endswith("ok")
    assert "forked while compiling: True" in out, out  # (what the test is about happened)


def test_exit_while_a_build_compiles_in_the_background_is_clean(tmp_path):
    """At exit the build being compiled is finished and the rest dropped: no crash, no
    message, and what was finished is cached for the next process."""
    code = (
        _PARALLEL_BY_SIZE
        + """
jit.BACKGROUND.QUIET_SECONDS = 0.0
fastact.Sigmoid().forward(x)   # compiles its serial build, queues its shares' driver and entry
fastact.Tanh().forward(np.linspace(-3, 3, 1 << 21).astype(np.float32))  # the same in float32: a second entry
print("exiting")
"""
    )
    env = {**_ON, "NUMBA_CACHE_DIR": str(tmp_path)}
    result = run_python(code, env=env, timeout=240)
    assert result.stdout.strip() == "exiting" and result.stderr == "", result.stderr


def test_a_process_that_ends_before_its_background_starts_leaves_the_shares_cached(tmp_path):
    """A short process queues its builds (Relu's serial build, which a stand-in serves
    meanwhile, the shares' driver and entry) and ends before its background starts them
    (within QUIET_SECONDS of its last compile): it compiles them at exit, so the next
    process's first parallel call runs the shares, loaded from numba's cache, with nothing to
    queue (it ran the stand-in, process after process)."""
    first = (
        _PARALLEL_BY_SIZE
        + """
from fastact._core.kernels import _DRIVE, _SPREAD
jit.BACKGROUND.QUIET_SECONDS = 3600  # its background never starts a build
# (the exit's deadline is for the user's sake: beside busy test workers the serial build alone
# can take longer than it, and the driver and entry were then left to the next process)
jit.BACKGROUND.EXIT_COMPILE_SECONDS = 600
fastact.Relu().forward(x)  # (Relu: the cheapest kernel to compile on an empty cache)
fastact.Relu().forward(x)
pair = KERNELS["relu"].forward
assert [entry[0] for entry in jit.BACKGROUND._queue] == [pair.serial, _DRIVE, _SPREAD], jit.BACKGROUND._queue
print("exiting")
"""
    )
    second = (
        _PARALLEL_BY_SIZE
        + """
from fastact._core.kernels import _DRIVE, _SPREAD
jit.BACKGROUND.QUIET_SECONDS = 3600
fastact.Relu().forward(x)
assert len(_DRIVE.signatures) == len(_SPREAD.signatures) == 1, _SPREAD.signatures
assert not jit.BACKGROUND._queue and KERNELS["relu"].forward.waiting is None, jit.BACKGROUND._queue
print("ok")
"""
    )
    env = {**_ON, "NUMBA_CACHE_DIR": str(tmp_path)}
    result = run_python(first, env=env, timeout=240)
    assert result.stdout.strip() == "exiting" and result.stderr == "", result.stderr
    assert run_python(second, env=env, timeout=240).stdout.strip().endswith("ok")


def test_a_build_that_fails_in_the_background_is_compiled_by_its_callers_from_then_on():
    """Its error then reaches the caller as numba raises it, instead of being lost on the
    background thread."""
    code = """
from numba import types
from fastact._core import jit

class Failing:
    def compile(self, signature):
        raise RuntimeError("no build")

background = jit.Background(True)
background.QUIET_SECONDS = 0.0
failing, exact = Failing(), (types.float64,)
assert background.submit(failing, exact)
assert background.wait(60)
assert not background.submit(failing, exact)
assert background.submit(Failing(), exact)  # (another dispatcher is queued as before)
background._stop()
print("ok")
"""
    assert run_python(code).stdout.strip().endswith("ok")


def test_exit_waits_a_bounded_time_for_the_build_being_compiled():
    """A build that does not finish (here: a compile that sleeps) holds the exit up for
    ``EXIT_WAIT_SECONDS`` at most."""
    code = """
import time
from numba import types
from fastact._core import jit

class Slow:
    def compile(self, signature):
        time.sleep(120)

jit.BACKGROUND.QUIET_SECONDS = 0.0
jit.BACKGROUND.EXIT_WAIT_SECONDS = 0.5
assert jit.BACKGROUND.submit(Slow(), (types.float64,))
while jit.BACKGROUND._queue:  # until the thread took it
    time.sleep(0.01)
print("exiting", flush=True)
"""
    start = time.monotonic()
    result = run_python(code, env={"FASTACT_BACKGROUND_COMPILE": "1"}, timeout=100)
    assert result.stdout.strip() == "exiting"
    assert time.monotonic() - start < 60
