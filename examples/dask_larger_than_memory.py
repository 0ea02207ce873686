"""Process an array larger than any one worker's memory with fastact, chunk by chunk, on a
Dask LocalCluster, and check the result without a dashboard.

    python -m pip install "fastact[dask]"
    python examples/dask_larger_than_memory.py            # 2 workers x 400 MB, a 1.6 GB array

Each worker is a separate process that imports fastact and loads the compiled kernels from its
own cache (nothing is compiled per task). fastact's functions are NumPy ufuncs, so on a Dask
array they build a lazy Dask array; ``softmax`` works along an axis that is not split across
chunks. The check: the reduction of the result is compared with the same computation on one
chunk at a time in this process, and the workers' peak memory (from ``client.run``) is printed
next to their limit.
"""

import argparse
import resource

import numpy as np


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gigabytes", type=float, default=1.6, help="size of the input array")
    parser.add_argument("--memory-limit", default="400MB", help="per worker")
    args = parser.parse_args()

    import dask.array as da
    from dask.distributed import Client, LocalCluster

    import fastact

    rows = int(args.gigabytes * 1e9 / 8 / 1000)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, memory_limit=args.memory_limit, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # 10,000 rows x 1000 columns of float64 per chunk: 80 MB, well under each worker's limit
        x = da.random.default_rng(0).standard_normal((rows, 1000), chunks=(10_000, 1000))
        y = fastact.sigmoid(x) + fastact.relu(x)
        p = fastact.softmax(x, axis=1)  # rows are whole in each chunk: no data moves
        total, rowsums = da.compute(y.sum(), p.sum(axis=1).max())
        print(f"input: {x.nbytes / 1e9:.2f} GB in {x.npartitions} chunks; workers limited to {args.memory_limit} each")
        print(f"sum of sigmoid(x) + relu(x): {total:.6e}; largest row sum of softmax: {rowsums:.15f}")
        peaks = client.run(peak_rss_mb)
        for worker, mb in peaks.items():
            print(f"  worker {worker}: peak resident memory {mb:.0f} MB")

        # The same numbers from one chunk at a time here, with NumPy arrays: the check.
        expected = 0.0
        for block in x.blocks:
            b = block.compute()
            expected += float((fastact.sigmoid(b) + fastact.relu(b)).sum())
        assert np.isclose(total, expected, rtol=1e-12), (total, expected)
        assert abs(rowsums - 1.0) < 1e-12
        print("checked: the cluster's result equals the chunk-by-chunk computation here")


if __name__ == "__main__":
    main()
