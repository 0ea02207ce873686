"""Compiled kernels, built from the activation registry on first use.

Each activation gets flat kernels (one pass over 1-D arrays: forward, backward), each run
serially or on shares of its loop on numba's threads (``Pair``, ``Shares``), and NumPy ufuncs
of its element formulas for the functional API and for layouts the flat kernels don't cover.
Nothing is compiled before it is called; ``cache=True`` makes later processes load instead
of compile.
"""

import contextlib
import hashlib
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit, prange, types, vectorize
from numba._dispatcher import compute_fingerprint as _fingerprint
from numba.core import cgutils
from numba.core.callconv import excinfo_t
from numba.core.typing.typeof import Purpose, typeof
from numba.extending import intrinsic

from ..activations import REGISTRY
from . import jit, ufunc_loop
from .jit import KERNEL, fold_layouts, register_jitable
from .libm64 import inline_here

#: The dtypes the compiled kernels serve; everything else takes a NumPy path.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _source_tag():
    """A hash of the compiled code's sources, part of each cached kernel's name.

    numba's cache is keyed on the kernel's own file and name, not on the formulas it inlines
    from other modules: with the tag, an edited formula can never be served stale. Every
    module of ``_core`` is hashed (not a list of the ones that hold formulas, which would go
    stale itself), and the registry, which picks the formulas; editing the layers, the tooling
    or the docs keeps the cache.
    """
    try:
        here = Path(__file__).parent
        files = [*sorted(here.glob("*.py")), here.parent / "activations.py"]
        sources = b"".join(f.read_bytes() for f in files)
    except OSError:  # sources not on disk (a zipped install): numba cannot cache there anyway
        return "nosource"
    return hashlib.sha256(sources).hexdigest()[:12]


_SOURCE_TAG = _source_tag()


def ufunc_signatures(*args):
    """One signature per kernel dtype; "T" stands for it: ("T", "boolean") gives
    ``["float32(float32, boolean)", "float64(float64, boolean)"]``."""
    return [f"{dt.name}({', '.join(dt.name if a == 'T' else a for a in args)})" for dt in KERNEL_DTYPES]


@intrinsic
def wide_vectors(typingctx):
    """Let LLVM vectorize the enclosing loop with 512-bit vectors where the CPU has them.

    LLVM's default for AVX-512 CPUs prefers 256-bit vectors; the compute-bound sigmoid runs
    about 1.5x faster at 512. A no-op call: it only sets the attribute of the function it is
    compiled into (a kernel's serial build, which the parallel shares also run).
    """

    def codegen(context, builder, signature, args):
        return _prefer_width(context, builder, 512)

    return types.none(), codegen


def _prefer_width(context, builder, bits):
    """Ask for ``bits``-bit vectors in the function being built (0: leave LLVM's choice)."""
    if bits:  # llvmlite only validates attribute names it knows; this one is passed through as is
        set.add(builder.function.attributes, f'"prefer-vector-width"="{bits}"')
    return context.get_dummy_value()


@intrinsic
def vector_width(typingctx, bits):
    """``wide_vectors`` for a width given as a literal int (a closure's constant): 512 asks
    for 512-bit vectors, 0 keeps the width LLVM prefers for this CPU (256 bits on Intel's
    AVX-512 cores, 512 on Zen 4). An int, not a choice between two intrinsics: numba keys a
    closure's cache entry on its cells' pickles, and an intrinsic pickles with a fresh id in
    every process (each process compiled the kernels anew)."""
    if not isinstance(bits, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        return _prefer_width(context, builder, bits.literal_value)

    return types.none(bits), codegen


#: From this cost (``Declaration.cost``: 1 for the piecewise-linear formulas and Sigmoid's and
#: Tanh's backward, 40-80 for the transcendental ones) an activation's flat kernels ask for
#: 512-bit vectors; cheaper ones, which only stream memory, keep LLVM's width. NumPy's large
#: arrays start 16 bytes past a cache line, and a 512-bit store into them then always spans two
#: lines: on the Intel kind (rocketlake, 2 threads, 1M elements in turns with a 64-byte-aligned
#: output) LeakyReLU's float32 forward took 182 us at 512 bits into NumPy's output, 174 at 256,
#: 171-173 into an aligned one at either width; float64 373-389 against 339-345 (5-14%).
WIDE_MIN_COST = 10


def vectors_for(cost):
    """The vector width a formula of ``cost`` asks for, in its flat kernels (``vector_width``'s
    argument) and its ufunc loops (``ufunc_loop.building``'s): 512, or 0 for LLVM's own."""
    return 512 if cost >= WIDE_MIN_COST else 0


# Every kernel takes the activation's parameters as a trailing tuple of scalars of the array's
# dtype (empty for most): one compiled kernel serves every value. Masks arrive as uint8 views
# of the bool arrays (see activations._relu_backward).


def _forward_saving_mask(f, m, vectors):
    def kernel(x, out, mask, params, part, parts):
        for i in flat_share(x.shape[0], part, parts):
            vector_width(vectors)
            v = x[i]
            out[i] = f(v, *params)
            mask[i] = m(v, *params)

    return kernel


def _forward(f, vectors):
    def kernel(x, out, params, part, parts):
        for i in flat_share(x.shape[0], part, parts):
            vector_width(vectors)
            out[i] = f(x[i], *params)

    return kernel


def _forward_in_place(f, vectors):
    # x = f(x): its own kernel, as _backward_in_place below (the same array passed as x and as
    # out runs LLVM's scalar loop). Relu(inplace=True) and the staged layouts take it.
    def kernel(x, params, part, parts):
        for i in flat_share(x.shape[0], part, parts):
            vector_width(vectors)
            x[i] = f(x[i], *params)

    return kernel


def _forward_saving_mask_in_place(f, m, vectors):
    # As _forward_saving_mask with out = x: through that kernel, Relu(inplace=True).forward
    # at 1M float64 took 3.5 ms against 1.2 ms into a new array (AMD EPYC, loaded).
    def kernel(x, mask, params, part, parts):
        for i in flat_share(x.shape[0], part, parts):
            vector_width(vectors)
            v = x[i]
            mask[i] = m(v, *params)
            x[i] = f(v, *params)

    return kernel


def _backward(g, vectors):
    def kernel(dout, saved, dx, params, part, parts):
        for i in flat_share(dout.shape[0], part, parts):
            vector_width(vectors)
            dx[i] = g(dout[i], saved[i], *params)

    return kernel


def _backward_swapped(g, vectors):
    # dout and dx (P, R, S), saved (P, S, R), all C-contiguous: the book's conv backward, a
    # C-ordered dout against the saved activation's transposed view, is (N, C, H*W) against
    # (N, H*W, C). Each (R, S) slab of saved is transposed into a scratch slab first, then one
    # flat vectorized loop runs over the slab, all in the L2 cache: up to 2.2x faster than
    # staging the whole of saved first, and than the walk for formulas it leaves scalar
    # (figures at dispatch.SWAPPED_MAX_SLAB_BYTES).
    def kernel(dout, saved, dx, params, part, parts):
        p, r, s = dx.shape
        for i in share(p, part, parts):
            slab = np.empty((r, s), saved.dtype)
            si = saved[i]
            for m in range(s):
                for k in range(r):
                    slab[k, m] = si[m, k]
            o, d, b = dx[i].reshape(-1), dout[i].reshape(-1), slab.reshape(-1)
            for j in range(r * s):
                vector_width(vectors)
                o[j] = g(d[j], b[j], *params)

    return kernel


def _backward_4d(g):
    # Strided 4-D arrays (see layouts.as_4d); the last axis is dx's fastest. dx may be dout:
    # strided loops don't vectorize anyway, so there is no overlap check to lose.
    def kernel(dout, saved, dx, params, part, parts):
        n0, n1, n2, n3 = dx.shape
        for ij in share(n0 * n1, part, parts):
            i, j = ij // n1, ij % n1
            for k in range(n2):
                for m in range(n3):
                    dx[i, j, k, m] = g(dout[i, j, k, m], saved[i, j, k, m], *params)

    return kernel


def _copy_4d():
    # Strided 4-D arrays (see layouts.as_4d), the last axis dst's fastest: the staging copy of
    # dispatch.backward, 1.75x NumPy's copyto for the conv view (its loop is one thread).
    def kernel(dst, src, part, parts):
        n0, n1, n2, n3 = dst.shape
        for ij in share(n0 * n1, part, parts):
            i, j = ij // n1, ij % n1
            for k in range(n2):
                for m in range(n3):
                    dst[i, j, k, m] = src[i, j, k, m]

    return kernel


def _backward_in_place(g, vectors):
    # Its own kernel, not _backward with dx = dout: LLVM checks at run time that dx and dout
    # don't overlap before it takes the vector loop, so passing one array twice runs scalar.
    def kernel(dout, saved, params, part, parts):
        for i in flat_share(dout.shape[0], part, parts):
            vector_width(vectors)
            dout[i] = g(dout[i], saved[i], *params)

    return kernel


@register_jitable
def share(n, part, parts):
    """The iterations ``range(n)`` that part ``part`` of ``parts`` takes: every kernel's
    parallel loop is ``for i in share(n, part, parts)``; the whole loop is part 0 of 1, and
    part ``parts``, the share past the last, is empty (``Pair``'s finish)."""
    lo = n * min(part, parts) // parts
    hi = n * min(part + 1, parts) // parts
    return range(max(0, lo), max(0, hi))


#: The flat kernels' shares start at multiples of this many elements.
FLAT_ALIGN = 64


@register_jitable
def flat_share(n, part, parts):
    """``share`` for a loop that LLVM vectorizes itself (the flat kernels): each share starts
    at a multiple of FLAT_ALIGN elements, so that every element takes the vector body, or the
    remainder loop, that it takes in the whole loop (where two NaNs meet, the two can keep
    different payloads: a NaN's bits then depended on where the shares fell). The indices are
    unsigned: from a signed start LLVM cannot prove non-negative, numba's negative-index check
    stays in every access, and the in-place loops (x[i] = f(x[i])) stayed scalar."""
    lo = max(0, n * part // parts) // FLAT_ALIGN * FLAT_ALIGN if part < parts else n
    hi = n if part >= parts - 1 else max(0, n * (part + 1) // parts) // FLAT_ALIGN * FLAT_ALIGN
    return range(np.uint64(lo), np.uint64(max(lo, hi)))


class Pair:
    """The serial and the parallel build of one kernel, and what decides between them: the op
    whose thresholds apply (``relu_forward``...) and its cost (see ``threads``).

    Every kernel takes ``part, parts`` last and runs the iterations ``share(n, part, parts)``
    of its one parallel loop; ``serial(*args, 0, 1)`` runs them all. The parallel build,
    ``parallel(*args, 0, parts)``, runs the serial build on each of ``parts`` shares at once
    (``Shares``): numba's own ``parallel=True`` build compiled each kernel a second time, in
    an outlined function that LLVM then optimized twice, 2-3x its serial build's time (the
    pooling forward 2.3-2.8 s against 0.9-1.1 s; run by shares, 0.4 s on top of the serial
    build, as fast to the microsecond; Intel VM). A kernel whose loop is followed by work over
    all its iterations (a sum) takes ``finish=True``: after the shares, the serial build runs
    the share past the last (``part == parts``, an empty loop) for that work, and what it
    returns is the parallel build's result; the whole loop (``parts == 1``) does it itself.
    What a share returns is dropped. A loop whose iterations need each other's results has
    to be recut into independent ones (BatchNormalization's forward normalises per block of
    columns, which needs only its own columns' statistics).
    """

    def __init__(self, name, make, op=None, cost=1, stand_in=None, finish=False):
        self.name = name
        self.op = op or name
        self.cost = cost
        self.limits = (-1, 0)  # threads.run's copy of its threshold, tagged with the tables' generation
        #: None, or a NumPy function of the kernel's arguments that gives its results bit for
        #: bit (tests/exactness/test_stand_ins.py): ``threads.run`` calls it while the serial
        #: build is compiled in the background (``jit.Background``).
        self.stand_in = stand_in
        self.serial_ran = stand_in is None  # (threads.run: whether to look for the serial build)
        #: threads.run's note of ``jit.BACKGROUND.done`` when this pair's parallel path met a
        #: build deferred to the background: until that count moves, calls go serial at once.
        self.waiting = None
        kernel = make()
        kernel.__name__ = f"{name}_serial"
        kernel.__qualname__ = f"{name}_serial_{_SOURCE_TAG}"  # (see _source_tag)
        self.serial = _cached(njit, kernel, background=True, **KERNEL)
        self.parallel = Shares(self.serial, finish)


_I64 = ir.IntType(64)

#: What ``_spread`` hands the driver for each share: ``int64 share(i8* blob, int64 part,
#: int64 parts)``, 1 where the kernel raised, else 0.
_SHARE = ir.FunctionType(_I64, [ir.IntType(8).as_pointer(), _I64, _I64])

#: The room a called kernel gets for its result, in 8-byte words (a tuple of up to 8 scalars).
_RESULT_WORDS = 8


def _call(context, builder, address, argtypes, values, restype=types.none):
    """Call the compiled function at ``address`` (numba's calling convention) with ``values``
    of ``argtypes``; its result (at most _RESULT_WORDS words) gets room and is dropped, but
    for its first word. Returns (whether it raised, that word as int64)."""
    cc = context.call_conv
    function_type = cc.get_function_type(restype, argtypes)
    function = builder.inttoptr(address, function_type.as_pointer())
    room = cgutils.alloca_once(builder, ir.ArrayType(_I64, _RESULT_WORDS))
    builder.store(cgutils.get_null_value(room.type.pointee), room)
    excinfo = cgutils.alloca_once(builder, ir.PointerType(excinfo_t))
    packed = list(cc._get_arg_packer(argtypes).as_arguments(builder, values))
    code = builder.call(function, [builder.bitcast(room, function_type.args[0]), excinfo, *packed])
    status = cc._get_return_status(builder, code, builder.load(excinfo))
    return status.is_error, builder.load(builder.bitcast(room, _I64.as_pointer()))


@intrinsic
def _run_share(typingctx, share, blob, part, parts):
    """Call the ``_SHARE`` function at ``share`` on ``blob``'s kernel and arguments."""

    def codegen(context, builder, signature, llargs):
        function = builder.inttoptr(llargs[0], _SHARE.as_pointer())
        return builder.call(function, [builder.inttoptr(llargs[1], _SHARE.args[0]), *llargs[2:]])

    return types.int64(types.int64, types.int64, types.int64, types.int64), codegen


def _pool_function(name, param=None):
    """An intrinsic calling numba's thread-pool function ``name`` by its symbol, as numba's own
    parallel loops call it (numba adds the symbols when it launches the pool): a getter of an
    int64 result where ``param`` (the setter's C argument type) is None, else a setter."""

    def call(builder, args):
        fnty = ir.FunctionType(ir.VoidType(), [param]) if param else ir.FunctionType(_I64, [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        return builder.call(fn, [builder.trunc(a, param) if param.width < 64 else a for a in args] if param else [])

    if param is None:

        def getter(typingctx):
            return types.int64(), lambda context, builder, signature, args: call(builder, args)

        getter.__name__ = f"_pool_{name}"
        return intrinsic(getter)

    def setter(typingctx, value):
        def codegen(context, builder, signature, args):
            call(builder, args)
            return context.get_dummy_value()

        return types.none(types.int64), codegen

    setter.__name__ = f"_pool_{name}"
    return intrinsic(setter)


# (the C types numba's own parallel loops give them: intp and uintp results, an int count)
_get_threads = _pool_function("get_num_threads")
_set_threads = _pool_function("set_num_threads", ir.IntType(32))
_get_chunksize = _pool_function("get_parallel_chunksize")
_set_chunksize = _pool_function("set_parallel_chunksize", _I64)


def _drive(share, blob, parts, threads, chunksize):
    # Each iteration one share, dealt by numba on ``threads`` threads in chunks of
    # ``chunksize`` iterations (0: static; threads.run deals one at a time where other
    # processes load the cores); either setting left as it is where < 0, and restored after.
    # Here rather than by numba's functions from Python: those were four ctypes calls of each
    # parallel call, each ~1-2 us right after a large one, whose data leaves Python's out of
    # the caches (a 1M-element LeakyReLU forward 20 us above its loop's time; Intel VM).
    users = _get_threads()
    dealt = _get_chunksize()
    if threads > 0 and threads != users:
        _set_threads(threads)
    if chunksize >= 0 and chunksize != dealt:
        _set_chunksize(chunksize)
    failed = 0
    for part in prange(parts):
        failed += _run_share(share, blob, part, parts)
    if chunksize >= 0 and chunksize != dealt:
        _set_chunksize(dealt)
    if threads > 0 and threads != users:
        _set_threads(users)
    return failed


@intrinsic
def _shares(typingctx, driver, address, args, parts, threads, chunksize):
    """Run the kernel at ``address`` on ``args`` in ``parts`` shares: the driver (``_drive``'s
    build, at ``driver``) calls, for each share, a ``_SHARE`` function made here for these
    argument types, which takes the kernel's address and arguments from a blob on this
    stack. The number of shares that raised."""
    if not isinstance(args, types.BaseTuple):
        return None

    def codegen(context, builder, signature, llargs):
        blob_type = ir.LiteralStructType([_I64, context.get_value_type(args)])
        blob = cgutils.alloca_once(builder, blob_type)
        builder.store(llargs[1], cgutils.gep_inbounds(builder, blob, 0, 0))
        builder.store(_unowned(context, builder, args, llargs[2]), cgutils.gep_inbounds(builder, blob, 0, 1))
        share = cgutils.get_or_insert_function(builder.module, _SHARE, "fastact_share")
        if share.is_declaration:  # (one per build: numba compiles each signature in a module of its own)
            share.linkage = "internal"
            b = ir.IRBuilder(share.append_basic_block())
            taken = b.bitcast(share.args[0], blob_type.as_pointer())
            kernel = b.load(cgutils.gep_inbounds(b, taken, 0, 0))
            values = b.load(cgutils.gep_inbounds(b, taken, 0, 1))
            argtypes = [*args.types, types.int64, types.int64]
            members = [b.extract_value(values, i) for i in range(len(args))]
            raised, _ = _call(context, b, kernel, argtypes, [*members, *share.args[1:]])
            b.ret(b.zext(raised, _I64))
        shares = [builder.ptrtoint(share, _I64), builder.ptrtoint(blob, _I64), *llargs[3:]]
        raised, failed = _call(context, builder, llargs[0], list(_DRIVE_TYPES), shares, types.int64)
        return builder.select(raised, ir.Constant(_I64, 1), failed)

    return types.int64(driver, address, args, parts, threads, chunksize), codegen


def _unowned(context, builder, args, values):
    """The tuple ``values`` of type ``args`` with its arrays' reference-count owners (meminfo,
    parent) left out, as numba's own parallel loops hand arrays to their threads: the caller
    holds the arrays for the whole call. With them, every row view a kernel takes (x[i])
    counted up and down on the one owner from every thread at once: softmax at (3072, 256)
    float32 ran 1.1 ms on two shares against 0.33 ms (and 0.75 ms serial), Intel VM."""
    members = []
    for i, t in enumerate(args.types):
        value = builder.extract_value(values, i)
        if isinstance(t, types.Array):
            array = context.make_array(t)(context, builder, value=value)
            array.meminfo = cgutils.get_null_value(array.meminfo.type)
            array.parent = cgutils.get_null_value(array.parent.type)
            value = array._getvalue()
        elif isinstance(t, types.BaseTuple):  # (the kernel's parameters: a tuple of scalars)
            value = _unowned(context, builder, t, value)
        members.append(value)
    return context.make_tuple(builder, args, members)


def _spread(driver, address, args, parts, threads, chunksize):
    return _shares(driver, address, args, parts, threads, chunksize)


def _small_result(t):
    """Whether a kernel's return type fits a share's room: nothing, a scalar, or a tuple of
    up to _RESULT_WORDS scalars."""
    if isinstance(t, types.BaseTuple):
        return len(t) <= _RESULT_WORDS and all(isinstance(m, (types.Number, types.Boolean)) for m in t)
    return t == types.none or isinstance(t, (types.Number, types.Boolean))


#: The driver's one signature: (share, blob, parts, threads, chunksize).
_DRIVE_TYPES = (types.int64,) * 5

#: The driver's address, once compiled or loaded in this process.
_driver = []


def _driver_address():
    """The address of ``_drive``'s build, compiled or loaded now unless the caller defers
    (``jit.Compiling``: then it is queued)."""
    if not _driver:
        build = _DRIVE.overloads.get(_DRIVE_TYPES)
        if build is None:
            if jit.deferred() and jit.defer(_DRIVE, _DRIVE_TYPES):
                raise jit.Compiling(_DRIVE)
            jit.compile_folded(_DRIVE, _DRIVE_TYPES)
            build = _DRIVE.overloads[_DRIVE_TYPES]
        _driver.append(build.library.get_pointer_to_function(build.fndesc.llvm_func_name))
    return _driver[0]


def _key(head):
    """What numba's types of the arguments ``head`` depend on, found without numba's
    ``typeof`` (5 us an array: 23 us of a parallel call's 34 at 1024 elements): numba's own
    fingerprint of them (one C call: its dispatcher keys its types on it), or None where it
    has none (that call's types are then found by ``typeof`` and not kept). Arrays of the
    same dtype, dimensions, layout and writeability share one; so do aligned and unaligned
    ones, as in numba's own dispatch (the kernels take aligned arrays only: ``dispatch.served``),
    and Python ints of any size (one too large for int64 then fails in numba's call, as numba's
    own)."""
    try:
        return _fingerprint(head)
    except (NotImplementedError, ValueError, TypeError):
        return None


def _queue_shares(head):
    """Queue the driver and the entry for arguments ``head`` where not compiled yet."""
    if _DRIVE_TYPES not in _DRIVE.overloads:
        jit.BACKGROUND.submit(_DRIVE, _DRIVE_TYPES)
    spread = (types.int64, types.int64, typeof(head, Purpose.argument), *(types.int64,) * 3)
    if jit.folded(spread) not in _SPREAD.overloads:
        jit.BACKGROUND.submit(_SPREAD, spread)


class Shares:
    """A kernel's parallel build: its serial build on each share of the loop, on numba's threads.

    ``shares(*args, 0, parts)``: an entry compiled once per tuple of argument types, whatever
    the kernel (``_spread``, a plain function: 0.04 s to compile), puts the serial build's
    address and the arguments in a blob and hands it to the one ``prange`` loop (``_drive``,
    compiled once), which calls the serial build on each share. (The entry was itself the
    ``prange`` loop, 0.2-0.35 s a tuple of types: 105 of them, 34 s of the test suite's
    compiling; Intel VM.) Where the serial build is missing and the caller defers
    (``threads.run``), ``jit.Compiling`` is raised: the caller's serial path compiles it (or
    queues it and runs the stand-in); the entry and the driver, where missing, are compiled
    in the background. Where a share raised, the serial build is called on the whole to raise
    it. With ``finish``, the serial build then runs the share past the last, and its result
    is returned (``Pair``).
    """

    def __init__(self, serial, finish=False):
        self.serial = serial
        self.finish = finish
        self._jit = hasattr(serial, "overloads")  # else NUMBA_DISABLE_JIT=1: plain Python
        #: _key of the arguments (but part, parts) -> the serial build's address, once a
        #: launch with them has run (its driver and entry compiled: no deferral can follow)
        self._addresses = {}
        self._types = {}  # the argument types of those builds -> the address

    def __call__(self, *args):
        return self.launch(args[:-2], args[-1])

    def launch(self, head, parts, threads=-1, chunksize=-1, defer=False):
        """Run the kernel on ``head`` (its arguments but part, parts) in ``parts`` shares, on
        ``threads`` threads dealt ``chunksize`` shares at a time (numba's settings left as
        they are where < 0; see ``_drive``). ``defer``: a missing build raises
        ``jit.Compiling`` and is compiled in the background (``jit.deferring``).

        The path once a launch with these argument types has run is a few Python steps:
        right after a large call each costs ~1 us (Python's data is out of the caches), and
        there were ~20 of them here and in threads.run (see ``_drive``)."""
        if not self._jit:
            return self.serial(*head, 0, 1)
        key = _key(head)
        address = self._addresses.get(key)
        if address is None:
            with _DEFERRING if defer else contextlib.nullcontext():
                return self._first(head, parts, threads, chunksize, key)
        if _SPREAD(_driver[0], address, head, parts, threads, chunksize):
            self._raise(head)
        return self.serial(*head, parts, parts) if self.finish else None

    def _first(self, head, parts, threads, chunksize, key):
        """``launch`` for argument types not launched yet: the builds found, compiled or
        deferred; their address kept once the shares have run."""
        try:
            address = self._address(tuple(typeof(a, Purpose.argument) for a in (*head, 0, parts)))
            driver = _driver_address()
        except jit.Compiling:
            # The caller compiles the serial build (or queues it, ahead); the driver and the
            # entry for these types are queued now, so that one wait of the background thread
            # brings all three (a process that ends first compiles them at exit).
            _queue_shares(head)
            raise
        failed = _SPREAD(driver, address, head, parts, threads, chunksize)  # (may defer the entry)
        if key is not None:
            self._addresses[key] = address
        if failed:
            self._raise(head)
        return self.serial(*head, parts, parts) if self.finish else None

    def _raise(self, head):
        """A share raised: the serial build on the whole raises it here."""
        self.serial(*head, 0, 1)
        raise RuntimeError(f"{self.serial.py_func.__name__} failed in a parallel share")

    def _address(self, exact):
        serving = jit.folded(exact)
        build = self.serial.overloads.get(serving)
        if build is None:
            if jit.deferred() and not jit.load_cached(self.serial, exact):
                raise jit.Compiling(self.serial)
            jit.compile_folded(self.serial, exact)
            build = self.serial.overloads[serving]
        if not _small_result(build.signature.return_type):  # a share's room for it
            raise TypeError(f"{self.serial.py_func.__name__} returns {build.signature.return_type}")
        address = self._types[exact] = build.library.get_pointer_to_function(build.fndesc.llvm_func_name)
        return address

    @property
    def signatures(self):
        """The argument types of the serial builds the shares have run (or are about to)."""
        return list(self._types)


class Kernels:
    """Everything compiled for one activation."""

    def __init__(self, act):
        self.act = act

    @cached_property
    def forward(self):
        """``(x, out, params)``, or ``(x, out, mask, params)`` when backward needs a mask."""
        act, vectors = self.act, self._vectors("forward")
        if act.saves == "mask":
            return self._pair("forward", lambda: _forward_saving_mask(act.forward, act.mask, vectors))
        return self._pair("forward", lambda: _forward(act.forward, vectors))

    @cached_property
    def forward_in_place(self):
        """``(x, params)``, or ``(x, mask, params)``: ``forward`` writing into x."""
        act, vectors = self.act, self._vectors("forward")
        if act.saves == "mask":
            return self._pair(
                "forward", lambda: _forward_saving_mask_in_place(act.forward, act.mask, vectors), "_in_place"
            )
        return self._pair("forward", lambda: _forward_in_place(act.forward, vectors), "_in_place")

    @cached_property
    def backward(self):
        """``(dout, saved, dx, params)``, or ``(dout, saved, params)`` writing into dout."""
        make = _backward_in_place if self.act.backward_in_place else _backward
        return self._pair("backward", lambda: make(self.act.backward, self._vectors("backward")))

    @cached_property
    def backward_swapped(self):
        """The backward kernel for dout and dx (P, R, S) against saved (P, S, R), C-contiguous."""
        vectors = self._vectors("backward")
        return self._pair("backward", lambda: _backward_swapped(self.act.backward, vectors), "_swapped")

    @cached_property
    def backward_4d(self):
        """The backward kernel over strided 4-D views, for dout and saved laid out differently."""
        return self._pair("backward", lambda: _backward_4d(self.act.backward), "_4d")

    def _vectors(self, direction):
        return vectors_for(self.act.cost_of(direction))

    def _pair(self, direction, make, suffix=""):
        op = f"{self.act.name}_{direction}"
        stand_in = None if suffix else dict(self.act.stand_ins).get(direction)  # the flat kernels'
        return Pair(op + suffix, make, op=op, cost=self.act.cost_of(direction), stand_in=stand_in)

    @cached_property
    def ufunc(self):
        """The element formula as a NumPy ufunc: broadcasting, ``out=``, NumPy's dtype rules;
        the parameters, if any, are trailing inputs."""
        f, k = self.act.forward, len(self.act.params)
        return _ufunc(_element(f, 1 + k), self.act.name, ufunc_signatures(*"T" * (1 + k)), self._vectors("forward"))

    @cached_property
    def backward_ufunc(self):
        """dx = backward(dout, saved, *params) as a ufunc: serves any layouts NumPy can iterate."""
        g, k = self.act.backward, len(self.act.params)
        # a mask arrives as the bool array itself: no view to make per call (at the book's
        # tiny sizes the view cost as much as the work: Relu backward at 100 elements 0.31 us
        # with the bool mask, 0.67 through a uint8 view, the seed's dout[mask] = 0 0.64)
        saved = "boolean" if self.act.saves == "mask" else "T"
        signatures = ufunc_signatures("T", saved, *"T" * k)
        return _ufunc(_element(g, 2 + k), f"{self.act.name}_backward", signatures, self._vectors("backward"))

    @cached_property
    def mask_ufunc(self):
        """mask(x, *params) as a ufunc (bool out), for the paths that run the formula by ufunc."""
        m, k = self.act.mask, len(self.act.params)
        return _ufunc(
            _element(m, 1 + k),
            f"{self.act.name}_mask",
            [
                s.replace("float32(", "boolean(").replace("float64(", "boolean(")
                for s in ufunc_signatures(*"T" * (1 + k))
            ],
            self._vectors("forward"),
        )


def _element(f, arity):
    """A plain function of ``arity`` scalars calling ``f``: what @vectorize compiles (it needs
    a fixed signature, not *args). Up to two parameters after (dout, saved). It marks itself
    always-inline: numba's ufunc loop calls it, and a call left in that loop keeps it scalar."""
    if arity == 1:

        def element(a):
            inline_here()
            return f(a)
    elif arity == 2:

        def element(a, b):
            inline_here()
            return f(a, b)
    elif arity == 3:

        def element(a, b, c):
            inline_here()
            return f(a, b, c)
    else:

        def element(a, b, c, d):
            inline_here()
            return f(a, b, c, d)

    return element


def _ufunc(element, name, signatures, width=512):
    element.__name__ = name
    element.__qualname__ = f"{name}_{_SOURCE_TAG}"
    # numba's own loop ignores the output's stride (see ufunc_loop): built with the fixed one.
    with ufunc_loop.building(element, width):
        return _cached(vectorize, element, signatures).ufunc


def _cached(decorator, fn, *args, background=False, **options):
    """``decorator(*args, cache=True, **options)(fn)``, or uncached where nothing can be written.

    numba caches beside the source, else in the user's cache directory (a read-only install
    still caches); with neither writable it refuses to decorate. Then fastact compiles in
    memory, once per process, rather than fail. ``njit`` kernels compile F-ordered arrays as
    any-layout ones (``jit.fold_layouts``); with ``background`` (the parallel builds), a
    call that may be deferred has its build compiled in the background (``jit.Background``).
    """
    try:
        built = decorator(*args, cache=True, **options)(fn)
    except RuntimeError as error:
        if "cannot cache" not in str(error):
            raise
        warnings.warn(
            f"fastact: no writable numba cache directory ({error}); kernels are "
            "compiled in every process. Set NUMBA_CACHE_DIR to cache them.",
            RuntimeWarning,
            stacklevel=2,
        )
        built = decorator(*args, **options)(fn)
    return fold_layouts(built, background) if decorator is njit else built


_drive.__qualname__ = f"drive_{_SOURCE_TAG}"  # (see _source_tag)
_DRIVE = _cached(njit, _drive, parallel=True, background=True, **KERNEL)
_spread.__qualname__ = f"spread_{_SOURCE_TAG}"  # (the same)
_SPREAD = _cached(njit, _spread, background=True, **KERNEL)

_DEFERRING = jit.deferring()  # (threads.run's: the serial build or its stand-in meanwhile)

KERNELS = {name: Kernels(act) for name, act in REGISTRY.items()}

#: The strided copy that stages a backward's saved array in dout's layout (``dispatch``).
COPY_4D = Pair("copy_4d", _copy_4d)
