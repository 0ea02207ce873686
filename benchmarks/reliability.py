"""Reliability figures that are timings, so they are measured here and not asserted in pytest.

    python benchmarks/reliability.py

- contention: median call time with the other core busy (a spinning process) against idle,
  for the book's (100, 50) and for 2M elements (target: no more than 3x slower);
- time to first result: a fresh process importing fastact and running Relu and Sigmoid forward
  and backward on (100, 50) float64, with a warm cache and with an empty one;
- fork: a process that ran every parallel kernel forks a child and a pool of 2.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

if __name__ == "__main__":
    import numpy as np

    import fastact

FIRST_RESULT = (
    "import numpy as np, fastact;"
    "x = np.linspace(-3, 3, 5000).reshape(100, 50); d = np.ones((100, 50));"
    "r = fastact.Relu(); r.forward(x); r.backward(d);"
    "s = fastact.Sigmoid(); s.forward(x); s.backward(d)"
)

FORK = """
import multiprocessing, os, numpy as np, fastact
from fastact import reference
def check(seed):
    x = np.random.default_rng(seed).standard_normal(1_000_000)
    assert (fastact.Relu().forward(x) == reference.Relu().forward(x)).all()
    s = fastact.Sigmoid(); s.forward(x); s.backward(x)
    return True
check(0)
pid = os.fork()
if pid == 0:
    os._exit(0 if check(1) else 1)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
with multiprocessing.get_context("fork").Pool(2) as pool:
    assert all(pool.map(check, [2, 3]))
"""


def median_call(call, n=200):
    call()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def contention():
    print("Contention: median per call, idle vs with 1 and 2 other processes spinning")
    calls = {}
    for dtype in ("float32", "float64"):
        for shape in ((100, 50), (2_000_000,)):
            x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
            d = np.ones(shape, dtype)
            r, s = fastact.Relu(), fastact.Sigmoid()
            r.forward(x)
            s.forward(x)
            tag = f"{dtype} {shape}"
            calls[f"Relu.forward {tag}"] = lambda r=r, x=x: r.forward(x)
            calls[f"Relu.backward {tag}"] = lambda r=r, d=d: r.backward(d)
            calls[f"Sigmoid.forward {tag}"] = lambda s=s, x=x: s.forward(x)
            calls[f"Sigmoid.backward {tag}"] = lambda s=s, d=d: s.backward(d)
    idle = {name: median_call(call) for name, call in calls.items()}
    worst = 0.0
    for hogs in (1, 2):
        procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
        try:
            time.sleep(0.5)
            busy = {name: median_call(call) for name, call in calls.items()}
        finally:
            for p in procs:
                p.kill()
        print(f"  with {hogs} spinning process(es):")
        for name in calls:
            ratio = busy[name] / idle[name]
            worst = max(worst, ratio)
            print(f"    {name:<38}{idle[name] * 1e6:>10.1f} µs {busy[name] * 1e6:>10.1f} µs  {ratio:5.2f}x")
    print(f"  worst slowdown: {worst:.2f}x (limit 3x)")


def wall(code, env=None):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - start


def first_result():
    print("Time to first result: fresh process, import + Relu and Sigmoid forward/backward (100, 50)")
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold = wall(FIRST_RESULT, env)
        warm = statistics.median(wall(FIRST_RESULT, env) for _ in range(5))
    numba_only = statistics.median(wall("import numba") for _ in range(5))
    print(
        f"  cold cache (first ever): {cold:.2f} s; warm cache: {warm:.2f} s "
        f"(limit 1.0 s, goal 0.6 s); `import numba` alone: {numba_only:.2f} s"
    )


def fork():
    seconds = wall(FORK)
    print(f"Fork after parallel use: parent + 1 forked child + fork pool of 2, all correct in {seconds:.1f} s")


if __name__ == "__main__":
    contention()
    first_result()
    fork()
