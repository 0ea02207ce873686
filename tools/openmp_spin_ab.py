"""Whole training steps against numba's OpenMP idle policy, one process per setting, taking turns.

    python tools/openmp_spin_ab.py [rounds] [seconds]
    python tools/openmp_spin_ab.py 4 10

libgomp reads its policy once, when numba loads it, so each setting needs its own process:
each round runs one process with fastact's default (``_threads.openmp_spin_count()``) and one
with ``OMP_WAIT_POLICY=PASSIVE`` set by hand (workers sleep at once: fastact then leaves it),
each timing the all-fastact steps of the ConvNets and the GELU MLP for ``seconds``; prints the
medians (ms) and, per network, passive / default (above 1: the short spin is faster). How
the spin was checked against the passive policy (Linux, numba's OpenMP layer).
"""

import json
import os
import statistics
import subprocess
import sys
import time

#: (network, dtype, steps in a row): the networks whose steps have parallel kernels
NETWORKS = (
    ("convnet", "float32", 3),
    ("convnet", "float64", 3),
    ("deep_convnet", "float32", 1),
    ("gelu_mlp", "float64", 20),
)


def _steps(seconds):
    """Medians of the all-fastact steps (ms), in this process."""
    from fastact._tools import networks

    sets = networks.layer_sets()
    nets = []
    for name, dtype, repeat in NETWORKS:
        x, t = networks.batch(name, dtype)
        net = networks.build(name, sets["fastact"], dtype)
        net.step(x, t)
        nets.append((f"{name}/{dtype}", net, x, t, repeat))
    times = {key: [] for key, *_ in nets}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for key, net, x, t, repeat in nets:
            for _ in range(repeat):
                t0 = time.perf_counter()
                net.step(x, t)
                times[key].append(time.perf_counter() - t0)
    return {key: statistics.median(v) * 1e3 for key, v in times.items()}


def main(rounds="4", seconds="10"):
    settings = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}}
    results = {name: [] for name in settings}
    for r in range(int(rounds)):
        for name, extra in settings.items():
            env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | extra
            code = (
                f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                f"import openmp_spin_ab as a; print(json.dumps(a._steps({float(seconds)})))"
            )
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            medians = json.loads(out.stdout)
            results[name].append(medians)
            print(r + 1, f"{name:<8}", "  ".join(f"{k} {v:.1f}" for k, v in medians.items()), flush=True)
    for key in results["default"][0]:
        ratios = [p[key] / d[key] for p, d in zip(results["passive"], results["default"])]
        print(f"{key:<22} passive / default: {min(ratios):.2f}-{max(ratios):.2f}, mean {statistics.mean(ratios):.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
