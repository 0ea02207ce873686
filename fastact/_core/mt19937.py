"""``np.random.rand``'s draw, bit for bit, in compiled code: Dropout's mask at 2.5x the speed.

The book's Dropout draws ``np.random.rand(*x.shape)`` from NumPy's global generator, and a
reader's seeded run must reproduce, so fastact draws the very same doubles and leaves the
generator in the very same state. NumPy's legacy global ``RandomState`` runs an MT19937 bit
generator whose state NumPy publishes (``bit_generator.ctypes.state_address``: the 624-word
key, then the position in it); the kernel here advances that state in place, as NumPy's C code
does:

- each double takes two 32-bit outputs ``a``, ``b``: ``((a >> 5) * 2**26 + (b >> 6)) / 2**53``
  (NumPy's ``mt19937_next_double``, which ``rand`` calls once per element, in C order);
- each output is a key word, tempered; after the 624th, the whole key is regenerated.

NumPy calls a function per double; here the key is tempered a block at a time in vector loops
(the book's (100, 100) draw: 54 -> 21 µs on the machine in the README).

Where this cannot be the same draw, :func:`rand_into` says so and the caller takes
``np.random.rand``: a global generator that is not MT19937 (``np.random.set_bit_generator``),
a patched ``np.random.rand``, or a state that does not read as the layout above (checked
against the generator's own ``state`` once per generator).
"""

import ctypes

import numpy as np
from numba import njit

from .jit import KERNEL
from .kernels import _cached

_N, _M = 624, 397
_MATRIX_A = np.uint32(0x9908B0DF)
_UPPER = np.uint32(0x80000000)
_LOWER = np.uint32(0x7FFFFFFF)
_U1, _U5, _U6 = np.uint32(1), np.uint32(5), np.uint32(6)


@njit(inline="always")
def _twist(upper, lower, far):
    y = (upper & _UPPER) | (lower & _LOWER)
    return far ^ (y >> _U1) ^ ((np.uint32(0) - (y & _U1)) & _MATRIX_A)


@njit(inline="always")
def _regenerate(key):
    # The second loop reads words the first has just rewritten (i + M - N < i): in order.
    for i in range(_N - _M):
        key[i] = _twist(key[i], key[i + 1], key[i + _M])
    for i in range(_N - _M, _N - 1):
        key[i] = _twist(key[i], key[i + 1], key[i + _M - _N])
    key[_N - 1] = _twist(key[_N - 1], key[0], key[_M - 1])


@njit(inline="always")
def _temper(y):
    y ^= y >> np.uint32(11)
    y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
    y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
    return y ^ (y >> np.uint32(18))


@njit(inline="always")
def _double(a, b):
    # a * 2**26 + b < 2**53: exact, and the division by a power of two too.
    return (np.int32(a >> _U5) * 67108864.0 + np.int32(b >> _U6)) / 9007199254740992.0


def _fill(key, position, r):
    # Outputs are tempered into `words` a block at a time (the rest of the key, or what r
    # still needs); a pair split by a regeneration keeps its first word at words[0].
    n = r.shape[0]
    words = np.empty(_N + 1, np.uint32)
    pos = position[0]
    have = 0
    i = 0
    while i < n:
        if pos == _N:
            _regenerate(key)
            pos = 0
        m = min(_N - pos, 2 * (n - i) - have)
        for j in range(m):
            words[have + j] = _temper(key[pos + j])
        pos += m
        total = have + m
        pairs = total >> 1
        for p in range(pairs):
            r[i + p] = _double(words[2 * p], words[2 * p + 1])
        i += pairs
        have = total & 1
        if have:
            words[0] = words[total - 1]
    position[0] = pos


_fill = _cached(njit, _fill, **KERNEL)

# The generator last checked, with its key and position as arrays over NumPy's own memory. The
# generator is held, so the memory stays valid while the views exist.
_checked = None


def _state_views(generator):
    global _checked
    if _checked is not None and _checked[0] is generator:
        return _checked[1]
    views = None
    if type(generator) is np.random.MT19937:
        address = generator.ctypes.state_address
        key = np.ctypeslib.as_array((ctypes.c_uint32 * _N).from_address(address))
        position = np.ctypeslib.as_array((ctypes.c_int32 * 1).from_address(address + 4 * _N))
        state = generator.state["state"]
        if np.array_equal(key, state["key"]) and int(position[0]) == int(state["pos"]):
            views = (key, position)
    _checked = (generator, views)
    return views


def rand_into(r):
    """Fill ``r`` (a C-contiguous float64 array) with what ``np.random.rand(*r.shape)`` would
    return now, advancing NumPy's global generator as that call would; False, with nothing
    drawn, where that cannot be guaranteed (the caller then calls ``np.random.rand``)."""
    rand = np.random.rand
    generator_owner = getattr(np.random.mtrand, "_rand", None)
    if getattr(rand, "__self__", None) is not generator_owner or getattr(rand, "__name__", None) != "rand":
        return False
    generator = getattr(generator_owner, "_bit_generator", None)
    views = _state_views(generator)
    if views is None:
        return False
    with generator.lock:  # what RandomState holds while it draws
        _fill(views[0], views[1], r.reshape(-1))
    return True
