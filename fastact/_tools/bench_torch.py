"""fastact with PyTorch in the same process: the same timings in four kinds of process.

``python -m fastact._tools.bench_torch [--repeats N] [--seconds S]`` runs each configuration in
a fresh interpreter, the configurations taking turns ``N`` times, and prints, per op and per
network step, fastact's time in each configuration relative to the process without PyTorch, and
fastact's speedup over the book's code in each (medians over the repeats):

- ``none``: PyTorch never imported;
- ``torch-first``: ``import torch`` before fastact;
- ``torch-after``: ``import torch`` after fastact's first parallel call;
- ``torch-ops``: PyTorch imported first and running its own ops (softmax, ReLU on big tensors,
  a matmul) before the timings and between every round of them.

Inside each process the engines take turns (``rounds`` rounds), so a noisy spell of a shared
machine falls on both alike. ``--config NAME`` runs one configuration in this process and prints
its JSON (what the parent collects); ``--mechanism`` there adds which OpenMP runtime numba's
parallel regions run on and how many threads each pool has.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from . import warm_up

CONFIGS = ("none", "torch-first", "torch-after", "torch-ops")
OPS = (
    "relu f32 1M",
    "relu f64 1M",
    "sigmoid f32 1M",
    "sigmoid f64 1M",
    "softmax f64 (3072, 256)",
    "mlp step (act)",
    "convnet step (act)",
    "convnet step (all)",
    "ch04 TwoLayerNet (functions)",
)


def _layer_pair(L, x, d):
    layer = L()

    def call():
        layer.forward(x)
        layer.backward(d)

    return call


def _two_layer_net(F, dtype=np.float64, seed=0):
    """The book's chapter 4 TwoLayerNet (784-50-10, sigmoid, softmax) gradient, with the functions
    of module ``F`` (``fastact.functions`` or the book's)."""
    rng = np.random.default_rng(seed)
    W1, b1 = (0.01 * rng.standard_normal((784, 50))).astype(dtype), np.zeros(50, dtype)
    W2, b2 = (0.01 * rng.standard_normal((50, 10))).astype(dtype), np.zeros(10, dtype)
    x = rng.random((100, 784)).astype(dtype)
    t = np.eye(10, dtype=dtype)[rng.integers(0, 10, 100)]

    def gradient():
        a1 = np.dot(x, W1) + b1
        z1 = F.sigmoid(a1)
        a2 = np.dot(z1, W2) + b2
        y = F.softmax(a2)
        loss = F.cross_entropy_error(y, t)
        dy = (y - t) / x.shape[0]
        grads = {"W2": np.dot(z1.T, dy), "b2": np.sum(dy, axis=0)}
        dz1 = np.dot(dy, W2.T)
        da1 = F.sigmoid_grad(a1) * dz1
        grads["W1"], grads["b1"] = np.dot(x.T, da1), np.sum(da1, axis=0)
        return loss, grads

    return gradient


def _cases():
    """op name -> {"fastact": call, "seed": call}, each call doing the work once."""
    import fastact
    from fastact import functions, reference
    from fastact._tools import networks

    rng = np.random.default_rng(0)
    cases = {}
    for dtype, tag in ((np.float32, "f32"), (np.float64, "f64")):
        x = rng.standard_normal(1 << 20).astype(dtype)
        d = rng.standard_normal(1 << 20).astype(dtype)
        for name, ours, book in (
            ("relu", fastact.Relu, reference.Relu),
            ("sigmoid", fastact.Sigmoid, reference.Sigmoid),
        ):
            cases[f"{name} {tag} 1M"] = {
                "fastact": _layer_pair(ours, x, d.copy()),
                "seed": _layer_pair(book, x, d.copy()),
            }
    s = rng.standard_normal((3072, 256))
    cases["softmax f64 (3072, 256)"] = {"fastact": lambda: functions.softmax(s), "seed": lambda: reference.softmax(s)}
    sets = networks.layer_sets()
    for net, key, engines in (("mlp", "mlp step (act)", ("fastact-act",)), ("convnet", "convnet step", None)):
        xb, tb = networks.batch(net, np.float64)
        built = {e: networks.build(net, sets[e], np.float64) for e in ("seed", "fastact-act", "fastact")}
        step = {e: (lambda n=n: n.step(xb, tb)) for e, n in built.items()}
        if engines:
            cases[key] = {"fastact": step["fastact-act"], "seed": step["seed"]}
        else:
            cases[f"{key} (act)"] = {"fastact": step["fastact-act"], "seed": step["seed"]}
            cases[f"{key} (all)"] = {"fastact": step["fastact"], "seed": step["seed"]}
    cases["ch04 TwoLayerNet (functions)"] = {
        "fastact": _two_layer_net(functions),
        "seed": _two_layer_net(reference),
    }
    return cases


def torch_ops():
    """PyTorch's own work: a softmax and a ReLU on big tensors, and a matmul."""
    import torch
    import torch.nn.functional as F

    global _TENSORS
    if _TENSORS is None:
        g = torch.Generator().manual_seed(0)
        _TENSORS = (
            torch.randn(3072, 256, generator=g),
            torch.randn(1 << 20, generator=g),
            torch.randn(512, 512, generator=g),
        )
    s, v, m = _TENSORS
    for _ in range(3):
        F.softmax(s, dim=-1)
        F.relu(v)
        torch.mm(m, m)


_TENSORS = None


def mechanism():
    """Which OpenMP runtimes are loaded, which one numba's regions run on, and the pools' sizes."""
    import numba

    from fastact._core import threads

    maps = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "gomp" in path or "openblas" in path.lower() or "libiomp" in path or "tbb" in path:
                maps.add(path)
    info = {
        "loaded": sorted(maps),
        "numba_layer": numba.threading_layer(),
        "numba_threads": numba.get_num_threads(),
        "threads_in_process": len(os.listdir("/proc/self/task")),
        "openmp_runtime": threads.openmp_runtime() if hasattr(threads, "openmp_runtime") else None,
        "fastact_file": threads.__file__,
    }
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def run_config(config, seconds=8.0, rounds=5):
    """Median seconds per call of each engine for each case, in this process, as ``config`` says."""
    if config in ("torch-first", "torch-ops"):
        import torch  # noqa: F401
    import fastact
    from fastact._core import threads

    with threads.forced("parallel"):  # fastact's first parallel call: numba's pool starts
        fastact.Relu().forward(np.ones(1 << 20))
    if config == "torch-after":
        import torch  # noqa: F401
    ops = config == "torch-ops"
    if ops:
        torch_ops()
    cases = _cases()
    # warm-up: compile, load caches, fault pages in
    warm_up([call for pair in cases.values() for call in pair.values()], times=2)
    samples = {op: {"fastact": [], "seed": []} for op in cases}
    per_case = seconds / rounds / len(cases) / 2
    for _ in range(rounds):
        for op, pair in cases.items():
            for engine, call in pair.items():
                if ops:
                    torch_ops()
                deadline = time.perf_counter() + per_case
                while True:
                    t0 = time.perf_counter()
                    call()
                    samples[op][engine].append(time.perf_counter() - t0)
                    if t0 > deadline:
                        break
    medians = {op: {e: statistics.median(v) for e, v in rec.items()} for op, rec in samples.items()}
    return {"config": config, "medians": medians, "mechanism": mechanism()}


def _child(config, seconds, pythonpath=None):
    env = None
    if pythonpath:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (pythonpath, os.environ.get("PYTHONPATH")))))
    cmd = [sys.executable, "-m", "fastact._tools.bench_torch", "--config", config, "--seconds", str(seconds)]
    # cwd "/": not a checkout's root, whose fastact would come before PYTHONPATH's
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd="/").stdout
    return json.loads(out.splitlines()[-1])


def compare(repeats=3, seconds=8.0, configs=CONFIGS, variants=None):
    """{variant: {config: {op: (fastact seconds, seed seconds)}}}: medians over ``repeats`` fresh
    processes per configuration, every (variant, configuration) taking turns; and each one's
    last mechanism report. ``variants`` maps a name to the PYTHONPATH its processes run with
    (a checkout of another version of fastact: before/after tables in one run)."""
    variants = variants or {"this": None}
    runs = {(v, c): [] for v in variants for c in configs}
    for _ in range(repeats):
        for (v, c), results in runs.items():
            results.append(_child(c, seconds, variants[v]))
    table, mechanisms = {}, {}
    for (v, c), results in runs.items():
        table.setdefault(v, {})[c] = {
            op: tuple(statistics.median(r["medians"][op][e] for r in results) for e in ("fastact", "seed"))
            for op in results[0]["medians"]
        }
        mechanisms[f"{v} {c}"] = results[-1]["mechanism"]
    return table, mechanisms


def report(table, mechanisms):
    lines = ["fastact's time relative to the same version's process without PyTorch (1.00: the same; >1: slower),"]
    lines.append("and fastact's speedup over the book's code in that process (x), medians over the processes")
    for variant, configs in table.items():
        names = list(configs)
        head = f"{variant:32}" + "".join(f"{c:>24}" for c in names)
        lines += ["", head, "-" * len(head)]
        base = configs[names[0]]
        for op in base:
            row = f"{op:32}"
            for c in names:
                ours, seed = configs[c][op]
                row += f"{ours / base[op][0]:>11.2f} {seed / ours:>9.2f}x   "
            lines.append(row)
    lines.append("")
    for c, m in mechanisms.items():
        lines.append(f"{c}: {json.dumps(m)}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=CONFIGS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--json", metavar="FILE", help="also save the table here")
    parser.add_argument(
        "--variant",
        action="append",
        metavar="NAME=PYTHONPATH",
        help="also run another fastact (a checkout's root) under this name, taking turns",
    )
    args = parser.parse_args(argv)
    if args.config:
        print(json.dumps(run_config(args.config, args.seconds)))
        return
    variants = {"this": None}
    for spec in args.variant or ():
        name, _, path = spec.partition("=")
        variants[name] = path
    table, mechanisms = compare(args.repeats, args.seconds, variants=variants)
    print(report(table, mechanisms))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"table": table, "mechanisms": mechanisms}, f, indent=1)


if __name__ == "__main__":
    main()
