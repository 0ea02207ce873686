"""numba's ufunc loop, with its contiguous fast path taken only when the output is contiguous too.

numba (0.68.1 and earlier) builds each ufunc's inner loop in ``wrappers.build_ufunc_wrapper``
with a fast path chosen when every *input* step equals the item size; that path stores with
``out.store_aligned(value, index)``, ignoring the *output's* step. A ufunc called with unit-stride
inputs and an ``out`` of any other stride (``out=a[::2]``, a reversed view, a Fortran output
under a C input...) then writes contiguously from the output's first element: wrong values in
``out`` and bytes written past it, or before it for a negative stride (heap corruption).

The fix is upstream's one line (``docs/numba-ufunc-loop.md`` has the report): the output's step
joins the fast-path test. ``wrapper_builder()`` is numba's own ``build_ufunc_wrapper`` with that
line changed, compiled from numba's installed source; ``building()`` puts it in place while
fastact builds a ufunc, under numba's compiler lock, so nothing else numba builds meanwhile sees
it.

numba caches a ufunc's element function on disk but builds its loop anew in every process
(0.1-0.3 s a ufunc, both dtypes; 3.3 s for fastact's 28 in a process whose cache was warm).
``building(element)`` caches the loops fastact's builder makes, in numba's cache beside the
element function's (``_LoopCache``, numba's own mechanism for gufunc loops). Only loops from
the builder above are ever written there, and a saved loop is found again only under the same
key: the same numba version (numba's index), CPU and its features (``magic_tuple``), element
function (its name carries the hash of every ``_core`` source, this file's patch included),
signature and loop name. A loop that fails to load is built again.

Choices ride along, where their lines are found: a costly formula's loop asks for 512-bit
vectors, and the contiguous path has a twin for an output that is also an input, which LLVM
vectorizes where numba's own loop ran scalar, each split where the output reaches a 64-byte
boundary (``fast_loops``).

Where numba's source no longer has the faulty line, a probe decides: a numba that already
respects the output's step is used as it is; one that still ignores it and cannot be patched
makes every ufunc build fail with an error, rather than corrupt memory.
"""

import contextlib
import copy
import inspect
import textwrap

import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.core.caching import make_library_cache
from numba.core.compiler_lock import global_compiler_lock
from numba.np.ufunc import ufuncbuilder, wrappers

#: The test that picks the fast path, as numba writes it, and the same test with the output in.
FAULTY = "    for ary in arrays:\n        unit_strided = builder.and_(unit_strided, ary.is_unit_strided)\n"
FIXED = "    for ary in (*arrays, out):\n        unit_strided = builder.and_(unit_strided, ary.is_unit_strided)\n"

#: Not a fix, a choice: the loop function of a costly formula's ufunc asks for 512-bit vectors,
#: as its kernels do (``kernels.vectors_for``). LLVM's tuning for Intel's AVX-512 cores
#: (skylake-avx512 to sapphirerapids, rocketlake) prefers 256-bit vectors, for Zen 4 512:
#: without this, Sigmoid's forward ufunc took 1.2-1.45x as long on the Intel machine kind. The
#: cheap formulas keep LLVM's width (Relu's forward and backward at the book's (100, 50) float64
#: 1.42 -> 1.33 and 1.63 -> 1.36 us). Applied only where the line is found.
WRAPPER = '    wrapper = ir.Function(wrapper_module, fnty, "__ufunc__." + func.name)\n'
WIDTH = '    set.add(wrapper.attributes, \'"prefer-vector-width"="{}"\')\n'

#: Not a fix, a choice: the contiguous loop gets a twin for a call whose output is one of its
#: inputs (``ufunc(x, out=x)``, and the Relu backward's ``dout``), where the input is read
#: through the output's own pointer. With two pointers LLVM's run-time overlap test fails on
#: the very array it could vectorize (each element is read before it is written, at the same
#: index) and the scalar loop runs: in place, 65536 elements (Intel VM), sigmoid float32 took
#: 298 us against 27 into another array, GELU float64 1340 against 285, Relu 37 against 6-14.
FAST_LOOP = (
    "                with cgutils.for_range(builder, loopcount, intp=intp_t) as loop:\n"
    "                    build_fast_loop_body(\n"
    "                        context, func, builder, arrays, out, offsets,\n"
    "                        store_offset, signature, loop.index, pyapi,\n"
    "                        env=envptr,\n"
    "                    )\n"
)
FAST_LOOPS = (
    "                fast_loops(context, func, builder, arrays, out, offsets,\n"
    "                           store_offset, signature, loopcount, intp_t, pyapi, envptr)\n"
)


def fast_loops(context, func, builder, arrays, out, offsets, store_offset, signature, loopcount, intp_t, pyapi, envptr):
    """numba's contiguous loop, and before it the same loop for an output that is the first
    input of its type, taken where the two pointers are equal; each in two parts, split where
    the output reaches a 64-byte boundary."""
    # NumPy's arrays start 16 bytes (malloc's alignment) past a 32- or 64-byte boundary, or on
    # one, from call to call; LLVM's vector loop starts at the first element, and its vector
    # stores then span two cache lines. The elements before the output's first boundary get a
    # loop of their own: at the book's (100, 50) float64 (Intel kind), Relu's forward ufunc took
    # 1.48-1.57 us into an output 16 bytes past a boundary against 1.16-1.19 on one.
    address = builder.ptrtoint(out.dataptr, intp_t)
    ahead = builder.udiv(builder.and_(builder.neg(address), ir.Constant(intp_t, 63)), out.abisize)
    head = builder.select(builder.icmp_unsigned("<", ahead, loopcount), ahead, loopcount)

    def loop(args):
        for start, stop in ((None, head), (head, loopcount)):
            with cgutils.for_range(builder, stop, start=start, intp=intp_t) as index:
                wrappers.build_fast_loop_body(
                    context, func, builder, args, out, offsets, store_offset, signature, index.index, pyapi, env=envptr
                )

    i = next((i for i, ary in enumerate(arrays) if ary.fe_type == out.fe_type), None)
    if i is None:
        loop(arrays)
        return
    aliased = copy.copy(arrays[i])
    aliased.dataptr = out.dataptr
    with builder.if_else(builder.icmp_unsigned("==", arrays[i].dataptr, out.dataptr)) as (same, other):
        with same:
            loop([*arrays[:i], aliased, *arrays[i + 1 :]])
        with other:
            loop(arrays)


def _patched(width=512):
    """numba's build_ufunc_wrapper with FIXED for FAULTY (and asking for ``width``-bit vectors;
    0: LLVM's width for the CPU), or None where its source lacks FAULTY."""
    try:
        source = textwrap.dedent(inspect.getsource(wrappers.build_ufunc_wrapper))
    except (OSError, TypeError):  # no source on disk
        return None
    if source.count(FAULTY) != 1:
        return None
    source = source.replace(FAULTY, FIXED)
    if width and source.count(WRAPPER) == 1:
        source = source.replace(WRAPPER, WRAPPER + WIDTH.format(width))
    if source.count(FAST_LOOP) == 1:
        source = source.replace(FAST_LOOP, FAST_LOOPS)
    namespace = {**vars(wrappers), "fast_loops": fast_loops}
    exec(compile(source, wrappers.__file__, "exec"), namespace)
    return namespace["build_ufunc_wrapper"]


def respects_output_step(build=None):
    """Whether ufuncs built with ``build`` (numba's own builder when None) write a step-2 output
    where they should. The output lies inside a larger buffer, so a faulty loop's writes stay in
    memory the probe owns."""
    from numba import vectorize

    def probe(x):
        return x + 1.0

    with _using(build):
        ufunc = vectorize(["float64(float64)"])(probe).ufunc
    buffer = np.zeros(8)
    ufunc(np.arange(4.0), out=buffer[::2])
    return bool(np.array_equal(buffer, [1, 0, 2, 0, 3, 0, 4, 0]))


@contextlib.contextmanager
def _using(build):
    if build is None:
        yield
        return
    with global_compiler_lock:
        original = ufuncbuilder.build_ufunc_wrapper
        ufuncbuilder.build_ufunc_wrapper = build
        try:
            yield
        finally:
            ufuncbuilder.build_ufunc_wrapper = original


_BUILD = {}  # the builders fastact uses, by vector width: False for numba's own, once decided


def wrapper_builder(width=512):
    """The loop builder for fastact's ufuncs (asking for ``width``-bit vectors; 0: LLVM's width
    for the CPU): the patched one, or numba's own where the probe shows it respects the output's
    step. Raises RuntimeError where neither holds."""
    if width not in _BUILD:
        patched = _patched(width)
        if patched is not None:
            _BUILD[width] = patched
        elif respects_output_step():
            _BUILD[width] = False
        else:
            raise RuntimeError(
                "fastact: this numba's ufunc loop ignores the output's stride (it would write "
                "outside strided outputs) and its source is not the one fastact knows how to fix; "
                "use numba <= 0.68 or a release with the fix (docs/numba-ufunc-loop.md)"
            )
    return _BUILD[width] or None


#: numba's library cache (what it keeps gufunc loops in), under a prefix of fastact's own.
_LoopCache = make_library_cache("fastact_ufunc_loop")

#: Loops this process loaded from the cache and built (and saved), for the tests.
counts = {"loaded": 0, "built": 0}


def building(element=None, width=512):
    """Context in which numba builds ufunc loops that respect the output's step (asking for
    ``width``-bit vectors; 0: LLVM's width for the CPU); the loops of ``element``'s ufunc come
    from (and go to) numba's disk cache, where it has one."""
    build = wrapper_builder(width)
    if element is None:
        return _using(build)
    try:
        cache = _LoopCache(element)
    except RuntimeError:  # nowhere to write ("cannot cache"): built in every process
        return _using(build)
    return _using(_cached_loops(build or wrappers.build_ufunc_wrapper, cache))


def _cached_loops(build, cache):
    def cached_build(library, context, fname, signature, objmode, cres):
        name = "__ufunc__." + fname
        key = (str(signature), name)
        try:
            loaded = cache.load_overload(key, context)
            if loaded is not None and loaded.get_pointer_to_function(name):
                counts["loaded"] += 1
                return wrappers._wrapper_info(library=loaded, env=cres.environment, name=name)
        except Exception:  # noqa: BLE001 (a damaged or foreign file: the loop is built anew)
            pass
        info = build(library, context, fname, signature, objmode, cres)
        info.library.enable_object_caching()  # (before it is compiled: what serializing needs)
        try:
            cache.save_overload(key, info.library)
        except OSError:  # (a full disk, a directory gone read-only): built, not kept
            pass
        counts["built"] += 1
        return info

    return cached_build
