"""Which build of a kernel runs a call, and on how many threads.

Serial below a size threshold, parallel above it, and never parallel where that is unsafe:
in a forked child (GNU OpenMP aborts a child that enters a parallel region its parent
started) or while another Python thread is inside a parallel region (numba's workqueue layer
aborts on concurrent use, and two OpenMP teams on two cores only oversubscribe).
"""

import contextlib
import os
import threading

import numba

#: Fewest elements for which a call runs the parallel build; the one place this is decided.
PARALLEL_MIN_SIZE = 32768

_parallel_lock = threading.Lock()
_forked = False
_num_threads = None  # None: numba's own default, NUMBA_NUM_THREADS


def _after_fork_in_child():
    global _forked, _parallel_lock
    _forked = True
    _parallel_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def run(pair, size, *args):
    """Call ``pair.serial(*args)`` or ``pair.parallel(*args)``, whichever is right for ``size``."""
    if size < PARALLEL_MIN_SIZE or _forked or _num_threads == 1:
        pair.serial(*args)
    elif _parallel_lock.acquire(blocking=False):
        try:
            wanted = _num_threads or numba.config.NUMBA_NUM_THREADS
            if numba.get_num_threads() != wanted:  # numba's setting is per thread
                numba.set_num_threads(wanted)
            pair.parallel(*args)
        finally:
            _parallel_lock.release()
    else:
        pair.serial(*args)


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
