"""Safe under fork, threads and odd cache locations; thread control; bounded memory."""

import os
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numba
import numpy as np
import pytest

import fastact
from fastact._core import threads
from fastact.testing.processes import run_python

ROOT = Path(__file__).resolve().parents[2]

# A child process's check: the seed's layers on large (parallel) and book-sized arrays against
# their twins. Prints "ok" or raises. The checks on an empty cache take one dtype and Relu
# alone: they test where the builds go and who writes them, which neither a dtype nor a formula
# changes, and each is more builds per process (four_processes: 25 s of the suite with both
# dtypes, on AMD EPYC, 2 cores; Sigmoid was 2.3 of each process's 4.9 s of compiling, Intel).
CHECK = textwrap.dedent("""
    import numpy as np, fastact
    from fastact import reference

    def check(seed, dtypes=(np.float32, np.float64), sigmoid=True):
        rng = np.random.default_rng(seed)
        for dtype in dtypes:
            for shape in ((100, 50), (1_000_000,)):
                x = rng.standard_normal(shape).astype(dtype)
                dout = rng.standard_normal(shape).astype(dtype)
                r, rr = fastact.Relu(), reference.Relu()
                assert (r.forward(x) == rr.forward(x)).all()
                assert (r.backward(dout.copy()) == rr.backward(dout.copy())).all()
                if not sigmoid:
                    continue
                s, twin = fastact.Sigmoid(), reference.Sigmoid()
                out = s.forward(x)
                assert np.abs(out - twin.forward(x)).max() < 1e-6
                twin.out = out
                assert (s.backward(dout) == twin.backward(dout)).all()
        return "ok"
""")


def test_fork_after_parallel_use_gives_correct_results_without_crash_or_hang():
    code = CHECK + textwrap.dedent("""
        import multiprocessing, os, sys
        check(0)                      # the parent runs every parallel kernel first
        pid = os.fork()
        if pid == 0:                  # a bare fork: the child must not touch OpenMP
            try:
                check(1)
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(check, [2, 3, 4]) == ["ok"] * 3
        check(5)                      # and the parent still runs in parallel afterwards
        print("fork ok")

    """)
    assert "fork ok" in run_python(code, timeout=180).stdout


def test_a_child_forked_before_any_parallel_call_runs_in_parallel():
    """A forkserver (asv uses one) or an early pool: the child starts its own thread pool."""
    code = textwrap.dedent("""
        import os, numpy as np, fastact, fastact._core.threads as threads
        from fastact._core.kernels import KERNELS
        fastact.Relu().forward(np.ones(100))      # used, but nothing parallel yet
        pid = os.fork()
        if pid == 0:
            calls = []
            pair = KERNELS["relu"].forward
            real = pair.parallel.launch
            pair.parallel.launch = lambda *a: (calls.append(1), real(*a))
            threads._other_load = lambda: 0.0   # however busy the machine is right now
            x = np.linspace(-1, 1, 1_000_000)
            ok = (fastact.Relu().forward(x) == np.where(x <= 0, 0.0, x)).all()
            os._exit(0 if ok and calls and not threads._forked else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        print("child parallel ok")
    """)
    assert "child parallel ok" in run_python(code, timeout=120).stdout


@pytest.mark.parametrize("layer", [None, "workqueue", "omp"])
def test_eight_threads_at_once_match_the_seed(layer):
    """Concurrent calls on mixed sizes and dtypes, under the threading layers numba offers."""
    code = CHECK + textwrap.dedent("""
        import threading
        errors = []
        def work(i):
            try:
                for _ in range(2):
                    check(i)
            except BaseException as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads: t.start()
        for t in threads: t.join(120)
        assert not any(t.is_alive() for t in threads), "deadlock"
        assert not errors, errors
        print("threads ok")
    """)
    env = {"NUMBA_THREADING_LAYER": layer} if layer else {}
    assert "threads ok" in run_python(code, timeout=300, env=env).stdout


def test_four_processes_on_one_empty_cache_directory(tmp_path):
    code = CHECK + "print(check(0, (np.float64,), sigmoid=False))"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "ok" in out, err
    assert any(tmp_path.rglob("*.nbi")), "nothing was cached"
    # and a fifth process loads what they wrote
    assert "ok" in run_python(code, timeout=120, env={"NUMBA_CACHE_DIR": str(tmp_path)}).stdout


def _read_only_copy(tmp_path):
    """fastact's sources under a read-only bind mount, or skip where mounting is not allowed."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "fastact", src / "fastact", ignore=shutil.ignore_patterns("__pycache__", "*.nb?"))
    mnt = tmp_path / "ro"
    mnt.mkdir()
    ok = (
        subprocess.run(
            f"mount --bind {src} {mnt} && mount -o remount,ro,bind {mnt}", shell=True, capture_output=True
        ).returncode
        == 0
    )
    if not ok:
        pytest.skip("cannot make a read-only bind mount here (needs root)")
    return mnt


def test_read_only_install_caches_in_the_user_cache_dir(tmp_path):
    mnt = _read_only_copy(tmp_path)
    home = tmp_path / "home"
    try:
        env = {"HOME": str(home), "NUMBA_CACHE_DIR": "", "XDG_CACHE_HOME": str(home / ".cache")}
        # import fastact from the mount, ahead of any installed (or editable) copy
        load = textwrap.dedent(f'''
            import importlib.util, sys
            spec = importlib.util.spec_from_file_location(
                "fastact", "{mnt}/fastact/__init__.py", submodule_search_locations=["{mnt}/fastact"])
            module = importlib.util.module_from_spec(spec)
            sys.modules["fastact"] = module
            spec.loader.exec_module(module)
        ''')
        code = load + CHECK + f"import fastact; assert fastact.__file__.startswith({str(mnt)!r})\n"
        code += "print(check(0, (np.float64,), sigmoid=False))"
        assert "ok" in run_python(code, timeout=120, env=env).stdout
        assert any((home / ".cache" / "numba").rglob("*.nbi")), "numba did not fall back"
        # nowhere writable at all: a warning, compiled in memory, still correct
        env["XDG_CACHE_HOME"] = "/proc/not-writable"
        env["HOME"] = "/proc/not-writable"
        out = run_python(code, env=env, timeout=300, check=False)
        assert out.returncode == 0 and "ok" in out.stdout, out.stderr
        assert "no writable numba cache directory" in out.stderr
    finally:
        subprocess.run(["umount", str(mnt)])


def test_thread_count_control(monkeypatch):
    limit = numba.config.NUMBA_NUM_THREADS
    assert fastact.get_num_threads() == limit
    with fastact.num_threads(1):
        assert fastact.get_num_threads() == 1
        x = np.linspace(-1, 1, 300_000)
        calls = []
        from fastact._core.kernels import KERNELS

        monkeypatch.setattr(KERNELS["relu"].forward.parallel, "launch", lambda *a: calls.append(a))
        fastact.Relu().forward(x)
        assert calls == []  # one thread: the serial build
    assert fastact.get_num_threads() == limit
    for bad in (0, limit + 1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
            fastact.set_num_threads(bad)


def test_numba_num_threads_is_respected():
    out = run_python(
        "import fastact; print(fastact.get_num_threads());"
        "import pytest\n"
        "try:\n    fastact.set_num_threads(2)\nexcept ValueError as e:\n    print('refused')",
        env={"NUMBA_NUM_THREADS": "1"},
        timeout=120,
    ).stdout
    assert out.split() == ["1", "refused"]


def _peak_bytes(call):
    # warm: compiled or loaded from the cache, both builds (which one a call takes depends on
    # the load other processes put on the cores; loading a build is ~68 KB of Python objects)
    for build in ("serial", "parallel"):
        with threads.forced(build):
            call()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        return tracemalloc.get_traced_memory()[1] - before, result
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "conv view", "strided"])
def test_peak_memory_is_what_the_result_needs(dtype, layout):
    if layout == "conv view":
        x = np.random.default_rng(0).standard_normal((20, 24, 24, 30)).astype(dtype).transpose(0, 3, 1, 2)
    elif layout == "strided":
        x = np.random.default_rng(0).standard_normal((40, 60, 24, 24)).astype(dtype)[::2, ::2]
    else:
        x = np.random.default_rng(0).standard_normal(500_000).astype(dtype)
    n, s = x.size, np.dtype(dtype).itemsize
    relu, sig = fastact.Relu(), fastact.Sigmoid()
    peak, _ = _peak_bytes(lambda: relu.forward(x))
    assert peak <= 1.1 * n * (s + 1), (peak, n * (s + 1))
    dout = np.ones_like(x)
    peak, _ = _peak_bytes(lambda: relu.backward(dout))
    assert peak <= 64 * 1024  # views and small index arrays only, nothing per element
    peak, _ = _peak_bytes(lambda: sig.forward(x))
    assert peak <= 1.1 * n * s
    peak, _ = _peak_bytes(lambda: sig.backward(dout))
    assert peak <= 1.1 * n * s


def test_a_failed_allocation_changes_nothing():
    huge = np.broadcast_to(np.float64(-1.0), (10**7, 10**7))  # 8e14 bytes, nothing stored
    for layer in (fastact.Relu(), fastact.Sigmoid()):
        with pytest.raises(MemoryError):
            layer.forward(huge)
        assert getattr(layer, "mask", None) is None and getattr(layer, "out", None) is None
