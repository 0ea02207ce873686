"""Every public entry point that writes, driven with outputs and inputs of every layout inside
canary buffers (``canary``): the result must be the contiguous call's, bit for bit, and no byte
outside an output may change (no byte at all of an input that is only read).

Run a group in its own process, where a wrong write cannot take the caller down::

    python -m fastact.testing.entry_points ufuncs float32

prints one line per failure and exits 1 if there was any (a crash shows as a signal).
"""

import sys

import numpy as np

from .canary import LAYOUTS, SHAPES, Canary


def _sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    x = rng.standard_normal(n) * 4
    specials = [np.nan, 0.0, -0.0, np.inf, -np.inf, 1e-310, -1e-310, 3.0, -3.0]
    x[: min(n, len(specials))] = specials[:n]
    return x.astype(dtype).reshape(shape)


def _same(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return False
    a, e = actual.reshape(-1), expected.reshape(-1)
    if a.dtype.kind != "f":
        return np.array_equal(a, e)
    u = np.dtype(f"u{a.itemsize}")
    nan = np.isnan(a) & np.isnan(e)  # NaN payloads may differ between paths (see assert_same_bits)
    return bool(((a.view(u) == e.view(u)) | nan).all())


class Report:
    def __init__(self):
        self.failures = []
        self.cases = 0

    def check(self, what, ok, detail=""):
        self.cases += 1
        if not ok:
            self.failures.append(f"{what}: {detail}")
            # printed at once: a stray write may corrupt the heap and end the process before the summary
            print("FAIL", self.failures[-1], flush=True)

    def output(self, what, canary, expected):
        """``canary.view`` was written as an output: compare values and the bytes around it."""
        outside = canary.outside_changed()
        self.check(what, not outside.size, f"{outside.size} elements outside the output changed")
        view = canary.view
        if view.size and 0 in view.strides:  # aliased elements: NumPy's own rule, some write wins
            u = np.dtype(f"u{view.itemsize}")
            got = np.array(view[0], order="C").view(u)
            group = np.array(expected, order="C").view(u)  # the values aliased onto each address
            ok = bool(all(np.isin(g, group[(slice(None), *i)]) for i, g in np.ndenumerate(got)))
            self.check(what, ok, "a zero-stride output holds a value no element computed")
        else:
            self.check(what, _same(view, expected), "values differ from the contiguous call's")

    def read_only(self, what, canary):
        changed = canary.changed()
        self.check(what, not changed.size, f"an input was written ({changed.size} elements)")


def _ufunc_calls():
    """(name, function, extra inputs maker) for every registry function and parameter ufunc."""
    import fastact
    from fastact.activations import REGISTRY

    for name, spec in REGISTRY.items():
        yield name, getattr(fastact, name), lambda shape, dt: ()
        if spec.params:
            defaults = spec.defaults
            ufunc = getattr(fastact, name).ufunc
            yield f"{name}.ufunc", ufunc, lambda shape, dt, d=defaults: tuple(np.full(shape, v, dt) for v in d)


def ufuncs(report, dtype):
    for name, f, extra in _ufunc_calls():
        for shape in SHAPES:
            x = _sample(shape, dtype)
            args = extra(shape, dtype)
            expected = f(x, *args)
            for layout in LAYOUTS:
                what = f"{name} {np.dtype(dtype).name} {shape} out={layout}"
                out = Canary(layout, shape, dtype)
                f(x, *args, out=out.view)
                report.output(what, out, expected)
                if layout == "zero stride":
                    continue
                # the input in the same layout, then the call in place
                xin = Canary(layout, shape, dtype, fill=x)
                out = Canary(layout, shape, dtype)
                f(xin.view, *args, out=out.view)
                report.output(what + " x in that layout", out, expected)
                report.read_only(what + " (x)", xin)
                f(xin.view, *args, out=xin.view)
                report.output(what + " in place", xin, expected)


def rows(report, dtype):
    import fastact

    for f in (fastact.softmax, fastact.log_softmax):
        for shape in SHAPES[1:]:
            x = _sample(shape, dtype)
            for axis in {-1, 0}:
                expected = f(x, axis=axis)
                for layout in LAYOUTS:
                    what = f"{f.__name__} {np.dtype(dtype).name} {shape} axis={axis} out={layout}"
                    if layout == "zero stride":
                        continue  # a reduction's output may not alias (NumPy's own rule for out)
                    out = Canary(layout, shape, dtype)
                    f(x, axis=axis, out=out.view)
                    report.output(what, out, expected)
                    xin = Canary(layout, shape, dtype, fill=x)
                    report.output(what + " x in that layout", out, f(xin.view, axis=axis))
                    report.read_only(what + " (x)", xin)


def _activation_layers():
    from fastact.activations import REGISTRY
    from fastact.layers import layer_for

    for name in REGISTRY:
        yield name, lambda name=name: layer_for(name)


def layers(report, dtype):
    """Every activation layer: x and dout of every layout; Relu in place, forward and backward."""
    for name, make in _activation_layers():
        for shape in SHAPES[1:]:
            x, dout = _sample(shape, dtype, 1), _sample(shape, dtype, 2)
            ref = make()
            y = ref.forward(x)
            dx = ref.backward(dout.copy())
            for layout in LAYOUTS:
                if layout == "zero stride":
                    continue  # an input, not an output: any layout the other tests cover
                what = f"{name} layer {np.dtype(dtype).name} {shape} {layout}"
                layer = make()
                xin = Canary(layout, shape, dtype, fill=x)
                report.check(what + " forward", _same(layer.forward(xin.view), y), "values differ")
                report.read_only(what + " forward (x)", xin)
                din = Canary(layout, shape, dtype, fill=dout)
                got = layer.backward(din.view)
                report.check(what + " backward", _same(got, dx), "values differ")
                if got is din.view:  # Relu's backward writes into dout, as the book's
                    report.output(what + " backward into dout", din, dx)
                else:
                    report.read_only(what + " backward (dout)", din)
                if name == "relu":
                    from fastact import Relu

                    xin = Canary(layout, shape, dtype, fill=x)
                    Relu(inplace=True).forward(xin.view)
                    report.output(what + " Relu(inplace=True)", xin, y)


def book(report, dtype):
    """The book's other layers, the losses, functions and util: inputs of every layout are only
    read and give the contiguous call's results; im2col_into writes only its ``out``."""
    import fastact
    from fastact import functions, util
    from fastact.layers import LAYERS, Affine, BatchNormalization, Convolution, Dropout, Pooling

    rng = np.random.default_rng(3)
    dt = np.dtype(dtype)
    x4 = rng.standard_normal((2, 3, 6, 6)).astype(dt)
    W = rng.standard_normal((4, 3, 3, 3)).astype(dt)
    b = rng.standard_normal(4).astype(dt)
    x2 = rng.standard_normal((5, 6)).astype(dt)
    W2 = rng.standard_normal((6, 4)).astype(dt)
    t = np.array([0, 3, 5, 1, 2])

    def layer_case(label, make, x, seeded=False):
        def run(xv, dout):
            if seeded:  # Dropout draws its mask from NumPy's global state
                np.random.seed(7)
            layer = make()
            out = layer.forward(xv)
            return out, layer.backward(dout)

        dout = rng.standard_normal(make().forward(x).shape).astype(dt)
        expected = run(x, dout.copy())
        for layout in LAYOUTS:
            if layout == "zero stride":
                continue
            what = f"{label} {dt.name} {layout}"
            xin = Canary(layout, x.shape, dt, fill=x)
            din = Canary(layout, dout.shape, dt, fill=dout)
            got = run(xin.view, din.view)
            report.check(what + " forward", _same(got[0], expected[0]), "values differ")
            report.check(what + " backward", _same(got[1], expected[1]), "values differ")
            report.read_only(what + " (x)", xin)
            report.read_only(what + " (dout)", din)

    layer_case("Affine", lambda: Affine(W2.copy(), b.copy()), x2)
    layer_case("Convolution", lambda: Convolution(W.copy(), b.copy(), stride=1, pad=1), x4)
    layer_case("Pooling", lambda: Pooling(2, 2, stride=2), x4)
    layer_case("Dropout", lambda: Dropout(0.5), x4, seeded=True)
    g, be = np.ones(6, dt), np.zeros(6, dt)
    layer_case("BatchNormalization", lambda: BatchNormalization(g.copy(), be.copy()), x2)
    layer_case("Softmax", lambda: fastact.Softmax(), x2)
    layer_case("LogSoftmax", lambda: fastact.LogSoftmax(), x2)
    covered = {"Affine", "Convolution", "Pooling", "Dropout", "BatchNormalization", "Softmax", "LogSoftmax"}

    for label, make, tt in (
        ("SoftmaxWithLoss", fastact.SoftmaxWithLoss, t),
        ("SigmoidWithLoss", fastact.SigmoidWithLoss, (x2[:, 0] > 0).astype(int)),
    ):
        covered.add(label)
        xs = x2 if label == "SoftmaxWithLoss" else x2[:, 0].copy()
        layer = make()
        loss = layer.forward(xs, tt)
        expected = (loss, layer.backward())
        for layout in LAYOUTS:
            if layout == "zero stride":
                continue
            what = f"{label} {dt.name} {layout}"
            xin = Canary(layout, xs.shape, dt, fill=xs)
            layer = make()
            got = (layer.forward(xin.view, tt), layer.backward())
            report.check(what, _same(got[0], expected[0]) and _same(got[1], expected[1]), "values differ")
            report.read_only(what + " (x)", xin)

    # A layer added to fastact.layers.LAYERS without a case here fails the group.
    for name, module in LAYERS.items():
        report.check(f"{name} has a case", module == "activation" or name in covered, "no canary case")

    for name in ("sigmoid", "relu", "softmax", "step_function", "sigmoid_grad", "relu_grad", "identity_function"):
        f = getattr(functions, name)
        expected = f(x2)
        for layout in LAYOUTS:
            if layout == "zero stride":
                continue
            xin = Canary(layout, x2.shape, dt, fill=x2)
            got = f(xin.view)
            what = f"functions.{name} {dt.name} {layout}"
            report.check(what, _same(got, expected), "values differ")
            report.read_only(what + " (x)", xin)
    expected = functions.softmax_loss(x2, t)
    for layout in LAYOUTS:
        if layout == "zero stride":
            continue
        xin = Canary(layout, x2.shape, dt, fill=x2)
        report.check(f"functions.softmax_loss {layout}", _same(functions.softmax_loss(xin.view, t), expected), "")
        report.read_only(f"functions.softmax_loss {layout} (x)", xin)

    col = util.im2col(x4, 3, 3, 1, 1)
    back = util.col2im(col, x4.shape, 3, 3, 1, 1)
    for layout in LAYOUTS:
        if layout == "zero stride":
            continue
        what = f"util {dt.name} {layout}"
        xin = Canary(layout, x4.shape, dt, fill=x4)
        report.check(what + " im2col", _same(util.im2col(xin.view, 3, 3, 1, 1), col), "values differ")
        report.read_only(what + " im2col (x)", xin)
        cin = Canary(layout, col.shape, col.dtype, fill=col)
        report.check(what + " col2im", _same(util.col2im(cin.view, x4.shape, 3, 3, 1, 1), back), "values differ")
        report.read_only(what + " col2im (col)", cin)
        out = Canary(layout, col.shape, col.dtype)
        got = util.im2col_into(x4, 3, 3, 1, 1, out=out.view)
        report.check(what + " im2col_into", _same(got, col), "values differ")
        if got is out.view:
            report.output(what + " im2col_into out", out, col)
        else:
            report.read_only(what + " im2col_into out (not used)", out)


GROUPS = {"ufuncs": ufuncs, "rows": rows, "layers": layers, "book": book}


def main(argv):
    group, dtypes = argv[0], argv[1:] or ["float32", "float64"]
    report = Report()
    for dtype in dtypes:
        print(f"checking {group} {dtype}", flush=True)
        with np.errstate(all="ignore"):  # the special values' own NaNs and overflows
            GROUPS[group](report, np.dtype(dtype))
    print(f"{report.cases} cases, {len(report.failures)} failures", flush=True)
    return 1 if report.failures or not report.cases else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
