"""Compiled scalar functions as NumPy ufuncs, and the LLVM IR of the loops numba builds around
them (numba's ufunc loop, a parallel prange loop), to check that the loops vectorize."""

import functools
import re

import numba
import numpy as np
from numba import prange

from fastact._core import jit
from fastact._core.libm64 import inline_here
from fastact._core.scalar import fma

#: A vector of the element type in LLVM IR.
VECTOR = {np.float32: r"<(\d+) x float>", np.float64: r"<(\d+) x double>"}
#: LLVM's FMA on a vector of doubles, with its lane count.
_VECTOR_FMA = r"@llvm\.fma\.v(\d+)f64"


@functools.cache
def vector_fma_lanes():
    """The doubles numba's target (this CPU, or ``NUMBA_CPU_NAME`` with its features) puts in
    one FMA of a plain loop: 4 or 8 with AVX2 and FMA, as on both machine kinds. x86-64's
    baseline (``NUMBA_CPU_NAME=generic``: SSE2) gives 2, and has no FMA instruction: each lane
    becomes a call to libm's fma, and no loop around the formulas vectorizes."""

    @numba.njit(error_model="numpy")
    def probe(a, out):
        for i in range(out.shape[0]):
            out[i] = fma(a[i], a[i], out[i])

    probe(np.ones(64), np.zeros(64))
    ir = "\n".join(probe.inspect_llvm().values())
    return max((int(w) for w in re.findall(_VECTOR_FMA, ir)), default=0)


def require_vector_target():
    """Skip the calling test (one that checks a loop compiles to SIMD vectors) where numba
    compiles for a CPU without 256-bit FMA vectors: the kernels are written for AVX2 and FMA,
    and elsewhere run scalar, with the same results (the exactness and layout tests check them
    on every target). The ``vector_ir`` marker calls this (tests/conftest.py)."""
    if vector_fma_lanes() < 4:
        import pytest

        cpu = numba.config.CPU_NAME or "this CPU"
        pytest.skip(f"numba compiles for {cpu} without vectors of 4 doubles in an FMA: the loops stay scalar there")


def element_function(f, nargs):
    """``f`` wrapped as a ufunc element function of nargs arguments. It calls inline_here():
    numba's ufunc loop only inlines small element functions, and a loop with a call in it
    stays scalar."""

    def e1(a):
        inline_here()
        return f(a)

    def e2(a, b):
        inline_here()
        return f(a, b)

    def e3(a, b, c):
        inline_here()
        return f(a, b, c)

    def e4(a, b, c, d):
        inline_here()
        return f(a, b, c, d)

    return {1: e1, 2: e2, 3: e3, 4: e4}[nargs]


@functools.cache
def as_ufunc(f, nargs=1):
    """A compiled scalar function as a float32/float64 NumPy ufunc (how NumPy reports flags)."""
    sigs = [f"{t}({', '.join([t] * nargs)})" for t in ("float32", "float64")]
    return numba.vectorize(sigs)(element_function(f, nargs))


def ufunc_loop_ir(f, nargs, dtype):
    """The optimized LLVM IR of numba's ufunc loop around f (what ``@vectorize`` runs), built
    the way numba's DUFunc builds it (numba internals: the calling test skips if they move)."""
    try:
        from numba.core.compiler_lock import global_compiler_lock
        from numba.np.ufunc.wrappers import build_ufunc_wrapper
    except ImportError:  # pragma: no cover
        import pytest

        pytest.skip("numba's ufunc wrapper builder moved")
    t = np.dtype(dtype).name
    dufunc = numba.vectorize(element_function(f, nargs))
    cres = dufunc._dispatcher.compile(f"{t}({', '.join([t] * nargs)})")
    with global_compiler_lock:
        info = build_ufunc_wrapper(
            cres.library, cres.target_context, cres.fndesc.llvm_func_name, cres.signature, cres.objectmode, cres
        )
        info.library.get_pointer_to_function(info.name)
    return info.library.get_llvm_str()


def kernel_llvm_ir(dispatcher, args):
    """The LLVM IR of ``dispatcher``'s build for ``args`` (a kernel's, without its share
    arguments: the whole loop, part 0 of 1).

    Code loaded from numba's disk cache cannot be inspected: where the build was loaded, or
    another process compiled it meanwhile, an uncached copy with the dispatcher's own options
    is compiled instead. Where this process compiled the build (calling for it now if it has
    none: a cold cache), its own IR is read, and the compile serves the calls that come after:
    on a cold cache the IR tests were 70 compiles of builds the suite compiles anyway."""
    args = (*args, 0, 1)
    build = jit.folded(tuple(numba.typeof(a) for a in args))
    if build not in dispatcher.overloads:
        dispatcher(*args)
    if build in dispatcher.overloads and not dispatcher._cache_hits.get(build):
        return dispatcher.overloads[build].library.get_llvm_str()
    copy = numba.njit(**{k: v for k, v in dispatcher.targetoptions.items() if k != "nopython"})(dispatcher.py_func)
    copy(*args)
    return "\n".join(copy.inspect_llvm().values())


def prange_loop_ir(f, nargs, dtype):
    """The LLVM IR of a fresh parallel=True kernel with f in a prange loop."""

    def l1(a, out):
        for i in prange(out.shape[0]):
            out[i] = f(a[i])

    def l2(a, b, out):
        for i in prange(out.shape[0]):
            out[i] = f(a[i], b[i])

    def l3(a, b, c, out):
        for i in prange(out.shape[0]):
            out[i] = f(a[i], b[i], c[i])

    def l4(a, b, c, d, out):
        for i in prange(out.shape[0]):
            out[i] = f(a[i], b[i], c[i], d[i])

    loop = numba.njit(parallel=True, error_model="numpy")({1: l1, 2: l2, 3: l3, 4: l4}[nargs])
    x = np.linspace(0.1, 3, 1024).astype(dtype)
    loop(*([x] * nargs), np.empty_like(x))
    return "\n".join(loop.inspect_llvm().values())


def assert_simd(ir, dtype, what):
    """The IR holds vectors of dtype and no call to a libm function is left in the loop."""
    widths = [int(w) for w in re.findall(VECTOR[np.dtype(dtype).type], ir)]
    assert widths and max(widths) >= 2, f"{what}: no SIMD vectors in the IR"
    calls = set(re.findall(r"call [^@\n]*@([\w.$]+)\(", ir))
    libm = {c for c in calls if re.fullmatch(r"(exp|expm1|log|log1p|tanh|erfc?)f?", c)}
    assert not libm, f"{what}: libm calls left in the loop: {libm}"
