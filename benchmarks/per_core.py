"""Per-core speed of the element kernels: ns per element, serial build, against PyTorch on
one thread, on 100K elements (in cache: the arithmetic, not the memory).

    python benchmarks/per_core.py

The calls take turns (``fastact._tools.bench.interleaved``), so a noisy spell hits them alike.
"""

if __name__ == "__main__":
    import numpy as np

    from fastact._core.kernels import KERNELS
    from fastact._tools import bench

    torch = bench.torch_module()
    if torch is not None:
        torch.set_num_threads(1)
    n = 100_000
    for dtype in bench.DTYPES:
        x = (np.random.default_rng(0).standard_normal(n) * 5).astype(dtype)
        out = np.empty_like(x)
        calls = {"fastact": lambda x=x, out=out: KERNELS["sigmoid"].forward.serial(x, out, (), 0, 1)}
        if torch is not None:
            tx, tout = torch.from_numpy(x), torch.from_numpy(out)
            calls["torch"] = lambda tx=tx, tout=tout: torch.sigmoid(tx, out=tout)
        times = bench.interleaved(list(calls.values()), budget=3.0, rounds=30)
        print(
            f"sigmoid forward {dtype}: "
            + ", ".join(f"{name} {t / n * 1e9:.2f} ns/element" for name, t in zip(calls, times))
        )
