"""OpenBLAS's idle spin, shortened: the other half of the thread-pool story told in ``threads``.

After each threaded call OpenBLAS keeps its worker threads spinning (``sched_yield`` in a
loop) for 2**28 CPU cycles, about 0.1 s, in case another call comes. Inside a network every
``np.dot`` is followed well within that time by fastact's parallel kernels, which then share
their cores with the spinner. Measured on 2 cores: the deep ConvNet's second ``col2im`` took
1.8x as long right after the matmul that feeds it as alone, and numba's dynamic scheduling
did not help (the spinner slows both threads).

OpenBLAS reads the spin's length (2**n cycles, n from 4 to 30) from
``OPENBLAS_THREAD_TIMEOUT`` when it is loaded, which NumPy does before fastact is imported.
So, at fastact's first parallel call, unless the user set that variable, each OpenBLAS loaded
in the process re-reads its environment with the variable set to ``SPIN_EXPONENT``
(``openblas_read_env``) and stops its workers (``blas_thread_shutdown_``, what OpenBLAS's own
fork handler calls); its next call starts them again, spinning 2**20 cycles (~0.3 ms at
3.5 GHz): long enough for back-to-back matmuls (the MLPs lost up to 2x with 2**4, 10-25%
with 2**18), short enough to be over before the kernel after a matmul has gone far.

Stopping OpenBLAS's workers while another thread is inside a BLAS call could break that call,
so this happens only while the calling thread is the process's only Python thread (a script,
``python -m fastact``); elsewhere (a Jupyter kernel has helper threads) it is skipped, and
setting ``OPENBLAS_THREAD_TIMEOUT=20`` before starting Python does the same, safely. Linux
only (loaded libraries are found in ``/proc/self/maps``); NumPy builds without OpenBLAS are
left alone.
"""

import ctypes
import os
import threading

#: The spin after each OpenBLAS call, as OpenBLAS takes it: 2**SPIN_EXPONENT CPU cycles.
SPIN_EXPONENT = 20
_VARIABLE = "OPENBLAS_THREAD_TIMEOUT"


def loaded_openblas():
    """Every OpenBLAS shared library mapped into this process (paths; Linux only)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/") and ".so" in os.path.basename(p))


def already_loaded(path):
    """The library at ``path`` through ctypes when the process has it loaded (nothing is
    loaded here), else None."""
    try:
        return ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return None


def _controls(path):
    """The library at ``path`` when it has the three entry points used here, else None."""
    lib = already_loaded(path)
    if lib is None:
        return None
    names = ("openblas_thread_timeout", "openblas_read_env", "blas_thread_shutdown_")
    return lib if all(hasattr(lib, name) for name in names) else None


def set_spin(lib, exponent):
    """Make ``lib`` (from ``_controls``) spin 2**exponent cycles after each call, from its next
    call on: it re-reads its environment with the variable set, then stops its workers (the
    call OpenBLAS's own fork handler makes). The environment is restored at once."""
    os.environ[_VARIABLE] = str(exponent)
    try:
        lib.openblas_read_env()
    finally:
        del os.environ[_VARIABLE]  # subprocesses and later readers see nothing
    lib.blas_thread_shutdown_()


def shorten_idle_spin():
    """Give each loaded OpenBLAS a ``SPIN_EXPONENT`` spin where the user chose none; returns
    the paths of the libraries changed, or None while another Python thread runs (one could
    be inside a BLAS call): nothing was tried, try again later."""
    if threading.active_count() != 1:
        return None
    if _VARIABLE in os.environ:
        return []
    changed = []
    for path in loaded_openblas():
        lib = _controls(path)
        if lib is None or lib.openblas_thread_timeout() != 0:  # 0: not set when it loaded
            continue
        set_spin(lib, SPIN_EXPONENT)
        changed.append(path)
    return changed
