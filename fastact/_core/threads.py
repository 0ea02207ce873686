"""Which code runs a call, by size, and on how many threads: the one place this is decided.

Tiny arrays go through NumPy ufunc calls (the least call overhead), then the serial build of a
kernel, then the parallel build above a per-kernel size, on the cores other processes leave
free; never parallel where that is unsafe: in a forked child (GNU OpenMP aborts a child that
enters a parallel region its parent started) or while another Python thread is inside a
parallel region (numba's workqueue layer aborts on concurrent use, and two OpenMP teams on
two cores only oversubscribe).

The sizes come from, in order: ``python -m fastact tune`` (measured on this machine, cached
in the user's cache directory), else defaults derived from each kernel's declared cost.

Inside a network, a parallel region sits between BLAS calls. GNU OpenMP's idle workers spin
for a while after each region, waiting for more work, and OpenBLAS's do the same after each
matmul: on two cores each pool steals the core the other needs (a ConvNet's conv backward ran
1.3x slower next to spinning OpenMP workers). So, unless the user chose a policy, numba's
OpenMP pool is started with a short spin (``OPENMP_SPIN_SECONDS``: tens of microseconds, then
the workers sleep; see ``_start_pool``), and OpenBLAS's workers spin 2**20 cycles instead of 2**28
after each call (see ``openblas``).
"""

import contextlib
import ctypes
import hashlib
import importlib
import importlib.util
import json
import operator
import os
import platform
import sys
import threading
import time
import warnings

import llvmlite.ir
import numba
import numba.extending
import numpy as np

from . import jit, openblas

#: Up to this many bytes of input the layers call NumPy ufuncs, per op (``relu_forward``...);
#: from ``PARALLEL_MIN_BYTES`` on a kernel runs its parallel build. Entries measured by
#: ``python -m fastact tune`` override the defaults (``default_thresholds``).
UFUNC_MAX_BYTES = {}
PARALLEL_MIN_BYTES = {}

#: Elements per chunk of a parallel loop, handed to whichever thread is free next, when other
#: processes are seen using our cores (at least ``BUSY_CORES`` of one). Unloaded, each thread
#: takes one equal share: handing out chunks costs ~10% at 1M elements.
CHUNK_ELEMENTS = 8192
BUSY_CORES = 0.1


def default_thresholds(op, cost):
    """(ufunc max bytes, parallel min bytes) for an op whose element formula costs ``cost``
    vector operations (1 for a select, ~40 for an exp and a division).

    A ufunc call beats a kernel dispatch (~1 us of Python and numba) while the work is a few
    microseconds: ~64 KiB of a memory-bound op, less the more arithmetic per byte. A parallel
    region pays a wake-up of the sleeping pool (10-30 us on the machines measured) and must
    halve work worth several times that: ~1 MiB of a memory-bound op (measured crossovers:
    512 KiB - 1 MiB on two machine kinds), a quarter of it for arithmetic-heavy ones.
    Backward ops declare their own cost (Sigmoid's is two multiplies, its forward's an exp).
    """
    return max(4096, 65536 // cost), (1 << 20) // min(cost, 4)


#: The tables' parallel thresholds hold while the pool is awake: called back to back, a
#: parallel region costs ~3 us more than the loop. Its workers sleep ``POOL_AWAKE_SECONDS``
#: after a region (measured with 17 us of spin, before ``OPENMP_SPIN_SECONDS``); then a
#: region pays their wake-up, ~55 us on the Intel VM (65-125 us on the AMD VM), and shares
#: the cores with whatever spins there, as OpenBLAS's workers do right after a matmul, where
#: every activation of a network runs. So from asleep, kernels run in parallel only from
#: ``ASLEEP_PARALLEL_MIN_BYTES``. Measured on the 2-core Intel VM, serial time over parallel
#: time of the kernel, medians, each call right after a threaded matmul / after 0.5 ms idle /
#: back to back: softmax (100, 1000) float32 (390
#: KiB) 0.53x / 0.77x / 1.87x, float64 (781 KiB) 0.72x / 0.83x / 1.90x, (256, 1000) float32
#: (1000 KiB) 0.76x / 1.23x / 2.08x; SiLU float64 at 512 KiB 0.67x / 0.96x, at 1 MiB 1.29x /
#: 1.30x; Sigmoid float32 at 512 KiB 0.50x / 0.62x; softmax (100, 1000) float32 after a busy
#: gap of 20 us 1.80x, of 50 us 0.78x. Inside the bench's silu_mlp step (float64, (100, 512)
#: activations, 400 KiB) the SiLU forward took 0.21 ms in parallel against 0.12 serial.
ASLEEP_PARALLEL_MIN_BYTES = 1 << 20
POOL_AWAKE_SECONDS = 20e-6
_awake_until = 0.0  # time.perf_counter() until which a call counts as back to back (pool awake)


def thresholds(op, cost):
    """(ufunc max bytes, parallel min bytes) for ``op``: tuned values, else the defaults."""
    default = default_thresholds(op, cost)
    return UFUNC_MAX_BYTES.get(op, default[0]), PARALLEL_MIN_BYTES.get(op, default[1])


#: Bumped whenever a threshold table changes, so that callers may cache what they read.
generation = 0


# --- measured thresholds, per machine ----------------------------------------------------------


def cpu_name():
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine_key():
    """What a tuning is valid for: the CPU, the cores we may use, numba's version."""
    text = f"{cpu_name()}|{_CPUS}|{numba.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tuning_path():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastact", f"thresholds-{machine_key()}.json")


def load_tuning(path=None):
    """Use the thresholds ``python -m fastact tune`` saved for this machine, if any."""
    try:
        with open(path or tuning_path()) as f:
            saved = json.load(f)
        UFUNC_MAX_BYTES.update({k: int(v) for k, v in saved["ufunc_max_bytes"].items()})
        PARALLEL_MIN_BYTES.update({k: int(v) for k, v in saved["parallel_min_bytes"].items()})
        global generation
        generation += 1
        return True
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False  # none saved, or unreadable: the defaults serve


# --- the thread pool ---------------------------------------------------------------------------

_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_forked = False
_parallel_broken = None  # why parallel kernels cannot run here (set once, warned once)
_num_threads = None  # None: numba's own default, NUMBA_NUM_THREADS
_forced_parallel = False
_forced_serial = False


def _pool_started():
    """Whether numba's thread pool (OpenMP, TBB or workqueue) has been launched in this process."""
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # a numba without this module: assume the worst
        return True
    return getattr(parallel, "_is_initialized", True)


#: How long numba's idle OpenMP workers spin before they sleep. Sleeping at once
#: (``OMP_WAIT_POLICY=PASSIVE`` alone) made every parallel region pay the sleeping worker's
#: wake-up: 65-125 us on the AMD VM, a ReLU forward at 1M float32 230-330 us instead of
#: 140-180 in a loop; GNU's default (300000 iterations, ~10 ms) takes the core OpenBLAS needs
#: after each region. With ~60 us (2000 iterations there), the ConvNets' and the GELU MLP's
#: steps were the same or 1-3% faster than passive (ten pairs of processes, taking turns), and
#: a kernel called again within the spin finds its worker awake (3 us a region).
OPENMP_SPIN_SECONDS = 60e-6

#: GNU OpenMP counts its spin in iterations of a loop around one x86 ``pause``, whose latency
#: is the CPU's: ~30 ns on the AMD VM (Zen 4), 8.6 ns on the Intel VM, where 2000 iterations
#: were 17 us and a parallel region called again 5-20 us after the last one paid a wake-up (a
#: LeakyReLU forward at 1M float32 through ``run`` in a loop: 196-222 us a call at 2000, 173-180
#: at 20000). So the count is ``OPENMP_SPIN_SECONDS`` over the pause's time, measured once per
#: process (``openmp_spin_count``), two significant digits, within these bounds; this count
#: where it cannot be measured (not x86). On the Intel VM (7000 iterations against 2000): the
#: bench's 1M and conv cases 1.05-1.3x faster (Sigmoid forward float32 365 -> 268 us, SELU
#: backward 342 -> 263), the networks' steps the same within the noise (two runs of
#: ``bench --section networks --quick`` each, taking turns: step ratios to the book's within
#: +-5% either way, no network slower in both).
OPENMP_SPIN_COUNT = 2000
OPENMP_SPIN_COUNT_BOUNDS = (1000, 30000)
_spin_count = None


def openmp_spin_count():
    """GNU OpenMP's spin count (``GOMP_SPINCOUNT``) for ``OPENMP_SPIN_SECONDS`` on this CPU."""
    global _spin_count
    if _spin_count is None:
        pause = _pause_seconds()
        if pause is None:
            _spin_count = OPENMP_SPIN_COUNT
        else:
            count = OPENMP_SPIN_SECONDS / pause
            count = round(count, 2 - len(str(int(count))))  # two significant digits
            lo, hi = OPENMP_SPIN_COUNT_BOUNDS
            _spin_count = int(min(max(count, lo), hi))
    return _spin_count


def _pause_seconds():
    """The time of one x86 ``pause`` (the best of a few timed loops), None elsewhere."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return None
    from numba.core.errors import NumbaError

    from .kernels import _cached

    try:
        loop = _cached(numba.njit, _pauses)
        loop(1)
    except (NumbaError, RuntimeError, OSError):  # no x86 intrinsic in this LLVM, no compiler
        return None
    n, best = 4096, float("inf")
    for _ in range(5):
        start = time.perf_counter()
        loop(n)
        best = min(best, time.perf_counter() - start)
    return best / n


def _pauses(n):
    for _ in range(n):
        _pause()


@numba.extending.intrinsic
def _pause(typingctx):
    def codegen(context, builder, signature, args):
        fnty = llvmlite.ir.FunctionType(llvmlite.ir.VoidType(), [])
        builder.call(builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=fnty), [])
        return context.get_dummy_value()

    return numba.types.none(), codegen


def _start_pool():
    """Launch numba's thread pool, its OpenMP workers spinning briefly when idle unless the
    user chose.

    libgomp reads ``OMP_WAIT_POLICY`` and ``GOMP_SPINCOUNT`` once, in its constructor, when it
    is loaded; it has no API for the spin count. So fastact loads it itself first (the same
    library numba's OpenMP pool then links to: the dynamic linker keeps one copy of a file),
    with the two variables set only in the C environment and only around that ``dlopen``
    (see ``_dlopen_with``): ``os.environ`` never holds them, no Python thread runs while they
    are set, and nothing else (no thread start, no compile) happens inside that window. Then
    numba starts its pool. libgomp takes the spin count over the policy; other OpenMP runtimes
    see neither. Users who set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` themselves get
    exactly what they set.

    Where another library loaded its own libgomp first (PyTorch ships one and loads it with
    global symbols at ``import torch``), numba's pool would bind to that runtime, started with
    GNU's default spin (~10 ms of a core after every region), whatever fastact sets: so numba's
    OpenMP pool is loaded with ``RTLD_DEEPBIND`` instead, binding to the libgomp it was built
    against, loaded then with fastact's settings; the other library keeps its own runtime and
    its own settings (``private_openmp``).
    """
    global _pool_ready, _next_start
    _shorten_blas_spin()
    if _pool_started():
        _pool_ready = _blas_spin_tried  # from now on run() skips this call
        # ... else, while other Python threads run (a Jupyter kernel's always do), run() calls
        # it again only every BLAS_RETRY_SECONDS: on every call it cost 0.5-1.3 us of each
        # parallel call (softmax's backward at (100, 1000) float32: 16.4-16.8 us without
        # another thread, 17.2-17.8 with one; Intel VM)
        _next_start = time.monotonic() + BLAS_RETRY_SECONDS
        return
    from numba.np.ufunc import parallel

    chosen = any(name in os.environ for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
    # (the count compiles its timing loop: here, not inside the dlopen window)
    ours = {} if chosen else {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": str(openmp_spin_count())}
    try:
        if private_openmp() and _omp_layer_next(parallel):
            _load_pool_privately(ours)
        elif not chosen and numba.config.THREADING_LAYER in ("default", "omp"):
            _dlopen_with(ours, LIBGOMP, os.RTLD_NOW | os.RTLD_GLOBAL)
    except (OSError, AttributeError, ImportError) as error:  # no libc dlopen/setenv, no libgomp
        warnings.warn(f"fastact: could not set OpenMP's idle spin ({error})", RuntimeWarning, stacklevel=4)
    parallel._launch_threads()


#: The name numba's OpenMP pool asks the dynamic linker for (GNU OpenMP's soname).
LIBGOMP = "libgomp.so.1"
#: ``FASTACT_OPENMP=shared`` (read at fastact's first parallel call) lets numba's OpenMP pool
#: run on whichever libgomp another library loaded first, as numba alone does.
OPENMP_VARIABLE = "FASTACT_OPENMP"
_private_pool = None  # the path of numba's OpenMP pool module when fastact loaded it privately


def loaded_libgomp():
    """The GNU OpenMP runtimes mapped into this process (paths, sorted; Linux only)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if "libgomp" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/") and ".so" in os.path.basename(p))


def private_openmp():
    """Whether numba's OpenMP pool is (to be) loaded on a libgomp of its own: when another
    library's libgomp is already in the process before numba's pool starts, on Linux, unless
    ``FASTACT_OPENMP=shared`` or ``LD_PRELOAD`` is set (a module loaded with ``RTLD_DEEPBIND``
    binds its own ``malloc``/``free`` to libc's, past a preloaded allocator)."""
    if _private_pool is not None:
        return True
    if _pool_started() or not hasattr(os, "RTLD_DEEPBIND"):
        return False
    if os.environ.get(OPENMP_VARIABLE, "").strip().lower() == "shared":
        return False
    if os.environ.get("LD_PRELOAD"):  # a preloaded malloc (jemalloc...): DEEPBIND would bypass it
        return False
    return bool(loaded_libgomp())


def _omp_layer_next(parallel):
    """Whether numba's pool, started now, would be its OpenMP layer (the same choice as
    ``numba.np.ufunc.parallel._launch_threads``: the layer named, else the first of the
    priority list that loads)."""
    layer = str(numba.config.THREADING_LAYER).lower()
    if layer == "omp":
        return True
    if layer != "default":
        return False
    for backend in numba.config.THREADING_LAYER_PRIORITY:
        if backend == "omp":
            return True
        if backend == "tbb":
            try:
                parallel._check_tbb_version_compatible()
                importlib.import_module("numba.np.ufunc.tbbpool")
            except (ImportError, AttributeError, OSError):
                continue
            return False
        return False  # workqueue first
    return False


def _load_pool_privately(settings):
    """Load numba's OpenMP pool module (before numba imports it: the import then finds it
    loaded) with ``RTLD_DEEPBIND``: its calls into OpenMP bind to the libgomp it links to, which
    the dynamic linker loads now as a second copy beside the other library's (a different
    file), reading ``settings``; without DEEPBIND they would bind to the first libgomp with
    global symbols."""
    global _private_pool
    path = importlib.util.find_spec("numba.np.ufunc.omppool").origin
    _dlopen_with(settings, path, os.RTLD_NOW | os.RTLD_LOCAL | os.RTLD_DEEPBIND)
    _private_pool = path


def openmp_runtime():
    """The file of the GNU OpenMP runtime numba's parallel regions run on, or None before numba's
    OpenMP pool is loaded (or with another threading layer, or where this cannot be told)."""
    try:
        path = importlib.util.find_spec("numba.np.ufunc.omppool").origin
        libc = ctypes.CDLL(None)
        pool = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_NOW)
    except (OSError, AttributeError, ImportError):
        return None
    dlsym, dladdr = libc.dlsym, libc.dladdr
    dlsym.argtypes, dlsym.restype = [ctypes.c_void_p, ctypes.c_char_p], ctypes.c_void_p
    dladdr.argtypes, dladdr.restype = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)], ctypes.c_int
    # A module loaded with DEEPBIND binds to its own dependencies first; any other to the first
    # definition with global symbols, else its own dependencies' (what ld.so does).
    scopes = [pool._handle] if _private_pool else [None, pool._handle]  # None: RTLD_DEFAULT
    for scope in scopes:
        address = dlsym(scope, b"GOMP_parallel")
        info = _DlInfo()
        if address and dladdr(address, ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode())
    return None


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _dlopen_with(settings, name, flags):
    """dlopen ``name`` with ``settings`` in the C environment, and only for that call.

    Each step is a call into libc through ``ctypes.PyDLL``, which keeps the GIL during the call,
    and the switch interval is raised for the three steps, so no other Python thread runs
    (none can read the environment or start a subprocess that inherits it) until they are
    unset; ``os.environ`` (Python's copy) is never touched. What remains: a thread outside
    Python reading the C environment during the dlopen (about a millisecond), which includes a
    subprocess another thread forks then (CPython forks without the GIL): it can inherit them
    (seen once in CI; tests/concurrency_and_processes/test_openmp_pool.py).
    """
    libc = ctypes.PyDLL(None)
    setenv, unsetenv, dlopen = libc.setenv, libc.unsetenv, libc.dlopen
    setenv.argtypes, setenv.restype = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int], ctypes.c_int
    unsetenv.argtypes, unsetenv.restype = [ctypes.c_char_p], ctypes.c_int
    dlopen.argtypes, dlopen.restype = [ctypes.c_char_p, ctypes.c_int], ctypes.c_void_p
    names = [name.encode() for name in settings]
    values = [value.encode() for value in settings.values()]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        try:
            for key, value in zip(names, values):
                setenv(key, value, 1)
            handle = dlopen(name.encode(), flags)
        finally:
            # (an interrupt landing here leaves the pool unstarted: the next parallel call
            # comes back here, and unsets them)
            for key in names:
                unsetenv(key)
    finally:
        sys.setswitchinterval(interval)
    if not handle:
        raise OSError(f"{name} could not be loaded")


_blas_spin_tried = False
_pool_ready = False  # the pool runs and the BLAS spin was seen to: nothing left for _start_pool
_next_start = 0.0  # time.monotonic() from which run() calls _start_pool again while not ready
BLAS_RETRY_SECONDS = 0.2


def _shorten_blas_spin():
    """Once per process, at a moment only this Python thread runs (``openblas``)."""
    global _blas_spin_tried
    if _blas_spin_tried:
        return
    try:
        # None: another thread runs, so it is tried again at the next parallel call
        _blas_spin_tried = openblas.shorten_idle_spin() is not None
    except (OSError, AttributeError, ValueError) as error:  # an OpenBLAS unlike the ones known
        _blas_spin_tried = True
        warnings.warn(f"fastact: could not shorten OpenBLAS's idle spin ({error})", RuntimeWarning, stacklevel=4)


def _compiler_lock():
    try:
        from numba.core.compiler_lock import global_compiler_lock
    except ImportError:  # another numba's internals: nothing to hold
        return None
    return getattr(global_compiler_lock, "_lock", None)


def _before_fork():
    # A child forked while another thread compiles or loads a kernel would inherit numba's
    # compiler lock, and LLVM's own mutexes, held by a thread that does not exist in the
    # child: its first compile would wait for ever. So a fork waits until no thread is
    # inside numba's compiler (one compile at most), holding its lock across the fork.
    global _parent_started_threads, _held_for_fork
    _parent_started_threads = _pool_started()
    lock = _compiler_lock()
    _held_for_fork = lock is not None and lock.acquire(timeout=60)


def _after_fork_in_parent():
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        _compiler_lock().release()


def _after_fork_in_child():
    # Only a parent that started the thread pool leaves a child that must not enter a
    # parallel region; a process forked before any parallel call (a forkserver, a pool made
    # early) starts its own pool as usual.
    global _forked
    _forked = _forked or _parent_started_threads
    _slot.clear()  # the thread that held it does not exist in the child
    _after_fork_in_parent()  # the child's copy of the compiler lock is this thread's too


_parent_started_threads = False
_held_for_fork = False
os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


class _OtherLoad:
    """How many of this process's CPUs other processes keep busy, from /proc/stat.

    With the other core of two busy, a parallel region waits for whichever thread the
    scheduler parks (milliseconds); running serially on the free core costs at most 2x.
    Sampled at most every ``interval`` seconds; 0 where /proc/stat is not available.
    """

    interval = 0.2

    def __init__(self):
        self.sample = None  # (monotonic time, busy seconds of our CPUs, our own CPU seconds)
        self.cores = 0.0

    def __call__(self):
        now = time.monotonic()
        last = self.sample
        if last is not None and now - last[0] < self.interval:
            return self.cores
        busy = self._busy_seconds()
        if busy is None:
            return 0.0
        own = time.process_time()
        if last is not None and now - last[0] < 5 * self.interval:  # else start a fresh window
            self.cores = max(0.0, ((busy - last[1]) - (own - last[2])) / (now - last[0]))
        self.sample = (now, busy, own)
        return self.cores

    @staticmethod
    def _busy_seconds():
        try:
            cpus = {f"cpu{i}".encode() for i in os.sched_getaffinity(0)}
            with open("/proc/stat", "rb") as f:
                lines = [line.split() for line in f if line.startswith(b"cpu")]
        except (OSError, AttributeError):
            return None
        ticks = 0
        for fields in lines:
            if fields[0] in cpus:  # user nice system idle iowait irq softirq steal
                values = [int(v) for v in fields[1:9]]
                ticks += sum(values) - values[3] - values[4]
        return ticks / os.sysconf("SC_CLK_TCK")


_other_load = _OtherLoad()


#: The parallel slot: ``{0: ident}`` while the thread ``ident`` may run a parallel region,
#: empty while it is free. Who holds it is kept here, not in a local variable: an exception
#: raised asynchronously (a KeyboardInterrupt from a signal handler, which Python runs between
#: any two bytecodes) can land just after a lock's acquire returned and before its result was
#: stored, or inside the ``finally`` that releases it, and a lock would then stay held for good
#: (every later call silently serial). Taking the slot is one atomic step (``dict.setdefault``
#: under the GIL); a thread that finds the slot already its own (an interrupted release of its
#: own: signal handlers run in the main thread only) simply takes it again.
_slot = {}


def _parallel_unusable(error):
    """Remember (and say once) that parallel kernels can't run here; serial ones still do."""
    global _parallel_broken
    _parallel_broken = str(error)
    warnings.warn(
        f"fastact: numba's parallel kernels cannot run in this process ({error}); "
        "fastact runs its serial kernels instead",
        RuntimeWarning,
        stacklevel=3,
    )


_deferring_first = jit.deferring(first=True)


def run(pair, size, *args, per_iteration=1):
    """Call ``pair.serial(*args, 0, 1)`` or ``pair.parallel(*args, 0, parts)``, whichever is
    right for ``size`` elements of ``args[0]``'s dtype, and return what it returns; the
    kernel's parallel loop handles ``per_iteration`` elements per iteration. ``pair.op`` and
    ``pair.cost`` name its thresholds."""
    global _awake_until
    limits = pair.limits  # (generation, parallel min bytes): reading the tables costs ~0.4 us
    if limits[0] != generation:
        limits = pair.limits = (generation, thresholds(pair.op, pair.cost)[1])
    nbytes = size * args[0].itemsize
    if nbytes < limits[1] or _forked or _num_threads == 1 or _parallel_broken is not None:
        if pair.serial_ran:  # (the book's sizes: not one call more than they need)
            return pair.serial(*args, 0, 1)
        return _serial(pair, args)
    if nbytes < ASLEEP_PARALLEL_MIN_BYTES and not _forced_parallel and time.perf_counter() > _awake_until:
        # Not right after another kernel: the pool's wake-up would cost more than it saves.
        # Right after this one, the next call takes the pool (a loop wakes it once).
        try:
            return _serial(pair, args)
        finally:
            _awake_until = time.perf_counter() + POOL_AWAKE_SECONDS
    if pair.waiting == jit.BACKGROUND.done:
        # Its parallel path is still waiting for a background build: the serial path at
        # once. (Through the parallel path's setup and the deferral's exception, each call
        # cost 8 us more: softmax's backward at (100, 1000) float32, 30 us against the serial
        # build's 22, in every short process, which ends before the build starts; Intel VM.)
        return _serial(pair, args)
    wanted = _num_threads or numba.config.NUMBA_NUM_THREADS
    other = 0.0 if _forced_parallel else _other_load()
    wanted = min(wanted, int(_CPUS - other + 0.5))  # leave the cores others keep busy to them
    me = threading.get_ident()
    try:
        if wanted < 2 or _slot.setdefault(0, me) != me:
            return _serial(pair, args)
        if not _pool_ready and time.monotonic() >= _next_start:
            try:
                _start_pool()
            except (ValueError, ImportError, OSError) as error:  # e.g. NUMBA_THREADING_LAYER=tbb
                _parallel_unusable(error)  # without TBB installed
                return _serial(pair, args)
        # A share per thread; under load, shares of about CHUNK_ELEMENTS (whole iterations of
        # the kernel's loop) dealt one at a time: when another process takes a core, the
        # thread that has one does most of the work. (The driver sets numba's thread count and
        # chunk size for the call and restores them: the user's own numba code keeps its.)
        loaded = other >= BUSY_CORES
        parts = max(wanted, min(size // per_iteration, size // CHUNK_ELEMENTS)) if loaded else wanted
        done = jit.BACKGROUND.done  # (read before: a build done meanwhile makes the next call try again)
        try:
            # not compiled yet (deferred): the serial build now (or its stand-in), the same bits (below)
            return pair.parallel.launch(args, parts, wanted, 1 if loaded else 0, not _forced_parallel)
        except jit.Compiling:
            pair.waiting = done
        finally:
            _awake_until = time.perf_counter() + POOL_AWAKE_SECONDS
    finally:
        if _slot.get(0) == me:
            _slot.pop(0, None)
    # The shares' driver or entry is being compiled on another thread (``jit.Background``), or
    # the serial build is missing: the serial path compiles it (or queues it and runs the stand-in).
    return _serial(pair, args)


def _serial(pair, args):
    """``pair.serial(*args, 0, 1)``; where the pair has a stand-in (``kernels.Pair``) and its
    serial build is not compiled yet, the stand-in, the same bits, while the background
    compiles it ahead of the parallel builds (the stand-ins are slower than a serial build: a
    step of the ConvNet 69-84 ms against 27). A cold first SimpleConvNet step compiled the
    serial builds of its window kernels and SoftmaxWithLoss's backward, 3.7 s of its 6 s,
    before its training could go on (float64, Intel VM)."""
    if pair.serial_ran or _forced_serial:  # a test that forces a build means that build
        return pair.serial(*args, 0, 1)
    try:
        with _deferring_first:
            result = pair.serial(*args, 0, 1)
    except jit.Compiling:
        with np.errstate(all="ignore"):  # a kernel never warns (a NaN compared, a signalling NaN)
            return pair.stand_in(*args)
    # From now on the serial build is called straight: the deferral cost 0.2-0.6 us of
    # SoftmaxWithLoss's 8-9 us at the book's (100, 10) (Intel VM). Another dtype's first call
    # then compiles its serial build in the call, as without a stand-in.
    pair.serial_ran = True
    return result


@contextlib.contextmanager
def forced(path):
    """Send every call in the block down one path: "ufunc", "serial" or "parallel".

    For checks and tests, which must cover each path whatever the array size.
    """
    global UFUNC_MAX_BYTES, PARALLEL_MIN_BYTES, _forced_parallel, _forced_serial, generation
    saved = UFUNC_MAX_BYTES, PARALLEL_MIN_BYTES, _forced_parallel, _forced_serial
    generation += 1
    UFUNC_MAX_BYTES = _Everything(10**18 if path == "ufunc" else -1)
    PARALLEL_MIN_BYTES = _Everything(1 if path == "parallel" else 10**18)
    _forced_parallel = path == "parallel"
    _forced_serial = path == "serial"
    try:
        yield
    finally:
        UFUNC_MAX_BYTES, PARALLEL_MIN_BYTES, _forced_parallel, _forced_serial = saved
        generation += 1


class _Everything(dict):
    """A threshold table with one value for every op."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def get(self, key, default=None):
        return self.value

    def __getitem__(self, key):
        return self.value


def get_num_threads():
    """How many threads fastact's parallel kernels use."""
    return _num_threads or numba.config.NUMBA_NUM_THREADS


def set_num_threads(n):
    """Use ``n`` threads in parallel kernels (1 runs everything serially).

    At most ``NUMBA_NUM_THREADS`` (numba's pool size, set before import). The setting is
    process-wide: it holds for calls from every Python thread. It is fastact's own: numba's
    ``numba.set_num_threads`` for the user's code is left as it is.
    """
    limit = numba.config.NUMBA_NUM_THREADS
    try:
        value = operator.index(n)  # ints and NumPy integers, not floats or strings
    except TypeError:
        value = None
    if isinstance(n, bool) or value is None or not 1 <= value <= limit:
        raise ValueError(f"number of threads must be an int from 1 to NUMBA_NUM_THREADS={limit}, got {n!r}")
    _set(value)


def _set(n):
    global _num_threads
    _num_threads = n


@contextlib.contextmanager
def num_threads(n):
    """``with fastact.num_threads(1): ...`` runs the block with ``n`` threads, then restores."""
    previous = _num_threads
    set_num_threads(n)
    try:
        yield
    finally:
        _set(previous)


load_tuning()
