"""``python -m fastact bench --plot FILE.png``: speedup over the seed against size."""

import sys

import numpy as np

from . import bench

_CONTIGUOUS = [s for s, (_, layout) in bench.SIZES.items() if layout == "contiguous"]


def plot_speedups(rows, path):
    """One panel per op and dtype: fastact and torch relative to the seed, and the speedup a
    pass at the copy's bandwidth would give (the memory limit), against array size."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "--plot needs matplotlib: python -m pip install matplotlib "
            '(or, in a checkout, python -m pip install -e ".[plot]")',
            file=sys.stderr,
        )
        return 1
    results = {(c.op, c.dtype, c.size): (c, t) for c, t in rows}
    ops = [op for op in bench.OPS if any(key[0] == op for key in results)]
    fig, axes = plt.subplots(
        2, len(ops), figsize=(4 * len(ops), 7.5), sharex=True, constrained_layout=True, squeeze=False
    )
    for col, op in enumerate(ops):
        for row, dtype in enumerate(bench.DTYPES):
            ax = axes[row][col]
            points = [results[(op, dtype, s)] for s in _CONTIGUOUS if (op, dtype, s) in results]
            n = [c.n for c, _ in points]
            ax.plot(n, [t["seed"] / t["fastact"] for _, t in points], "o-", label="fastact")
            if all("torch" in t for _, t in points):
                ax.plot(n, [t["seed"] / t["torch"] for _, t in points], "s--", label="torch")
            limit = [t["seed"] / (t["copy"] * c.bytes_moved / (2 * c.n * np.dtype(dtype).itemsize)) for c, t in points]
            ax.plot(n, limit, ":", color="gray", label="copy bandwidth limit")
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{op} {dtype}")
            ax.set_xlabel("elements")
            if col == 0:
                ax.set_ylabel("speedup over the seed")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend()
    fig.suptitle("fastact vs the book's NumPy layers (higher is faster)")
    fig.savefig(path, dpi=90)
    print(f"plot written to {path}")
    return 0
