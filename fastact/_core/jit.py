"""numba's decorators with the options every compiled helper and kernel of fastact takes.

No C-callable (``cfunc``) wrapper: numba builds one for each compiled function and signature,
for the case where it is passed around as a first-class function value, which fastact never
does (kernels are called from Python, helpers only from other compiled code). Leaving it out
is less to lower and to hand to LLVM per build: on a cold cache (Intel VM, 2 cores, with and
without in turns) the first SoftmaxWithLoss at (100, 10) compiled in 1.94-1.99 s instead of
2.28-2.37, and the first SimpleConvNet training step took 8.18-8.23 s instead of 8.76-8.94.

The helpers take ``error_model`` and ``fastmath`` from the kernel that compiles them (numba
inherits those flags); ``no_cfunc_wrapper`` is not inherited, so it is set on each.

What fastact changes in its kernels' dispatchers, on the path numba takes when a call finds no
build: F-ordered arrays take the any-layout build (``fold_layouts``), and a parallel build can
be compiled in the background while the caller runs the serial one (``Background``).
"""

import atexit
import os
import sys
import threading
import time

from numba import types
from numba.core import errors, event
from numba.core.compiler_lock import global_compiler_lock
from numba.core.typing.typeof import Purpose, typeof
from numba.extending import overload as _overload
from numba.extending import register_jitable as _register_jitable

#: Every helper (compiled code calls it; Python never does).
HELPER = {"no_cfunc_wrapper": True}

#: Every kernel called from Python: the GIL released (threads may call kernels at once);
#: error_model="numpy": Python's ZeroDivisionError check is an early loop exit that stops LLVM
#: from vectorizing any loop with a division in it.
KERNEL = {"nogil": True, "error_model": "numpy", "no_cfunc_wrapper": True}


def register_jitable(*args, **options):
    """``numba.extending.register_jitable`` (bare or with options), without a cfunc wrapper."""
    if len(args) == 1 and callable(args[0]) and not options:
        return _register_jitable(**HELPER)(args[0])
    return _register_jitable(*args, **{**HELPER, **options})


def overload(fn, jit_options=None, **options):
    """``numba.extending.overload``, its implementations without a cfunc wrapper."""
    return _overload(fn, jit_options={**HELPER, **(jit_options or {})}, **options)


def fold_layouts(dispatcher, background=False):
    """Make ``dispatcher`` compile a Fortran-ordered array argument as any-layout (``'A'``).

    numba compiles one specialization per argument type, and an array's layout is part of
    it: a kernel with three array arguments can have up to 27 builds of C, F and A. An F
    build gains nothing here: the kernels walk the last axis fastest, where an F array's
    stride is not one element either. So an F argument takes the A build (it reads any
    strides); C keeps its own, the one LLVM vectorizes. In the test suite, cold, the F builds
    were 70 of 1123 compilations, 26 of 278 s of compiling (Intel VM, 2 workers).

    Only the compile-or-not fallback changes, on this dispatcher alone: numba's ``typeof``,
    and the per-process table of array types behind it, are left as they are. The F types are
    then entered in the dispatcher's own table for the A build, so that the next such call
    dispatches without Python (0.26 us a call; through the fallback, 66 us).

    With ``background``, a call that finds no build raises ``Compiling`` instead, where the
    caller asked for that (``deferring``), and the build is compiled on a thread of its own
    (``Background``).
    """
    fallback = getattr(dispatcher, "_compile_for_args", None)
    if fallback is None:  # NUMBA_DISABLE_JIT=1: the plain Python function
        return dispatcher

    def compile_for_args(*args, **kws):
        try:
            exact = [typeof(a, Purpose.argument) for a in args]
        except (errors.NumbaValueError, ValueError):  # numba's fallback says what it cannot type
            exact = []
        if (
            background
            and exact
            and not kws
            and getattr(_asked, "defer", None)
            and defer(dispatcher, exact, first=_asked.defer == "first")
        ):
            raise Compiling(dispatcher)
        if kws or not any(_fortran(t) for t in exact):
            return fallback(*args, **kws)
        return compile_folded(dispatcher, exact)

    dispatcher._compile_for_args = compile_for_args
    return dispatcher


def _fortran(t):
    return isinstance(t, types.Array) and t.layout == "F" and t.ndim > 1


def folded(exact):
    """The argument types ``exact`` with F-ordered arrays as A: the build that serves them."""
    return tuple(t.copy(layout="A") if _fortran(t) else t for t in exact)


def compile_folded(dispatcher, exact):
    """Compile ``dispatcher`` for the argument types ``exact``, F-ordered arrays as A, and
    enter the exact types for that build; return its entry point."""
    serving = folded(exact)
    entry = dispatcher.compile(serving)
    if serving != tuple(exact):
        with global_compiler_lock:
            dispatcher._insert([t._code for t in exact], entry)
    return entry


#: (id(dispatcher), build types) whose disk-cache lookup missed: not looked up again (every
#: call asks until the build is compiled).
_not_cached = set()


def load_cached(dispatcher, exact):
    """Whether ``dispatcher`` has a build for ``exact`` (F-ordered arrays as A) now, loaded from
    numba's disk cache where it was not compiled yet, as numba's own ``compile`` starts.

    A build deferred to the background (``Compiling``) was queued there even where the cache
    held it: in a process whose cache was warm, the first SimpleConvNet steps then ran the
    stand-ins and serial builds until the background loaded them, once the process's
    compiling had been quiet for ``QUIET_SECONDS``: steps 2-5 took 76-107 ms against ~20 ms,
    and the last build came at 0.6-0.8 s (Intel VM). Loading takes milliseconds; only a build the
    cache lacks is worth the wait."""
    serving = folded(exact)
    key = (id(dispatcher), serving)
    if serving in dispatcher.overloads:
        return True
    cache = getattr(dispatcher, "_cache", None)
    if key in _not_cached or cache is None or not hasattr(cache, "load_overload"):
        return False
    with global_compiler_lock:
        if serving in dispatcher.overloads:
            return True
        cres = cache.load_overload(serving, dispatcher.targetctx)  # None for a NullCache too
        if cres is None:
            _not_cached.add(key)
            return False
        # What numba's Dispatcher.compile does with a build it found in the cache
        dispatcher._cache_hits[serving] += 1
        if not cres.objectmode:
            dispatcher.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
        dispatcher.add_overload(cres)
    return True


def defer(dispatcher, exact, first=False):
    """Queue ``dispatcher``'s build for ``exact`` on the compile thread unless numba's disk
    cache has it (then it is loaded now: ``load_cached``); True where it was queued, so that
    the caller raises ``Compiling`` and runs something else meanwhile."""
    return not load_cached(dispatcher, exact) and BACKGROUND.submit(dispatcher, exact, first=first)


def deferred():
    """Whether a build missing now would be deferred: the calling thread is ``deferring`` and
    the background takes builds (on, not stopping, not a forked child)."""
    return bool(getattr(_asked, "defer", None)) and BACKGROUND.enabled and not BACKGROUND._stopping


class Compiling(Exception):
    """A call found no build for its argument types; one is being compiled in the background."""


#: Per Python thread: whether this thread's kernel call asked for ``Compiling`` rather than
#: a compile (``deferring``).
_asked = threading.local()


class deferring:
    """``with deferring(): kernel(*args)`` raises ``Compiling`` where ``kernel`` (a dispatcher
    made with ``fold_layouts(..., background=True)``) has no build yet for ``args``' types and
    ``BACKGROUND`` compiles it: the caller runs something else meanwhile (``threads.run``: the
    serial build or a stand-in, the same bits). With ``first=True`` the build goes ahead of the
    queue: its callers run a stand-in, slower than a serial build."""

    __slots__ = ("mode",)

    def __init__(self, first=False):
        self.mode = "first" if first else "last"

    def __enter__(self):
        _asked.defer = self.mode

    def __exit__(self, *exc):
        _asked.defer = None


class Background:
    """One thread that compiles the builds calls have deferred, one at a time, each when the
    process's other compiling has been quiet for ``QUIET_SECONDS``.

    numba compiles under one process-wide lock, so a build compiled here while the caller's
    thread needs another would make that thread wait for both: the first training step, which
    compiles its serial builds one after another with milliseconds of work between them, would
    take as long as before. So the thread waits until no other thread has asked for numba's
    compiler lock for a while (numba reports every acquisition as an event).

    Off with ``FASTACT_BACKGROUND_COMPILE=0``: every build is then compiled by the call that
    needs it, as numba does. At exit the build being compiled is finished (rather than leave
    the thread inside LLVM while Python shuts down; ``EXIT_WAIT_SECONDS``), the exiting
    thread compiles what is queued for up to ``EXIT_COMPILE_SECONDS`` (``_stop``) and the rest
    is dropped. A fork waits for it (``threads._before_fork``, as for any thread's compile),
    and the child, which does not have this thread, compiles its builds itself.
    """

    #: Seconds without compiling elsewhere before a deferred build starts. The first ConvNet
    #: step's builds come one after another, milliseconds of work apart (Intel VM).
    QUIET_SECONDS = 0.3

    #: The thread's nice value (Linux): it compiles on what the process's own work leaves.
    #: The first 35 s of the SimpleConvNet from a cold cache ran 880-918 steps with this
    #: thread at 19, 831-863 at 10, 729-818 at 0 (two runs each, Intel VM, 2 cores: the steps
    #: and OpenBLAS's threads want both). Where other processes keep every core busy, its
    #: builds come late; calls run the serial builds meanwhile.
    NICE = 19

    #: Seconds with nothing queued after which the thread ends (the next deferral starts one).
    IDLE_SECONDS = 5.0

    #: At exit, the longest wait for the build being compiled. One takes 0.1-3 s with a core to
    #: itself, which an exiting process leaves it; where other processes keep every core busy
    #: the niced thread could take minutes, and is left (as a daemon thread; in 16 exits
    #: during a compile, left on purpose, every process exited cleanly).
    EXIT_WAIT_SECONDS = 10.0

    #: At exit, the seconds after which no further queued build is started (one started
    #: before runs to its end: 0.04-0.35 s for the shares' driver and entries, up to 1-3 s for
    #: a serial build). A process that ends before its background starts (within QUIET_SECONDS
    #: of its last compile) dropped what it had queued, and so did the next: every run of a
    #: short script ran its stand-ins and serial builds where the parallel ones serve. Now the
    #: next run loads them from numba's cache.
    EXIT_COMPILE_SECONDS = 2.0

    def __init__(self, enabled):
        self.enabled = enabled
        self._cv = threading.Condition()
        self._queue = []  # (dispatcher, exact types, key), oldest first, those asked first ahead
        self._urgent = 0  # how many of the queue's first entries were asked first
        self._pending = set()  # (id(dispatcher), exact types) queued or compiling
        self._failed = set()  # the same for builds that raised: their calls compile themselves
        self._thread = None
        self._stopping = False
        self._count_lock = threading.Lock()
        self._others = 0  # compiler-lock events of other threads: starts minus ends
        self._last_other = 0.0  # time.monotonic() of the last of them
        self._hooked = False
        #: Bumped whenever a queued build is done (compiled, failed or dropped): a caller that
        #: met a deferred build (``threads.run``) tries the parallel path again only then.
        #: Never reset (a forked child's bump tells its callers to compile for themselves).
        self.done = getattr(self, "done", 0) + 1

    def submit(self, dispatcher, exact, first=False):
        """Queue ``dispatcher``'s build for ``exact`` (``first``: ahead of the others); False
        where this process compiles it in the caller instead (off, stopping, a forked child,
        or it failed here before)."""
        key = (id(dispatcher), tuple(exact))
        with self._cv:
            if not self.enabled or self._stopping or key in self._failed:
                return False
            if key not in self._pending:
                # The caller counts as compiling now: it found a build missing, and the next
                # it needs may be missing too. (The first submit starts the thread, which would
                # otherwise find the lock quiet, its watcher not yet registered, and take it
                # from the caller's next compile: 0.75 s of a cold first ConvNet step, Intel
                # VM.) Not for a build already queued: every call asks again until it is
                # compiled, and would keep the thread waiting for good.
                self._last_other = time.monotonic()
                self._pending.add(key)
                self._queue.insert(self._urgent if first else len(self._queue), (dispatcher, tuple(exact), key))
                self._urgent += first
                self._start()
                self._cv.notify_all()
        return True

    def wait(self, timeout=None):
        """Block until every queued build is compiled (or ``timeout`` seconds); True if so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def _start(self):
        if self._thread is not None:
            return
        if not self._hooked:
            self._hooked = True
            event.register("numba:compiler_lock", _LockWatcher(self))
            atexit.register(self._stop)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=self._in_child)
        self._thread = threading.Thread(target=self._work, name="fastact-compile", daemon=True)
        self._thread.start()

    def _quiet_for(self):
        """Seconds until other threads' compiling has been quiet for QUIET_SECONDS (0: now)."""
        if self._others > 0:
            return self.QUIET_SECONDS
        return max(0.0, self._last_other + self.QUIET_SECONDS - time.monotonic())

    def _work(self):
        try:
            self._compile_queued()
        except BaseException:  # this loop's own error: its callers compile what is queued
            with self._cv:
                self._thread = None
                for _, _, key in self._queue:
                    self._failed.add(key)
                    self._pending.discard(key)
                self._queue.clear()
                self._urgent = 0
                self.done += 1
                self._cv.notify_all()
            raise

    def _compile_queued(self):
        try:  # Linux: this thread's own priority (POSIX elsewhere would lower the whole process)
            if sys.platform.startswith("linux"):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.NICE)
        except (AttributeError, OSError):
            pass
        while True:
            with self._cv:
                if not self._queue and not self._stopping:
                    self._cv.wait(self.IDLE_SECONDS)
                if self._stopping or not self._queue:  # idle: no thread left for a later fork
                    self._thread = None  # (decided under the lock: the next submit starts one)
                    return
                wait = self._quiet_for()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                dispatcher, exact, key = self._queue.pop(0)
                self._urgent = max(0, self._urgent - 1)
            try:
                compile_folded(dispatcher, exact)
            except BaseException:  # noqa: BLE001 - the caller's own compile will raise it
                with self._cv:
                    self._failed.add(key)
            finally:
                with self._cv:
                    self._pending.discard(key)
                    self.done += 1
                    self._cv.notify_all()

    def _stop(self):
        with self._cv:
            self._stopping = True
            kept = [(d, exact) for d, exact, _ in self._queue]  # (those asked first, first)
            self._queue.clear()
            self._urgent = 0
            self._pending.clear()
            self.done += 1
            self._cv.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.EXIT_WAIT_SECONDS)
            if thread.is_alive():  # (the cores are busy elsewhere: no more compiling now)
                return
        deadline = time.monotonic() + self.EXIT_COMPILE_SECONDS
        for dispatcher, exact in kept:
            if time.monotonic() > deadline:
                return
            try:
                compile_folded(dispatcher, exact)  # (cached on disk by numba)
            except BaseException:  # noqa: BLE001 - exiting (a Ctrl-C too): the next process compiles it
                return

    def _in_child(self):
        # The thread is not in the child (nor is numba's lock held: ``threads`` makes a fork
        # wait for any compile); the child compiles what it needs itself.
        self.__init__(False)
        self._hooked = True


class _LockWatcher(event.Listener):
    """Keeps ``Background`` informed of other threads' use of numba's compiler lock."""

    def __init__(self, background):
        self.background = background

    def _count(self, step):  # called on the thread that asks for the lock or gives it back
        bg = self.background
        if threading.current_thread() is not bg._thread:
            with bg._count_lock:
                bg._others += step
                bg._last_other = time.monotonic()

    def on_start(self, ev):  # before the acquisition
        self._count(1)

    def on_end(self, ev):  # after the release
        self._count(-1)


BACKGROUND = Background(os.environ.get("FASTACT_BACKGROUND_COMPILE", "1") != "0")


__all__ = [
    "BACKGROUND",
    "HELPER",
    "KERNEL",
    "Background",
    "Compiling",
    "compile_folded",
    "deferred",
    "deferring",
    "fold_layouts",
    "folded",
    "overload",
    "register_jitable",
]
