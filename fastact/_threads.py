"""Which code runs a call, by size, and on how many threads: the one place this is decided.

Tiny arrays go through NumPy ufunc calls (the least call overhead), then the serial build
of a kernel, then the parallel build above a per-kernel threshold, on the cores other
processes leave free; never parallel where that is unsafe:
in a forked child (GNU OpenMP aborts a child that enters a parallel region its parent
started) or while another Python thread is inside a parallel region (numba's workqueue layer
aborts on concurrent use, and two OpenMP teams on two cores only oversubscribe).
"""

import contextlib
import os
import threading
import time

import numba

# Both tables: bytes of the first input array, per kernel, where the layers' medians cross
# on the 2-core machine kind (each path timed at the layer, interleaved with the others, so
# that the thread pool has gone idle as it does between a network's layers: waking it costs
# ~10 us here). In bytes, because the memory-bound kernels cross at one size in bytes for both
# dtypes; the sigmoid's exponential pays off sooner. "default" serves kernels not measured yet.

#: Up to this size the layers call NumPy ufuncs: a ufunc call allocates its output and runs
#: its loop in C, where the kernel path pays a numba dispatch (~1 us) and Python steps.
#: Relu.forward's ufunc path is two passes (its ufunc, and NumPy's x <= 0 for the mask) and
#: still wins to 256 KiB; Relu.backward's kernel writes in place and wins from 4 KiB.
UFUNC_MAX_BYTES = {
    "relu_forward": 256 * 1024,
    "relu_backward": 4 * 1024,
    "sigmoid_forward": 8 * 1024,
    "sigmoid_backward": 256 * 1024,
}

#: From this size a kernel runs its parallel build.
PARALLEL_MIN_BYTES = {
    "relu_forward": 512 * 1024,
    "relu_backward": 1024 * 1024,
    "sigmoid_forward": 256 * 1024,
    "sigmoid_backward": 512 * 1024,
    "default": 512 * 1024,
}

#: Elements per chunk of a parallel loop, handed to whichever thread is free next, when other
#: processes are seen using our cores (at least ``BUSY_CORES`` of one). Unloaded, each thread
#: takes one equal share: handing out chunks costs ~10% at 1M elements.
CHUNK_ELEMENTS = 8192
BUSY_CORES = 0.1

_parallel_lock = threading.Lock()
_forked = False
_num_threads = None  # None: numba's own default, NUMBA_NUM_THREADS


def _threading_layer_started():
    """Whether numba's thread pool (OpenMP, TBB or workqueue) has been launched in this process."""
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # a numba without this module: assume the worst
        return True
    return getattr(parallel, "_is_initialized", True)


def _after_fork_in_child():
    # Only a parent that started the thread pool leaves a child that must not enter a
    # parallel region; a process forked before any parallel call (a forkserver, a pool made
    # early) starts its own pool as usual.
    global _forked, _parallel_lock
    _forked = _forked or _parent_started_threads
    _parallel_lock = threading.Lock()


def _before_fork():
    global _parent_started_threads
    _parent_started_threads = _threading_layer_started()


_parent_started_threads = False
os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


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
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_forced_parallel = False


def run(pair, size, *args, per_iteration=1):
    """Call ``pair.serial(*args)`` or ``pair.parallel(*args)``, whichever is right for ``size``
    elements; the kernel's parallel loop handles ``per_iteration`` elements per iteration."""
    threshold = PARALLEL_MIN_BYTES.get(pair.name, PARALLEL_MIN_BYTES["default"])
    if size * args[0].itemsize < threshold or _forked or _num_threads == 1:
        pair.serial(*args)
        return
    wanted = _num_threads or numba.config.NUMBA_NUM_THREADS
    other = 0.0 if _forced_parallel else _other_load()
    wanted = min(wanted, int(_CPUS - other + 0.5))  # leave the cores others keep busy to them
    if wanted > 1 and _parallel_lock.acquire(blocking=False):
        try:
            if numba.get_num_threads() != wanted:  # numba's setting is per thread
                numba.set_num_threads(wanted)
            # Under load, small chunks handed out on demand, not one share per thread: when
            # another process takes a core, the thread that has one does most of the work
            # instead of waiting.
            chunk = max(1, CHUNK_ELEMENTS // per_iteration) if other >= BUSY_CORES else 0
            previous = numba.set_parallel_chunksize(chunk)
            try:
                pair.parallel(*args)
            finally:
                numba.set_parallel_chunksize(previous)
        finally:
            _parallel_lock.release()
    else:
        pair.serial(*args)


@contextlib.contextmanager
def forced(path):
    """Send every call in the block down one path: "ufunc", "serial" or "parallel".

    For checks and tests, which must cover each path whatever the array size.
    """
    global UFUNC_MAX_BYTES, PARALLEL_MIN_BYTES, _forced_parallel
    saved = UFUNC_MAX_BYTES, PARALLEL_MIN_BYTES, _forced_parallel
    UFUNC_MAX_BYTES = dict.fromkeys(UFUNC_MAX_BYTES, 10**18 if path == "ufunc" else -1)
    PARALLEL_MIN_BYTES = {"default": 0 if path == "parallel" else 10**18}
    _forced_parallel = path == "parallel"
    try:
        yield
    finally:
        UFUNC_MAX_BYTES, PARALLEL_MIN_BYTES, _forced_parallel = saved


def get_num_threads():
    """How many threads fastact's parallel kernels use."""
    return _num_threads or numba.config.NUMBA_NUM_THREADS


def set_num_threads(n):
    """Use ``n`` threads in parallel kernels (1 runs everything serially).

    At most ``NUMBA_NUM_THREADS`` (numba's pool size, set before import). The setting is
    process-wide: it holds for calls from every Python thread.
    """
    limit = numba.config.NUMBA_NUM_THREADS
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValueError(f"number of threads must be an int from 1 to NUMBA_NUM_THREADS={limit}, got {n!r}")
    _set(n)


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
