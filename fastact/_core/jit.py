"""numba's decorators with the options every compiled helper and kernel of fastact takes.

No C-callable (``cfunc``) wrapper: numba builds one for each compiled function and signature,
for the case where it is passed around as a first-class function value, which fastact never
does (kernels are called from Python, helpers only from other compiled code). Leaving it out
is less to lower and to hand to LLVM per build: on a cold cache (Intel VM, 2 cores, with and
without in turns) the first SoftmaxWithLoss at (100, 10) compiled in 1.94-1.99 s instead of
2.28-2.37, and the first SimpleConvNet training step took 8.18-8.23 s instead of 8.76-8.94.

The helpers take ``error_model`` and ``fastmath`` from the kernel that compiles them (numba
inherits those flags); ``no_cfunc_wrapper`` is not inherited, so it is set on each.
"""

from numba import types
from numba.core import errors
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


def fold_layouts(dispatcher):
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
    """
    fallback = getattr(dispatcher, "_compile_for_args", None)
    if fallback is None:  # NUMBA_DISABLE_JIT=1: the plain Python function
        return dispatcher

    def fortran(t):
        return isinstance(t, types.Array) and t.layout == "F" and t.ndim > 1

    def compile_for_args(*args, **kws):
        try:
            exact = [typeof(a, Purpose.argument) for a in args]
        except (errors.NumbaValueError, ValueError):  # numba's fallback says what it cannot type
            exact = []
        if kws or not any(fortran(t) for t in exact):
            return fallback(*args, **kws)
        folded = tuple(t.copy(layout="A") if fortran(t) else t for t in exact)
        entry = dispatcher.compile(folded)
        dispatcher._insert([t._code for t in exact], entry)
        return entry

    dispatcher._compile_for_args = compile_for_args
    return dispatcher


__all__ = ["HELPER", "KERNEL", "fold_layouts", "overload", "register_jitable"]
