"""Classes of bugs an adversarial round found in the layers, losses and softmax, each held by a
test of the whole class: caller data mutated between calls, state after a failed or interrupted
call, interrupts at any bytecode, every dtype and subclass the book takes, the JIT disabled,
the book's bits in every geometry, array-like parameters, one layer shared by threads."""

import itertools
import json
import os
import sys
import threading
import time

import numpy as np
import pytest

import fastact
from fastact import functions as F
from fastact import layers as fast
from fastact import layers as losses
from fastact import reference as twin
from fastact.testing.bits import assert_same_bits
from fastact.testing.processes import run_python as fresh_python

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(code, env=None, timeout=300):
    """``code`` in a fresh interpreter that imports this checkout's fastact; a wrong write there
    crashes that process, not the test run. The caller reads the exit status."""
    path = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    return fresh_python(code, env={"PYTHONPATH": path} | (env or {}), timeout=timeout, check=False)


def same(a, b, context):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, context
    if a.dtype.kind in "iub":
        assert (a == b).all(), context
    else:
        assert_same_bits(a, b, context)


def same_layout_bits(a, b, context):
    """Bits, dtype, shape, and the memory order BLAS sees (C or F)."""
    same(a, b, context)
    assert (a.flags.c_contiguous, a.flags.f_contiguous) == (b.flags.c_contiguous, b.flags.f_contiguous), context


# --- caller data mutated between forward and backward ---------------------------------------


def test_softmax_with_loss_backward_checks_labels_changed_after_forward():
    """The labels are the caller's array: backward reads them again (as the book's does) and
    never indexes with one outside [-n, n). In a subprocess: a wrong write may crash it."""
    result = run_python(
        """
        import json, numpy as np
        from fastact.layers import SoftmaxWithLoss
        from fastact import reference as twin
        out = {}
        for dtype in (np.int64, np.int32, np.uint8, np.uint64):
            for label in (10**9, 12, 10, -11, 2, 9, -10, 2**64 - 1):
                try:
                    bad = np.array([label]).astype(dtype)[0]
                except OverflowError:
                    continue
                L, T = SoftmaxWithLoss(), twin.SoftmaxWithLoss()
                x = np.random.default_rng(0).standard_normal((4, 10))
                t = np.array([1, 2, 3, 4], dtype)
                u = t.copy()
                L.forward(x, t), T.forward(x, u)
                t[3], u[3] = bad, bad
                try:
                    expected = ("ok", T.backward().tolist())
                except IndexError:
                    expected = ("IndexError", None)
                try:
                    got = ("ok", L.backward().tolist())
                except IndexError:
                    got = ("IndexError", None)
                # the twin's y is the book's softmax, fastact's its own: equal within 1e-15
                if got[0] == expected[0] == "ok":
                    got = ("ok", np.allclose(got[1], expected[1], rtol=1e-14, atol=1e-16))
                    expected = ("ok", True)
                out[f"{np.dtype(dtype).name} {label}"] = [got, expected]
        L = SoftmaxWithLoss()
        L.forward(np.zeros((4, 10)), np.array([1, 2, 3, 4]))
        L.y = np.zeros((2, 10))  # y replaced by a smaller batch: the book's IndexError
        try:
            L.backward()
            out["y replaced"] = "no error"
        except IndexError:
            out["y replaced"] = "IndexError"
        print(json.dumps(out))
        """
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out.pop("y replaced") == "IndexError"
    assert len(out) >= 20
    for case, (got, expected) in out.items():
        assert got == expected, case


def test_pooling_backward_checks_an_arg_max_changed_after_forward(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    for geometry in ((2, 2, 2, 0), (3, 3, 3, 0), (2, 2, 1, 0), (3, 3, 2, 0)):
        layer, book = fast.Pooling(*geometry), twin.Pooling(*geometry)
        out = layer.forward(x)
        book.forward(x)
        dout = rng.standard_normal(out.shape)
        assert not layer.arg_max.flags.writeable  # nobody writes it by accident
        with pytest.raises(ValueError):
            layer.arg_max[0] = 10**9
        for value, error in ((10**9, IndexError), (geometry[0] * geometry[1], IndexError), (-1, None), (0, None)):
            layer.arg_max = layer.arg_max.copy()
            layer.arg_max[0] = value
            book.arg_max = layer.arg_max.copy()
            if error:
                with pytest.raises(error):
                    book.backward(dout)
                with pytest.raises(error):
                    layer.backward(dout)
            else:
                same(np.ascontiguousarray(layer.backward(dout)), np.ascontiguousarray(book.backward(dout)), value)
        layer.arg_max = layer.arg_max[:-1].copy()  # one too few: the twin's code, its error
        with pytest.raises(ValueError):
            layer.backward(dout)


def test_batchnorm_backward_with_a_replaced_xn_takes_numpys_code(rng):
    layer = fast.BatchNormalization(np.ones(5), np.zeros(5))
    layer.forward(rng.standard_normal((8, 5)))
    layer.xn = layer.xn[:2].copy()  # the kernels would read past its end
    with pytest.raises(ValueError):
        layer.backward(np.ones((8, 5)))


# --- a failed or interrupted forward leaves the previous state ------------------------------


@pytest.mark.parametrize("failure", ["bad bias", "interrupt after im2col", "interrupt in the product"])
def test_convolution_failed_forward_leaves_the_previous_state(failure, rng, monkeypatch):
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    x1, x2 = rng.standard_normal((2, 5, 3, 7, 7))
    layer, book = fast.Convolution(W, b), twin.Convolution(W, b)
    for _ in range(3):  # a spare matrix exists: forward would reuse one
        layer.forward(x1)
    book.forward(x1)
    state = {k: id(v) for k, v in vars(layer).items()}  # ids: a reference would keep col from reuse
    col = layer.col.copy()
    if failure == "bad bias":
        layer.b = np.zeros(7)
        with pytest.raises(ValueError):
            layer.forward(x2)
        layer.b = b
    else:
        import fastact._core.gemm as gemm
        import fastact.layers.conv as conv_module

        real = conv_module.im2col_into

        def interrupted(*args, **kwargs):
            if failure == "interrupt after im2col":
                real(*args, **kwargs)  # the matrix is written, then the interrupt lands
            raise KeyboardInterrupt

        if failure == "interrupt after im2col":
            monkeypatch.setattr(conv_module, "im2col_into", interrupted)
        else:
            monkeypatch.setattr(gemm, "dot_plus_bias", interrupted)
        with pytest.raises(KeyboardInterrupt):
            layer.forward(x2)
        monkeypatch.undo()
    for name in ("x", "col", "col_W", "dW", "db"):
        assert id(vars(layer)[name]) == state[name], name
    same(layer.col, col, "the saved matrix was not written")
    dout = rng.standard_normal((5, 4, 5, 5))
    same(layer.backward(dout), book.backward(dout), "backward after the failed forward")
    same(layer.dW, book.dW, "dW")
    same(layer.db, book.db, "db")


def test_failed_forwards_of_every_book_layer_leave_their_state(rng):
    x = rng.standard_normal((4, 3, 6, 6))
    cases = [
        (fast.Affine(rng.standard_normal((108, 5)), np.zeros(5)), "b", np.zeros(7), (x,)),
        (fast.BatchNormalization(np.ones(108), np.zeros(108)), "beta", np.zeros(7), (x,)),
        (fast.Convolution(rng.standard_normal((2, 3, 3, 3)), np.zeros(2)), "b", np.zeros(3), (x,)),
    ]
    for layer, name, bad, args in cases:
        layer.forward(*args)
        state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(layer).items()}
        good = getattr(layer, name)
        setattr(layer, name, bad)
        with pytest.raises(ValueError):
            layer.forward(rng.standard_normal(x.shape))
        setattr(layer, name, good)
        for k, v in state.items():
            if isinstance(v, np.ndarray) and not k.startswith("_"):
                same(vars(layer)[k], v, f"{type(layer).__name__}.{k}")


# --- interrupts at any bytecode ----------------------------------------------------------------


def test_interrupts_at_random_points_never_leave_the_parallel_slot_held():
    """SIGALRM at random moments during parallel forwards: after 200 KeyboardInterrupts the slot
    is free and the next call runs parallel."""
    result = run_python(
        """
        import json, random, signal, numpy as np
        import fastact._core.threads as T
        from fastact.layers import Relu
        x = np.ones(2_000_000)
        for build in ("serial", "parallel"):  # compiled first: an interrupt inside numba's own
            with T.forced(build):             # first compile can break numba's registries
                Relu().forward(x)
        def handler(*args):
            raise KeyboardInterrupt
        signal.signal(signal.SIGALRM, handler)
        rnd = random.Random(7)
        hits = 0
        for i in range(200):
            try:
                signal.setitimer(signal.ITIMER_REAL, rnd.uniform(0, 0.003))
                while True:
                    Relu().forward(x)
            except KeyboardInterrupt:
                hits += 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        free = not T._slot
        ran = []
        class Pair:
            op, cost, limits, waiting = "relu_forward", 1, (-1, 0), None
            def serial(self, a, part, parts):
                ran.append("serial")
            class parallel:
                def launch(head, parts, threads, chunksize, defer):
                    ran.append("parallel" if T._slot else "parallel without the slot")
        with T.forced("parallel"):
            T.run(Pair(), 10**7, x)
        print(json.dumps({"hits": hits, "free": free, "ran": ran, "after": not T._slot}))
        """,
        env={"NUMBA_NUM_THREADS": "2"},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out == {"hits": 200, "free": True, "ran": ["parallel"], "after": True}


# --- every dtype the book takes ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.int8, np.int16, np.int64, np.uint8])
def test_softmax_with_loss_takes_every_dtype_the_book_takes(dtype, rng):
    x = (rng.standard_normal((6, 10)) * 3).astype(dtype)
    t = rng.integers(0, 10, 6)
    layer, book = fastact.layers.SoftmaxWithLoss(), twin.SoftmaxWithLoss()
    with np.errstate(all="ignore"):
        loss, expected = layer.forward(x, t), book.forward(x, t)
        dx, book_dx = layer.backward(), book.backward()
    assert np.asarray(loss).dtype == np.asarray(expected).dtype
    assert layer.y.dtype == book.y.dtype
    assert dx.dtype == book_dx.dtype and dx.shape == book_dx.shape
    # fastact's softmax rounds once (float16: computed in float32); the book's rounds each step
    # in the result dtype and int8's x - max wraps around: equal to the true value's rounding
    truth = twin.softmax(x.astype(np.float64))
    tolerance = 2e-3 if layer.y.dtype == np.float16 else 1e-6 if layer.y.dtype == np.float32 else 1e-14
    np.testing.assert_allclose(layer.y.astype(np.float64), truth, rtol=tolerance, atol=tolerance / 10)
    one_hot = np.eye(10, dtype=dtype)[t]
    with np.errstate(all="ignore"):
        layer.forward(x, one_hot), book.forward(x, one_hot)
        assert layer.backward().dtype == book.backward().dtype


def test_softmax_functions_follow_numpys_dtype_rules_and_name_bad_input():
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.float16):
        x = np.array([[1, 2, 3], [3, 0, 5]], dtype)
        with np.errstate(all="ignore"):
            expected = twin.softmax(x)
        for f in (F.softmax, fastact.softmax, fastact.Softmax().forward):
            assert f(x).dtype == expected.dtype, (f, dtype)
    for scalar in (0.5, 3, np.float32(2.0), np.float64(-1.0)):
        same(F.softmax(scalar), twin.softmax(scalar), f"softmax({scalar!r})")
        same(fastact.softmax(scalar), twin.softmax(scalar), f"softmax({scalar!r})")
        same(fastact.log_softmax(scalar), twin.log_softmax(scalar), f"log_softmax({scalar!r})")
    for bad in ("abc", np.array(["a", "b"]), np.array([None, 1.0], dtype=object), [["a"]]):
        for f in (F.softmax, fastact.softmax, fastact.log_softmax):
            with pytest.raises(TypeError, match="x must .*dtype"):
                f(bad)


# --- the JIT disabled ------------------------------------------------------------------------


def test_everything_runs_with_the_jit_disabled():
    result = run_python(
        """
        import json, warnings, numpy as np
        warnings.simplefilter("ignore")
        import fastact
        from fastact import functions as F, layers as L, reference as R
        rng = np.random.default_rng(0)
        checks = {}
        for shape in ((2, 3), (300, 400), (5,), (2, 3, 4)):
            x = rng.standard_normal(shape)
            t = rng.integers(0, shape[-1], shape[0]) if len(shape) == 2 else None
            checks[f"softmax {shape}"] = np.allclose(fastact.softmax(x), R.softmax(x), rtol=1e-13)
            checks[f"log_softmax {shape}"] = np.allclose(fastact.log_softmax(x), R.log_softmax(x), rtol=1e-13)
            s = L.Softmax()
            checks[f"Softmax {shape}"] = np.allclose(s.forward(x), R.softmax(x), rtol=1e-13)
            checks[f"Softmax.backward {shape}"] = np.allclose(
                s.backward(x), R.softmax_backward(s.out, x), rtol=1e-12, atol=1e-15)
            ls = L.LogSoftmax()
            checks[f"LogSoftmax {shape}"] = np.allclose(ls.forward(x), R.log_softmax(x), rtol=1e-13)
            ls.backward(x)
            checks[f"functions.softmax {shape}"] = np.allclose(F.softmax(x), R.softmax(x), rtol=1e-13)
            if t is not None:
                layer, book = L.SoftmaxWithLoss(), R.SoftmaxWithLoss()
                checks[f"SoftmaxWithLoss {shape}"] = bool(np.isclose(layer.forward(x, t), book.forward(x, t)))
                checks[f"SoftmaxWithLoss.backward {shape}"] = np.allclose(layer.backward(), book.backward())
                checks[f"softmax_loss {shape}"] = bool(np.isclose(F.softmax_loss(x, t), R.softmax_loss(x, t)))
        x4 = rng.standard_normal((2, 3, 6, 6))
        for name, args in (("Convolution", (rng.standard_normal((4, 3, 3, 3)), np.zeros(4))),
                           ("Pooling", (2, 2)), ("BatchNormalization", (np.ones(108), np.zeros(108))),
                           ("Affine", (rng.standard_normal((108, 5)), np.zeros(5))), ("Dropout", ())):
            layer, book = getattr(L, name)(*args), getattr(R, name)(*args)
            np.random.seed(1)
            out = layer.forward(x4)
            np.random.seed(1)
            checks[name] = np.array_equal(out, book.forward(x4))
            d = rng.standard_normal(out.shape)
            checks[name + ".backward"] = np.array_equal(layer.backward(d), book.backward(d))
        col = fastact.util.im2col(x4, 3, 3, 2, 1)
        checks["im2col"] = np.array_equal(col, R.im2col(x4, 3, 3, 2, 1))
        back = fastact.util.col2im(col, x4.shape, 3, 3, 2, 1)
        checks["col2im"] = np.array_equal(back, R.col2im(col, x4.shape, 3, 3, 2, 1))
        print(json.dumps(checks))
        """,
        env={"NUMBA_DISABLE_JIT": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    checks = json.loads(result.stdout.splitlines()[-1])
    assert checks and all(checks.values()), {k: v for k, v in checks.items() if not v}


# --- subclasses take the book's code ---------------------------------------------------------


def masked(a, rng):
    return np.ma.masked_array(a, mask=rng.random(a.shape) < 0.2)


def same_masked(a, b, context):
    assert type(a) is type(b), context
    same(np.ma.getdata(a), np.ma.getdata(b), context)
    same(np.ma.getmaskarray(a), np.ma.getmaskarray(b), context + " mask")


def test_masked_arrays_take_the_books_code_in_every_layer(rng):
    x2, x4 = masked(rng.standard_normal((6, 12)), rng), masked(rng.standard_normal((2, 3, 6, 6)), rng)
    W, b = rng.standard_normal((12, 5)), rng.standard_normal(5)
    cases = [
        ("Affine", (W, b), x2),
        ("Convolution", (rng.standard_normal((4, 3, 3, 3)), np.zeros(4)), x4),
        ("Pooling", (2, 2), x4),
        ("BatchNormalization", (np.ones(12), np.zeros(12)), x2),
        ("Dropout", (), x2),
    ]
    for name, args, x in cases:
        layer, book = getattr(fast, name)(*args), getattr(twin, name)(*args)
        state = np.random.get_state()
        with np.errstate(all="ignore"):
            out = layer.forward(x)
            np.random.set_state(state)
            expected = book.forward(x)
        same_masked(out, expected, name)
        dout = masked(rng.standard_normal(np.shape(out)), rng)
        with np.errstate(all="ignore"):
            same_masked(layer.backward(dout), book.backward(dout), name + ".backward")
    layer, book = fastact.layers.SoftmaxWithLoss(), twin.SoftmaxWithLoss()
    t = rng.integers(0, 12, 6)
    with np.errstate(all="ignore"):
        same(np.ma.getdata(layer.forward(x2, t)), np.ma.getdata(book.forward(x2, t)), "SoftmaxWithLoss")
    same_masked(layer.y, book.y, "SoftmaxWithLoss.y")
    out = np.ma.masked_array(np.zeros(x2.shape), mask=np.zeros(x2.shape, bool))
    got = fastact.softmax(np.asarray(x2), out=out)
    assert got is out
    same(out.data, fastact.softmax(np.asarray(x2)), "softmax into a masked out")
    same_masked(fastact.softmax(x2), twin.softmax(x2), "softmax of a masked array")


# --- the book's bits in every geometry -------------------------------------------------------


def test_convolution_is_the_books_bit_for_bit_in_every_geometry(rng):
    """Batch 1 (the book's matrix is then an F-ordered view: another BLAS kernel for dW), one
    filter and one output row (NumPy's gemv), strided filters (NumPy copies col_W first), and
    their neighbours: every attribute and result, bits and memory order of col."""
    grid = itertools.product([1, 2], [1, 2], [1, 3], [1, 5], [3, 4], [1, 3], [1, 2], [1, 2], [0, 1], [False, True])
    checked = 0
    for n, c, fn, h, w, fh, fw, stride, pad, strided in grid:
        if h + 2 * pad < fh or w + 2 * pad < fw:
            continue
        wide = rng.standard_normal((fn, c, fh, 2 * fw))
        W = wide[..., ::2] if strided else np.ascontiguousarray(wide[..., ::2])
        b = rng.standard_normal(fn)
        x = rng.standard_normal((n, c, h, w))
        layer, book = fast.Convolution(W, b, stride, pad), twin.Convolution(W, b, stride, pad)
        context = f"n={n} c={c} fn={fn} {h}x{w} filter {fh}x{fw} stride {stride} pad {pad} strided W {strided}"
        same(layer.forward(x), book.forward(x), context + " out")
        dout = rng.standard_normal((n, fn, *book.forward(x).shape[2:]))
        same(np.ascontiguousarray(layer.backward(dout)), np.ascontiguousarray(book.backward(dout)), context + " dx")
        same(layer.dW, book.dW, context + " dW")
        same(layer.db, book.db, context + " db")
        same_layout_bits(layer.col, book.col, context + " col")
        checked += 1
    assert checked > 300


@pytest.mark.parametrize("d", [1, 2, 3])
def test_batchnorm_is_the_books_bit_for_bit_for_any_batch(d, rng):
    for n in (1, 2, 7, 8, 9, 16, 33, 100, 257):
        g, beta = rng.standard_normal(d), rng.standard_normal(d)
        x = rng.standard_normal((n, d)) * 3 + 1
        layer, book = fast.BatchNormalization(g, beta), twin.BatchNormalization(g, beta)
        with np.errstate(all="ignore"):
            same(layer.forward(x), book.forward(x), f"({n}, {d}) out")
            dout = rng.standard_normal((n, d))
            same(layer.backward(dout), book.backward(dout), f"({n}, {d}) dx")
        for name in ("xc", "xn", "std", "running_mean", "running_var", "dgamma", "dbeta"):
            same(getattr(layer, name), getattr(book, name), f"({n}, {d}) {name}")


# --- array-like parameters -------------------------------------------------------------------


def test_list_parameters_broadcast_as_in_the_book(rng):
    x = rng.standard_normal((4, 3))
    for b in ([0.0, 1.0], 0.5, (2.0, -1.0), [[1.0, 2.0]]):
        layer, book = fast.Affine(np.ones((3, 2)), b), twin.Affine(np.ones((3, 2)), b)
        same(layer.forward(x), book.forward(x), f"Affine b={b!r}")
    x4 = rng.standard_normal((2, 1, 5, 5))
    W = rng.standard_normal((2, 1, 3, 3))
    for b in ([0.0, 1.0], 0.5):
        layer, book = fast.Convolution(W, b), twin.Convolution(W, b)
        same(layer.forward(x4), book.forward(x4), f"Convolution b={b!r}")


# --- backward before forward -----------------------------------------------------------------


def test_backward_before_forward_is_one_error_for_every_layer():
    layers = [
        fast.Affine(np.ones((2, 2)), np.zeros(2)),
        fast.Dropout(),
        fast.BatchNormalization(np.ones(2), np.zeros(2)),
        fast.Convolution(np.ones((1, 1, 2, 2)), np.zeros(1)),
        fast.Pooling(2, 2),
        losses.Softmax(),
        losses.LogSoftmax(),
        *(cls() for cls in fastact.layers.activation.CLASSES.values()),
    ]
    for layer in layers:
        with pytest.raises(fastact.layers.ForwardNotCalledError, match="before"):
            layer.backward(np.zeros((2, 2)))
    for layer in (losses.SoftmaxWithLoss(), losses.SigmoidWithLoss()):
        with pytest.raises(fastact.layers.ForwardNotCalledError, match="before"):
            layer.backward()


# --- one layer, many threads -----------------------------------------------------------------


def test_one_convolution_shared_by_threads_gives_each_its_own_result(rng):
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    layer = fast.Convolution(W, b, 1, 1)
    inputs = [rng.standard_normal((3, 3, 8, 8)) for _ in range(3)]
    expected = [twin.Convolution(W, b, 1, 1).forward(x) for x in inputs]
    wrong, counts = [], [0, 0, 0]
    stop = time.monotonic() + 3.0

    def predict(i):
        while time.monotonic() < stop:
            if not np.array_equal(layer.forward(inputs[i]), expected[i]):
                wrong.append(i)
            counts[i] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=predict, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert min(counts) > 50
    assert not wrong, f"{len(wrong)} of {sum(counts)} forwards returned another thread's result"
