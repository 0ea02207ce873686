"""``python -m fastact tune``: measure where the paths cross on this machine, and keep it.

For every kernel of the registry, forward and backward, on float64 arrays from 2 KiB to 8 MiB:
the ufunc call, the serial kernel and the parallel kernel, taking turns (medians), each with
the allocation a layer makes. The ufunc path serves up to the last size where it beats the
serial kernel; the parallel build from the first size where it beats the serial one by 10%
and keeps doing so. Saved as JSON in the user's cache directory, keyed by CPU model, core
count and numba version (``threads.tuning_path``); fastact reads it at import. Without it,
the defaults derived from each kernel's cost serve (``threads.default_thresholds``).
"""

import json
import os

import numba
import numpy as np

from .._core import threads
from .._core.kernels import KERNELS
from ..activations import REGISTRY
from . import bench

SIZES = [1 << k for k in range(11, 24)]  # bytes


def _calls(spec, direction, nbytes):
    kernels = KERNELS[spec.name]
    x = np.random.default_rng(0).standard_normal(nbytes // 8)
    params = tuple(np.float64(p.default) for p in spec.params)
    if direction == "forward":
        pair = kernels.forward
        mask = spec.saves == "mask"

        def ufunc():
            if mask:
                kernels.mask_ufunc(x, *params, out=np.empty(x.shape, np.bool_))
            kernels.ufunc(x, *params)

        def kernel(build, shares):
            extra = (np.empty(x.shape, np.uint8),) if mask else ()
            return lambda: build(x, np.empty_like(x), *extra, params, *shares)
    else:
        pair = kernels.backward
        saved = {"mask": x > 0, "output": x, "input": x}[spec.saves]
        dout = x.copy()

        def ufunc():  # (the ufunc takes the bool mask, the kernels its uint8 view)
            kernels.backward_ufunc(dout, saved, *params, out=dout if spec.backward_in_place else None)

        if spec.saves == "mask":
            saved = saved.view(np.uint8)

        def kernel(build, shares):
            if spec.backward_in_place:
                return lambda: build(dout, saved, params, *shares)
            return lambda: build(dout, saved, np.empty_like(dout), params, *shares)

    # (part, parts): the serial build takes the whole loop, the parallel one a share per thread
    return ufunc, kernel(pair.serial, (0, 1)), kernel(pair.parallel, (0, numba.get_num_threads()))


def measure(spec, direction, budget=0.06):
    """[(bytes, ufunc s, serial s, parallel s)] for one op."""
    threads._start_pool()
    rows = []
    for nbytes in SIZES:
        ufunc, serial, parallel = _calls(spec, direction, nbytes)
        rows.append((nbytes, *bench.interleaved([ufunc, serial, parallel], budget, rounds=6)))
    return rows


def crossings(rows):
    """(ufunc max bytes, parallel min bytes) from ``measure``'s rows."""
    ufunc_max = 0
    for nbytes, u, s, _ in rows:
        if u <= s:
            ufunc_max = nbytes
        else:
            break
    parallel_min = rows[-1][0] * 2
    for i, (nbytes, _, _, _) in enumerate(rows):
        if all(pp < 0.9 * ss for _, _, ss, pp in rows[i:]):
            parallel_min = nbytes
            break
    return max(ufunc_max, 2048), parallel_min


def tune(path=None, quiet=False):
    results = {"ufunc_max_bytes": {}, "parallel_min_bytes": {}}
    for spec in REGISTRY.values():
        for direction in ("forward", "backward"):
            op = f"{spec.name}_{direction}"
            ufunc_max, parallel_min = crossings(measure(spec, direction))
            results["ufunc_max_bytes"][op] = ufunc_max
            results["parallel_min_bytes"][op] = parallel_min
            default = threads.default_thresholds(op, spec.cost_of(direction))
            if not quiet:
                print(
                    f"  {op:<26} ufunc up to {ufunc_max:>9} B (default {default[0]:>8}), "
                    f"parallel from {parallel_min:>9} B (default {default[1]:>8})",
                    flush=True,
                )
    path = path or threads.tuning_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"machine": threads.machine_key(), **results}, f, indent=1)
    threads.load_tuning(path)
    if not quiet:
        print(f"saved to {path}; fastact uses it from now on (delete the file to go back to the defaults)")
    return results
