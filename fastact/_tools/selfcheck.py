"""Check fastact against the seed's twins on this machine: the first half of ``python -m fastact``.

Each check runs one layer and dtype on both kernel builds (serial, parallel) and on the
book's layouts, and compares with ``fastact.reference``: bits for Relu and both backwards, the
error against the true sigmoid (in ULP) for Sigmoid forward. Then the row ops: softmax and
log-softmax against the true value (in ULP, within ``_core.softmax.ULP_BOUNDS``), their backward
passes and SoftmaxWithLoss against the book's expressions.
"""

import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .. import reference
from .._core import threads
from .._core.kernels import KERNELS
from .._core.softmax import ULP_BOUNDS, log_softmax, softmax
from ..activations import REGISTRY
from ..layers import LogSoftmax, Relu, Sigmoid, Softmax, SoftmaxWithLoss, layer_for
from ..testing import ulp
from ..testing.sigmoid import SEED_ULP, true_sigmoid
from ..testing.values import quiet_special_values


def _inputs(dtype, rng):
    """A mix of every magnitude and the special values, in the book's shapes and layouts."""
    specials = quiet_special_values(dtype)
    sweep = np.concatenate(
        [
            (rng.standard_normal(400_000) * 10.0 ** rng.integers(-8, 3, 400_000)).astype(dtype),
            np.linspace(-750 if dtype == "float64" else -104, 40, 200_000).astype(dtype),
            specials,
        ]
    )
    conv = rng.standard_normal((8, 24, 24, 30)).astype(dtype)
    conv.reshape(-1)[: specials.size] = specials
    return {"flat": sweep, "book (100, 50)": sweep[:5000].reshape(100, 50), "conv view": conv.transpose(0, 3, 1, 2)}


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    same = a == b
    both_nan = np.isnan(a) & np.isnan(b)
    signs = np.signbit(a) == np.signbit(b)  # -0.0 == +0.0, but not bit for bit
    return bool(np.all((same & signs) | both_nan))


def max_ulp_error(y, x):
    """Worst error of y = sigmoid(x) against the true value, in ULP of the true value, over
    the inputs whose true result is a normal number (the contract's measure)."""
    truth = true_sigmoid(x)
    normal = np.isfinite(x) & (truth.astype(y.dtype) >= np.finfo(y.dtype).tiny)
    return ulp.max_ulp_error(y[normal], truth[normal], y.dtype, unit="rounded")


def _check_relu(x):
    """(ok, None): forward, mask and backward equal to the seed's, bit for bit."""
    fast, seed = Relu(), reference.Relu()
    out, expected = fast.forward(x), seed.forward(x.copy())
    ok = _same_bits(out, expected) and np.array_equal(fast.mask, seed.mask)
    dout = np.flip(np.ascontiguousarray(x)).reshape(x.shape).copy()
    ok &= _same_bits(fast.backward(dout.copy()), seed.backward(dout.copy()))
    return ok, None


def _check_sigmoid(x):
    """(ok, worst ULP): forward within the bound, backward equal to the seed's bits."""
    fast = Sigmoid()
    out = fast.forward(x)
    err = max_ulp_error(out.reshape(-1), np.ascontiguousarray(x).reshape(-1)) if out.size else 0.0
    twin = reference.Sigmoid()
    twin.out = out
    dout = np.flip(np.ascontiguousarray(x)).reshape(x.shape).copy()
    dout[~np.isfinite(dout)] = 1.0
    with np.errstate(all="ignore"):
        backward_ok = _same_bits(fast.backward(dout), twin.backward(dout))
    return err <= SEED_ULP[str(x.dtype)] and backward_ok, err


def _check_activation(name, x):
    """(ok, worst error): any other activation of the registry. Its layer agrees bit for bit
    with its ufuncs (the dispatch picked kernels that compute the same formula); bit-identical
    ones match the twin's bits; the others are compared with the twin where the textbook
    formula is itself accurate (0.25 <= |x| <= 3, no cancellation): float32 within the bound
    in ULP of the float64 twin (29 bits finer, a truth here), float64 within 1e-9 relative (a
    sanity check of the kernels: the tests measure the bounds against mpmath everywhere)."""
    spec = REGISTRY[name]
    kernels = KERNELS[name]
    params = tuple(x.dtype.type(p.default) for p in spec.params)
    layer = layer_for(name)
    with np.errstate(all="ignore"):  # signalling NaNs; inf * 0 in the backward of huge douts
        out = layer.forward(x)
        ok = _same_bits(out, kernels.ufunc(x, *params))
        dout = np.flip(np.ascontiguousarray(x)).reshape(x.shape).copy()
        dout[~np.isfinite(dout)] = 1.0
        saved = getattr(layer, spec.attribute)
        ok &= _same_bits(layer.backward(dout), kernels.backward_ufunc(dout, saved, *params))
        flat_x, flat_out = np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(out).reshape(-1)
        twin = getattr(reference, name)
        if spec.ulp == 0:
            sane = np.abs(flat_x) < np.finfo(x.dtype).max / 8
            return ok and _same_bits(flat_out[sane], twin(flat_x[sane], *params)), 0.0
        calm = (np.abs(flat_x) >= 0.25) & (np.abs(flat_x) <= 3)
        truth = twin(flat_x[calm].astype(np.float64), *map(float, params))
    got = flat_out[calm].astype(np.float64)
    if x.dtype == np.float32:
        err = np.abs(got - truth) / np.spacing(np.abs(truth.astype(np.float32))).astype(np.float64)
        bound = spec.ulp
    else:
        err = np.abs(got - truth) / np.abs(truth)
        bound = 1e-9
    worst = float(err.max()) if err.size else 0.0
    return ok and worst <= bound, worst


def _rows_input(dtype, rng):
    """Rows of every spread: logits, rows over +-60 (where the book's x - max loses up to 66
    ULP), one value far above the rest, -inf beside finite values, and 1-element rows' kin."""
    x = rng.standard_normal((64, 300)) * rng.choice([0.001, 1.0, 5.0, 30.0], (64, 1))
    x[1] = rng.uniform(-60, 60, 300)
    x[2, 7] += 70
    x[3, ::5] = -np.inf
    return x.astype(dtype)


#: What each of ``_rows_inputs``' arrays is, appended to its rows' details.
SHAPES = ("", ", the book's (100, 10)")


def _rows_inputs(dtype, rng):
    """The row ops' inputs: ``_rows_input``'s rows (64, 300), then the book's MNIST logits
    (100, 10), whose short rows another kernel takes."""
    return _rows_input(dtype, rng), (rng.standard_normal((100, 10)) * 4).astype(dtype)


#: The row ops of the book's own code: what ``python -m fastact`` checks (``check`` adds
#: log_softmax and the backward of the Softmax and LogSoftmax layers).
BOOK_ROWS = ("softmax", "SoftmaxWithLoss")
ROWS = ("softmax", "log_softmax", "Softmax.backward", "LogSoftmax.backward", "SoftmaxWithLoss")


def _check_rows(x, ops=ROWS):
    """Yield (name, ok, detail) for the row ops ``ops`` on x, on the build in force.

    The truth is taken in np.longdouble where it is wider than float64 (x86 Linux and macOS);
    elsewhere float64 results are only compared with the NumPy expression (1e-13 relative).
    """
    dtype = str(x.dtype)
    wide = np.finfo(np.longdouble).nmant > 52
    xl = x.astype(np.longdouble if wide or dtype == "float32" else np.float64)
    d = xl - xl.max(axis=-1, keepdims=True)
    e = np.exp(d)
    s = e.sum(axis=-1, keepdims=True)
    below = np.where(d == 0, 0, e).sum(axis=-1, keepdims=True)
    count = (d == 0).sum(axis=-1, keepdims=True)
    truths = {"softmax": e / s, "log_softmax": d - np.log1p(below + (count - 1))}
    for name, f in (("softmax", softmax), ("log_softmax", log_softmax)):
        if name not in ops:
            continue
        bound = ULP_BOUNDS[name, dtype]
        if wide or dtype == "float32":
            err = ulp.max_ulp_error(f(x), truths[name], x.dtype, unit="rounded")
            yield name, err <= bound, f"max {err:.2f} ULP (bound {bound})"
        else:
            ok = np.allclose(f(x), truths[name], rtol=1e-13, atol=0)
            yield name, ok, "within 1e-13 of float64 (no wider long double here)"
    tol = 1e-5 if dtype == "float32" else 1e-12
    dout = np.cos(np.arange(x.size, dtype=x.dtype)).reshape(x.shape)
    for name, layer, formula in (
        ("Softmax.backward", Softmax(), reference.softmax_backward),
        ("LogSoftmax.backward", LogSoftmax(), reference.log_softmax_backward),
    ):
        if name not in ops:
            continue
        y = layer.forward(x)
        with np.errstate(all="ignore"):
            expected = formula(y, dout)
        got = layer.backward(dout)
        scale = np.abs(np.where(np.isfinite(expected), expected, 0)).max()
        ok = np.allclose(got, expected, rtol=tol, atol=tol * scale, equal_nan=True)
        yield name, ok, f"the NumPy expression's values (within {tol:g}, relative to the largest)"
    if "SoftmaxWithLoss" not in ops:
        return
    finite = np.isfinite(x).all(axis=-1)
    xs, labels = x[finite], np.arange(int(finite.sum())) % x.shape[1]
    ours, book = SoftmaxWithLoss(), reference.SoftmaxWithLoss()
    loss, book_loss = ours.forward(xs, labels), book.forward(xs, labels)
    book.y = ours.y  # the book's backward is then the same arithmetic on fastact's y
    dx_ok = _same_bits(ours.backward(), book.backward())
    ok = abs(float(loss) - float(book_loss)) <= tol * abs(float(book_loss)) and dx_ok
    yield "SoftmaxWithLoss", ok, f"loss within {tol:g} of the book's, dx its arithmetic bit for bit"


#: The dtypes and kernel builds every check covers, in the report's order.
DTYPES = ("float32", "float64")
BUILDS = ("ufunc", "serial", "parallel")
_ROWS = "row ops"


def _check_one(name, x_by_layout, dtype):
    """(layer, ok, detail) for one activation of the registry on the build in force."""
    layer = REGISTRY[name].layer + ("(tanh)" if REGISTRY[name].layer_kwargs else "")
    if name == "relu":
        ok = all(_check_relu(x)[0] for x in x_by_layout.values())
        return layer, ok, "forward, mask, backward bit-exact" if ok else "bits differ"
    check = _check_sigmoid if name == "sigmoid" else functools.partial(_check_activation, name)
    results = [check(x) for x in x_by_layout.values()]
    ok = all(r[0] for r in results)
    worst = max(r[1] for r in results)
    if REGISTRY[name].ulp == 0:
        detail = "forward, backward bit-exact" if ok else "bits differ"
    elif name == "sigmoid":
        detail = (
            f"forward max {worst:.2f} ULP (bound {SEED_ULP[dtype]}), backward bit-exact"
            if ok
            else f"max {worst:.2f} ULP or bits differ"
        )
    elif dtype == "float32":
        detail = (
            f"paths agree; forward {worst:.2f} ULP from the float64 twin"
            if ok
            else f"paths differ or {worst:.2f} ULP from the float64 twin"
        )
    else:
        detail = (
            f"paths agree; forward {worst:.1e} relative to the twin"
            if ok
            else f"paths differ or {worst:.1e} relative to the twin"
        )
    return f"{layer:<11}", ok, detail


def _run_task(seed, name, dtypes=DTYPES, ops=ROWS):
    """The report's rows for one activation (or the row ops ``ops``), its dtypes and every build.

    One task holds all of one activation's kernels, so that no two processes compile the same
    one: a ufunc compiles both dtypes at once, and every build's check calls the ufuncs too.
    The row ops have no ufuncs and separate code per dtype: a task per dtype (not per build
    too: the two builds share their helpers, which a task per build compiled twice: the four
    tasks took 55 s against 40 s for two; AMD EPYC).
    """
    rows = []
    for dtype in dtypes:
        d = DTYPES.index(dtype)
        inputs = _inputs(dtype, np.random.default_rng((seed, d))) if name != _ROWS else None
        for b, build in enumerate(BUILDS):
            if name == _ROWS and build == "ufunc":  # the row ops have no ufunc path
                continue
            with threads.forced(build):
                if name == _ROWS:
                    for k, x in enumerate(_rows_inputs(dtype, np.random.default_rng((seed, d, b)))):
                        checked = _check_rows(x, ops)
                        rows += [(op, dtype, build, ok, detail + SHAPES[k]) for op, ok, detail in checked]
                else:
                    layer, ok, detail = _check_one(name, inputs, dtype)
                    rows.append((layer, dtype, build, ok, detail))
    return rows


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


#: The activations of the book's own layers: what ``python -m fastact`` checks (with the row
#: ops); ``python -m fastact check`` takes every activation of the registry.
BOOK = ("relu", "sigmoid")


def run_checks(seed=0, names=None, jobs=None, rows=None):
    """Yield (layer, dtype, build, ok, detail) for every combination, op by op.

    ``names``: the activations (default: all); ``rows``: which row ops are checked too (names
    from ``ROWS``; True: all of them; default: all where ``names`` is None, else none). Most
    of a first run is numba compiling the kernels; ``jobs`` worker processes (default: one
    per core) compile and check different tasks side by side, their kernels landing in
    numba's cache for the timings after. ``jobs=1`` checks
    in this process (what a test that patches a layer needs).
    """
    tasks = [(name, DTYPES) for name in names or REGISTRY]
    if rows is None:
        rows = names is None
    if rows:
        ops = ROWS if rows is True else tuple(rows)
        if unknown := set(ops) - set(ROWS):
            raise ValueError(f"rows: no row op named {sorted(unknown)}; they are {ROWS}")
        tasks += [(_ROWS, (dtype,), ops) for dtype in DTYPES]
    jobs = min(len(tasks), jobs or _cores())
    if jobs <= 1:
        for task in tasks:
            yield from _run_task(seed, *task)
        return
    # spawn, not fork: a forked child would inherit this process's OpenMP and LLVM state.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        # The costliest to compile start first (the row ops, then the activations by their
        # formulas' cost), so that the workers finish together; reported in the tasks' order.
        order = sorted(tasks, key=lambda t: (t[0] != _ROWS, t[0] != _ROWS and -REGISTRY[t[0]].cost))
        futures = {task: pool.submit(_run_task, seed, *task) for task in order}
        try:
            for task in tasks:
                yield from futures[task].result()
        finally:  # a failed task, or a caller that stops reading: don't wait for the rest
            for future in futures.values():
                future.cancel()
