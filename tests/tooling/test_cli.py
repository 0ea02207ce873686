"""``python -m fastact``: the main job a new user runs first."""

import pytest

from fastact.activations import REGISTRY
from fastact.testing.processes import run_python


@pytest.mark.slow  # CI runs the whole self-check on the built wheel instead (.ci/run)
def test_check_command_passes_and_reports_every_layer_and_dtype():
    result = run_python(module="fastact", args=["check"], timeout=300)  # exit 0, or fails with the output
    lines = [line for line in result.stdout.splitlines() if line.strip().startswith(("PASS", "FAIL"))]
    rows = [line for line in lines if "oftmax" in line]  # softmax, log_softmax, their layers
    assert len(lines) - len(rows) == 2 * 3 * len(REGISTRY)  # every activation, dtype and path
    assert len(rows) == 2 * 2 * 5 * 2  # five row checks, each dtype and build, two inputs
    assert all(line.strip().startswith("PASS") for line in lines)
    assert "all checks passed" in result.stdout


def test_check_command_fails_when_a_kernel_is_wrong(monkeypatch, capsys):
    """The check must be able to fail: break the ReLU formula and run the command again.

    In process and on ReLU alone: a subprocess recompiled every kernel the self-check touches
    (two minutes of CI's cold cache) to show one exit status.
    """
    import numpy as np

    import fastact.layers as L
    from fastact._tools import selfcheck
    from fastact._tools.cli import main

    real = L.Relu.forward

    def broken(self, x):
        out = real(self, x)
        if isinstance(out, np.ndarray) and out.size:
            out.reshape(-1)[0] = -0.0
        return out

    monkeypatch.setattr(L.Relu, "forward", broken)
    real_checks = selfcheck.run_checks
    monkeypatch.setattr(selfcheck, "run_checks", lambda **_: real_checks(names=["relu"], rows=False, jobs=1))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  Relu" in out and "checks FAILED" in out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_checks_fail_when_softmax_is_wrong(dtype, monkeypatch):
    """The self-check's row ops can fail: a softmax 1e-6 off (many ULP) must not pass."""
    import numpy as np

    from fastact._tools import selfcheck

    x = selfcheck._rows_input(dtype, np.random.default_rng(0))
    assert all(ok for _, ok, _ in selfcheck._check_rows(x))
    book = [(name, ok) for name, ok, _ in selfcheck._check_rows(x, selfcheck.BOOK_ROWS)]
    assert book == [("softmax", True), ("SoftmaxWithLoss", True)]  # the main job's, in order
    real = selfcheck.softmax
    monkeypatch.setattr(selfcheck, "softmax", lambda v: real(v) * v.dtype.type(1 + 1e-6))
    verdicts = {name: ok for name, ok, _ in selfcheck._check_rows(x)}
    assert verdicts.pop("softmax") is False
    assert all(verdicts.values())
    assert [ok for _, ok, _ in selfcheck._check_rows(x, selfcheck.BOOK_ROWS)] == [False, True]


@pytest.mark.parametrize(
    "command,names,rows", [("main", ("relu", "sigmoid"), ("softmax", "SoftmaxWithLoss")), ("check", None, True)]
)
def test_what_each_command_checks(command, names, rows, monkeypatch):
    """The main job checks the book's activations and row ops, then times the book's layers;
    ``check`` checks every activation and every row op, and times nothing."""
    from fastact._tools import cli, selfcheck

    calls = []
    monkeypatch.setattr(selfcheck, "run_checks", lambda **kw: calls.append(kw) or iter(()))
    monkeypatch.setattr(cli, "timing_table", lambda: calls.append("timed"))
    assert cli.main([command] if command != "main" else []) == 0
    assert calls[0] == {"names": names, "rows": rows}
    assert calls[1:] == (["timed"] if command == "main" else [])
    assert {op.split(".")[0] for op in cli.MAIN_OPS} == set(selfcheck.BOOK) == {"relu", "sigmoid"}


def test_an_unknown_row_op_is_refused():
    from fastact._tools import selfcheck

    with pytest.raises(ValueError, match="rows: no row op named \\['softmax_'\\]"):
        next(selfcheck.run_checks(names=["relu"], rows=("softmax_",), jobs=1))


def test_check_in_worker_processes_reports_what_one_process_does():
    """The self-check's workers (one op each, spawned) give the same rows, in the same order."""
    from fastact._tools import selfcheck

    names = ["relu", "leaky_relu"]
    rows = list(selfcheck.run_checks(names=names, jobs=2))
    assert rows == list(selfcheck.run_checks(names=names, jobs=1))
    assert [(r[0].strip(), r[1], r[2]) for r in rows] == [
        (layer, dtype, build)
        for layer in ("Relu", "LeakyReLU")
        for dtype in selfcheck.DTYPES
        for build in selfcheck.BUILDS
    ]
    assert all(ok for *_, ok, _ in rows)


def test_cli_runs_where_nothing_is_writable():
    """A read-only install with no writable cache directory: numba can cache nowhere, so
    fastact warns once and compiles in memory, and ``python -m fastact`` still runs (it used to
    fail at import, decorating a cached kernel). Every numba cache locator is made to fail, as
    for a non-root user on a read-only site-packages with no HOME (root can write anywhere)."""
    code = """
import runpy, sys, warnings
from numba.core import caching

def nowhere(self):
    raise OSError("read-only")

for cls in caching._CacheLocator.__subclasses__():
    cls.ensure_cache_path = nowhere
caching._CacheLocator.ensure_cache_path = nowhere
sys.argv = ["fastact", "--help"]
try:
    runpy.run_module("fastact", run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
import numpy as np
import fastact
from fastact._tools import bench
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    y = fastact.relu(np.arange(-2.0, 2.0))
    bench._copy(np.ones(10), np.zeros(10))
assert y.tolist() == [0.0, 0.0, 0.0, 1.0], y
assert any("no writable numba cache" in str(w.message) for w in caught), [str(w.message) for w in caught]
print("ok")
"""
    proc = run_python(code, timeout=600, check=False)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout[-2000:] + proc.stderr[-3000:]
