"""The first training steps of the book's SimpleConvNet on a fresh kernel cache, versions taking turns.

    python tools/cold_start_ab.py [commits or source dirs] [seconds] [pairs] [warm]
    python tools/cold_start_ab.py 62245c9,HEAD 35 3
    python tools/cold_start_ab.py d3a6f89,HEAD 3 2 warm

Each version (a git commit of this checkout, extracted with ``git archive``, or a directory
holding a ``fastact`` package) runs in a fresh process with empty ``NUMBA_CACHE_DIR`` and
``XDG_CACHE_HOME``, the versions alternating; each trains the ConvNet (float64, batch 100,
every fastact layer) for ``seconds`` and prints its first step, when its 100th, 300th and 600th
steps were done (seconds from the first step's start) and, where the version compiles in the
background, when the last deferred build was ready. With ``warm``, a first process on the same
cache directory trains for ``WARM_FILL_SECONDS`` (its background builds land in the cache) and
the second one is reported, with the times of its first five steps.
"""

import os
import subprocess
import sys
import tempfile

_CHILD = r"""
import sys, time
import numpy as np
import fastact
from fastact._core import jit
from fastact._tools import networks

background = getattr(jit, "BACKGROUND", None)
net = networks.build("convnet", networks.layer_sets()["fastact"], np.dtype("float64"))
x, t = networks.batch("convnet", "float64")
times, ready = [], None
start = time.perf_counter()
while time.perf_counter() < start + float(sys.argv[1]) or len(times) < 3:
    t0 = time.perf_counter()
    net.step(x, t)
    times.append(time.perf_counter() - t0)
    if ready is None and background is not None and len(times) > 1 and not background._pending:
        ready = time.perf_counter() - start
done = np.cumsum(times)
at = lambda n: f"{done[n - 1]:5.1f}" if n <= len(done) else "    -"
last = "-" if background is None else ("not yet" if ready is None else f"{ready:.1f} s")
assert fastact.__file__.startswith(sys.argv[2]), fastact.__file__
first = " ".join(f"{t * 1e3:.0f}" for t in times[:5])
print(f"first step {times[0]:5.2f} s (steps 1-5 {first} ms); "
      f"100 / 300 / 600 steps at {at(100)} / {at(300)} / {at(600)} s; last deferred build ready {last}")
"""

#: With ``warm``: how long the process that fills the cache trains.
WARM_FILL_SECONDS = 12


def _source(version, root):
    """A directory with ``version``'s ``fastact`` package (``version`` itself if it is one)."""
    if os.path.isdir(os.path.join(version, "fastact")):
        return os.path.abspath(version)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, version.replace("/", "_"))
    os.makedirs(out)
    archive = subprocess.run(["git", "-C", here, "archive", version, "fastact"], check=True, capture_output=True)
    subprocess.run(["tar", "x", "-C", out], input=archive.stdout, check=True)
    return out


def main(versions="HEAD", seconds="35", pairs="3", warm=""):
    with tempfile.TemporaryDirectory() as root:
        sources = {v: _source(v, root) for v in versions.split(",")}
        for _ in range(int(pairs)):
            for version, source in sources.items():
                with tempfile.TemporaryDirectory() as cache:
                    env = {**os.environ, "PYTHONPATH": source, "NUMBA_CACHE_DIR": cache, "XDG_CACHE_HOME": cache}
                    for run_seconds in [str(WARM_FILL_SECONDS)] * (warm == "warm") + [seconds]:
                        out = subprocess.run(  # (cwd: not this checkout, which `-c` would put first on sys.path)
                            [sys.executable, "-c", _CHILD, run_seconds, source],
                            env=env,
                            cwd=cache,
                            capture_output=True,
                            text=True,
                            check=True,
                        )
                    print(f"{version:<12}{out.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
