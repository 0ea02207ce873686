"""The network section of ``python -m fastact bench``: whole training steps of the book's
networks (``fastact._tools.networks``), batch 100, layer by layer, with the book's layers (seed), with
fastact's activation layers swapped in (fastact-act) and with every fastact layer (fastact);
medians in ms, the engines taking turns in one process."""

import time

from . import networks

ENGINES = ("seed", "fastact-act", "fastact")


def report(names=tuple(networks.NETWORKS), dtypes=("float32", "float64"), quick=False):
    """Print the tables; return (targets met, targets judged)."""
    met = judged = 0
    rounds = 3 if quick else 10
    for name in names:
        for dtype in dtypes:
            start = time.perf_counter()
            medians = networks.measure(name, dtype, ENGINES, rounds=rounds, steps=2 if quick else 3)
            print(f"\n{name} {dtype} (batch 100): ms per call; speedup = seed / engine")
            print(
                f"  {'layer':<18}"
                + "".join(f"{e:>12}" for e in ENGINES)
                + "".join(f"{'vs ' + e:>16}" for e in ENGINES[1:])
            )
            for key in medians["seed"]:
                if key == "blas":
                    continue
                row = [medians[e][key] for e in ENGINES]
                print(
                    f"  {key:<18}"
                    + "".join(f"{t * 1e3:12.3f}" for t in row)
                    + "".join(f"{row[0] / t:15.2f}x" for t in row[1:])
                )
            print(f"  {'in BLAS (matmuls)':<18}" + "".join(f"{medians[e]['blas'] * 1e3:12.3f}" for e in ENGINES))
            for what, ratio, want, ok in networks.verdicts(name, medians):
                judged += 1
                met += ok
                if not ok or what.startswith("step"):
                    print(f"  {'MET   ' if ok else 'MISSED'} {what}: {ratio:.2f}x (target {want:g}x)")
            print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\nnetworks: {met} of {judged} targets met")
    return met, judged
