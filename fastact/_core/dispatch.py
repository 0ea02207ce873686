"""Run an activation's kernels over arrays of any shape and memory layout: the one dispatch.

Per call, by size (``threads``): the ufuncs for small arrays (``small``), else the flat
kernels, serial or parallel. Dense arrays whose elements line up go
straight to the flat kernels. Forward stages any other input into its (dense) output with one
strided copy and then runs in place. Backward walks a saved array laid out as dout with its
last two axes swapped (the book's conv case) slab by slab (``SWAPPED_MAX_SLAB_BYTES``), stages
other saved arrays in dout's layout for the
costly formulas (``STAGE_MIN_COST``), walks other mismatched layouts with the 4-D strided
kernels, and whatever has more than 4 uneven axes with the backward ufunc, which NumPy's
iterator drives through any view.

Bool masks reach the kernels as uint8 views: numba's loads of bool elements cost about four
times a byte's in loops that don't vectorize (the strided 4-D walk: 9 ms against 2 ms for the
book's conv backward). The backward ufunc takes the bool array as it is: its contiguous loop
vectorizes either way, and on tiny arrays the view cost as much as the work.
"""

import numpy as np

from . import threads
from .kernels import COPY_4D, KERNEL_DTYPES
from .layouts import as_4d, flat, flat_together, same_order, swapped
from .threads import run

_U8 = np.dtype(np.uint8)
_BOOL = np.dtype(np.bool_)


#: From this cost (``Activation.cost``: 1 for the piecewise-linear formulas, 40-80 for the
#: transcendental ones) a backward whose dout and saved input are laid out differently stages
#: saved in dout's layout first: the strided 4-D walk runs the formula one element at a time,
#: unvectorized. On the book's conv activation (100, 30, 24, 24) as its transposed view, with
#: a C-ordered dout, NumPy's copyto and the flat kernel took 3.1-8.5 ms where the walk took
#: 11-62 (ELU, SiLU, GELU); for the cheap formulas (Sigmoid's and Tanh's backward, Hardswish)
#: the walk was as fast or faster (1.7-4.0 against 2.8-5.0 ms).
STAGE_MIN_COST = 10

#: Up to this size of one (R, S) slab of dx, a backward whose saved array is dout's layout with
#: its last two axes swapped (``layouts.swapped``) transposes saved slab by slab into a scratch
#: slab and runs the flat loop over it (``kernels._backward_swapped``), where staging would
#: (``STAGE_MIN_COST``) or where the formula does not vectorize walked (``walks_strided``):
#: dout's, dx's and the scratch slab stay in the L2 cache together (1 MiB a core on Zen 4, 2
#: on the Intel kind). The book's conv slab, 30 x 576, is 68-135 KiB. On the book's conv
#: activation, (100, 30, 24, 24) as its transposed view against a C-ordered dout (Intel VM, 2
#: threads, medians, in turns), slab by slab against staging: SiLU 1.50 / 2.20 ms (float32)
#: and 3.56 / 7.79 (float64), ELU 1.01 / 1.21 and 2.06 / 2.83, GELU 1.91 / 2.38 and 7.56 /
#: 8.22, Softplus 1.47 / 2.03 and 2.99 / 3.49; against the walk: Hardswish 0.80 / 1.46 and
#: 1.18 / 2.08, Hardsigmoid 0.77 / 0.90 and 1.12 / 1.15, but Sigmoid 0.78 / 0.65 and 1.16 /
#: 0.97 (the walk's gathers cost less than the transposition). Larger slabs take the paths below.
SWAPPED_MAX_SLAB_BYTES = 256 << 10


def served(a):
    """Whether the compiled kernels take ``a`` as it is (else a NumPy path does the work)."""
    return type(a) is np.ndarray and a.dtype in KERNEL_DTYPES and a.flags.aligned


def limits(kernels):
    """(tables' generation, forward ufunc max bytes, backward ufunc max bytes, the same two for
    C-contiguous operands) for an activation's kernels, read once per change of the tables
    (``threads.generation``): at the book's sizes a call is a few microseconds, and looking
    them up anew cost about one."""
    lim = kernels.__dict__.get("ufunc_limits")
    if lim is None or lim[0] != threads.generation:
        act = kernels.act
        lim = kernels.ufunc_limits = (
            threads.generation,
            *(_ufunc_max_bytes(act, d) for d in ("forward", "backward")),
            *(_ufunc_max_bytes(act, d, contiguous=True) for d in ("forward", "backward")),
        )
    return lim


def _ufunc_max_bytes(act, direction, contiguous=False):
    op = f"{act.name}_{direction}"
    cost = act.cost_of(direction)
    if act.params:
        # A ufunc gets the parameters as stride-0 operands, and numba's ufunc loop then runs
        # element by element, unvectorized: 2.7x (LeakyReLU) to 7x (Softplus) slower than the
        # kernel at the book's (100, 50), and ahead of the kernel's dispatch only on a few
        # hundred elements (LeakyReLU at 100: 0.7-0.9x the twin through the kernel). So the
        # default is 2 KiB / cost; tuned or forced tables still decide.
        return threads.UFUNC_MAX_BYTES.get(op, 2048 // cost)
    ufunc_max, parallel_min = threads.thresholds(op, cost)
    if contiguous and not (direction == "forward" and act.saves == "mask"):  # (mask: 2 passes)
        # Contiguous operands give the ufunc the serial kernel's own vectorized loop, at the
        # same speed per element (0.92-1.08x at 5000 and 30000 elements, every activation
        # without parameters, both dtypes, Intel VM) without the kernel's dispatch (~1 us:
        # Tanh at the book's (100, 50) float32 3.9 -> 2.8 us). So by default they take it up
        # to the parallel threshold; strided ones take numba's scalar strided loop, so only
        # small ones do. A tuned or forced table decides for both.
        return threads.UFUNC_MAX_BYTES.get(op, parallel_min - 1)
    return ufunc_max


def small(kernels, direction, a, *others):
    """Whether a call on ``a`` (and ``others`` of its shape) takes the ufunc path."""
    lim = limits(kernels)
    at = 1 if direction == "forward" else 2
    if a.nbytes <= lim[at]:
        return True
    return a.nbytes <= lim[at + 2] and all(b.flags.c_contiguous for b in (a, *others))


def forward_ufunc(kernels, x, params, out=None, mask=None):
    """Forward by ufuncs (any layout NumPy iterates); returns ``out`` (a new array, or a
    NumPy scalar for 0-d input, as NumPy's own ufuncs give, when ``out`` is None)."""
    if mask is not None:
        kernels.mask_ufunc(x, *params, out=mask)
    if out is None:
        return kernels.ufunc(x, *params)
    return kernels.ufunc(x, *params, out=out)


def forward(kernels, x, out, mask, params):
    """Fill ``out`` (and ``mask``, when given) from ``x``; they are laid out like ``x``
    (``np.empty_like``), or ``out`` is ``x`` itself."""
    if x.flags.c_contiguous:  # so are the outputs, all flat as they are
        # (without a mask, in as few Python steps as possible: after a large call each costs
        # about a microsecond, see kernels._drive)
        if mask is None:
            if out is x:
                run(kernels.forward_in_place, x.size, x.ravel(), params)
            else:
                run(kernels.forward, x.size, x.ravel(), out.ravel(), params)
        elif out is x:
            run(kernels.forward_in_place, x.size, x.ravel(), mask.view(_U8).ravel(), params)
        else:
            run(kernels.forward, x.size, x.ravel(), out.ravel(), mask.view(_U8).ravel(), params)
        return
    extra = [] if mask is None else [mask.view(_U8)]
    if out is not x and (views := flat_together(x, out, *extra)) is not None:  # (the book's conv view)
        run(kernels.forward, x.size, *views, params)
        return
    flats = [flat(a) for a in [out, *extra]]
    if any(f is None for f in flats):  # out is x itself, a view that is not one dense block
        forward_ufunc(kernels, x, params, out, mask)
        return
    if out is not x:  # x is not one dense block, or not in out's order
        np.copyto(out, x)  # staged: x's values in out's layout, then in place
    run(kernels.forward_in_place, x.size, *flats, params)


def backward(kernels, dout, saved, dx, params):
    """``dx = backward(dout, saved)`` element by element; ``dx`` may be ``dout`` itself."""
    if small(kernels, "backward", dout, saved, dx):  # (the ufunc takes a bool mask as it is)
        kernels.backward_ufunc(dout, saved, *params, out=dx)
        return
    backward_by_kernels(kernels, dout, saved, dx, params)


def backward_by_kernels(kernels, dout, saved, dx, params):
    """``backward`` for a call that ``small`` has sent to the kernels (the layers decide that
    themselves, in fewer steps)."""
    in_place = dx is dout
    mask = saved
    if saved.dtype == _BOOL:
        saved = saved.view(_U8)
    pair = kernels.backward
    if dout.flags.c_contiguous and saved.flags.c_contiguous:
        if in_place:
            run(pair, dout.size, dout.ravel(), saved.ravel(), params)
            return
        if dx.flags.c_contiguous:
            run(pair, dout.size, dout.ravel(), saved.ravel(), dx.ravel(), params)
            return
    views = flat_together(dout, saved) if in_place else flat_together(dout, saved, dx)
    if views is not None:  # (the book's conv view, laid out alike)
        run(pair, dout.size, *views, params)
        return
    costly = kernels.act.cost_of("backward") >= STAGE_MIN_COST  # (no in-place backward is)
    views = swapped(dx, dout, saved) if (costly or not kernels.act.walks_strided) and not in_place else None
    if views is not None and views[0][0].nbytes <= SWAPPED_MAX_SLAB_BYTES:
        dx3, dout3, saved3 = views
        run(kernels.backward_swapped, dout.size, dout3, saved3, dx3, params, per_iteration=dx3[0].size)
        return
    if (
        costly
        and not in_place
        and (d := flat(dout)) is not None
        and (o := flat(dx)) is not None
        and same_order(dout, dx)
    ):
        # saved copied into dout's layout (one strided copy), then the flat vectorized kernel.
        staged = np.empty_like(dout)
        views = as_4d(staged, saved)
        if views is None:
            np.copyto(staged, saved)
        else:
            run(COPY_4D, dout.size, *views, per_iteration=views[0].shape[2] * views[0].shape[3])
        run(pair, dout.size, d, flat(staged), o, params)
        return
    views = as_4d(dout, saved) if in_place else as_4d(dx, dout, saved)
    if views is None:
        kernels.backward_ufunc(dout, mask, *params, out=dx)
        return
    dx4, dout4, saved4 = (views[0], *views) if in_place else views
    rows = dx4.shape[2] * dx4.shape[3]  # elements per iteration of the parallel loop
    run(kernels.backward_4d, dout.size, dout4, saved4, dx4, params, per_iteration=rows)
