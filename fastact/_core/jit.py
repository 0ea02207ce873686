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


__all__ = ["HELPER", "KERNEL", "overload", "register_jitable"]
