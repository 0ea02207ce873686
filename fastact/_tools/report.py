"""``python -m fastact bench``: fastact against the seed, PyTorch and the copy floor.

Every case of ``fastact._tools.bench`` is timed side by side in this process (medians after a
warm-up), as a user calls the layers. The columns: medians in µs, speedups over the seed and
over torch, and the fraction of a parallel copy's bandwidth the fastact call achieves for the
bytes it must move. The last column checks the performance targets (``SEED_TARGETS``, ``BEAT_TORCH``).
"""

import time

import numpy as np

from . import bench

#: Minimum speedup over the NumPy twin per size, for every op of the registry.
SEED_TARGETS = {"100": 1.0, "book": 1.5, "1M": 3.0, "conv": 3.0}
#: Higher ones for one activation (both directions) at one size: the book's own Relu at the
#: book's (100, 50).
LAYER_SEED_TARGETS = {("relu", "book"): 4.0}
#: Sizes where fastact must be at least as fast as PyTorch's CPU op.
BEAT_TORCH = ("1M", "conv")
#: Activations whose forward is judged against PyTorch with its backward, as the pair a
#: training step runs, at the BEAT_TORCH sizes (the backward is also judged alone): the
#: pair's speedup over PyTorch's pair must reach this. Relu's forward writes the book's mask
#: beside its output (PyTorch's writes the output alone) so that its backward reads one byte
#: per element instead of the input.
PAIR_OVER_TORCH = {"relu": 1.2}
#: Fraction of a parallel copy's bandwidth at 1M, for memory-bound ops (cost 1).
BANDWIDTH_TARGET = 0.70


def targets(case):
    """What the case must reach: (min speedup over the twin, must beat torch on its own, min
    copy fraction, min speedup of the forward-backward pair over torch's or None)."""
    bandwidth = None
    if case.size == "1M" and bench.REGISTRY[case.layer].cost == 1:
        bandwidth = BANDWIDTH_TARGET
    seed = LAYER_SEED_TARGETS.get((case.layer, case.size), SEED_TARGETS.get(case.size))
    pair = PAIR_OVER_TORCH.get(case.layer) if case.size in BEAT_TORCH else None
    alone = case.size in BEAT_TORCH and not (pair is not None and case.direction == "forward")
    return seed, alone, bandwidth, pair


def copy_fraction(case, times):
    """Achieved bandwidth of fastact for the case's bytes, as a fraction of the copy's."""
    copy_bytes = 2 * case.n * np.dtype(case.dtype).itemsize
    return (case.bytes_moved / times["fastact"]) / (copy_bytes / times["copy"])


def verdict(case, times, forward=None):
    """MET, MISSED and what, or "report" (no target); ``forward``: the times of the same
    case's forward, for a backward whose pair is judged (PAIR_OVER_TORCH)."""
    seed_target, beat_torch, bandwidth, pair = targets(case)
    misses = []
    if seed_target is not None and times["seed"] / times["fastact"] < seed_target:
        misses.append(f"<{seed_target:g}x seed")
    if beat_torch and "torch" in times and times["torch"] < times["fastact"]:
        misses.append("slower than torch")
    if pair is not None and case.direction == "backward" and forward is not None and "torch" in times:
        ratio = (forward["torch"] + times["torch"]) / (forward["fastact"] + times["fastact"])
        if ratio < pair:
            misses.append(f"pair <{pair:g}x torch ({ratio:.2f}x)")
    if bandwidth is not None and copy_fraction(case, times) < bandwidth:
        misses.append(f"<{bandwidth:.0%} copy")
    if seed_target is None and not beat_torch and bandwidth is None and pair is None:
        return "report"
    return "MET" if not misses else "MISSED " + ", ".join(misses)


def allocation_cost(dtype, n=10_000_000, budget=0.3):
    """Seconds to fill a fresh n-element output (page faults on first touch) minus the same
    fill into an existing buffer: what allocating an output costs at this size."""
    x = np.ones(n, dtype)
    existing = np.empty_like(x)
    fresh, reused = bench.interleaved([lambda: np.copyto(np.empty_like(x), x), lambda: np.copyto(existing, x)], budget)
    return fresh - reused


def run_report(quick=False, plot=None, section="all"):
    if section == "nlp":
        from .bench_nlp import report as nlp_report

        nlp_report(quick=quick)
        return 0
    if section == "networks":
        from .report_networks import report as network_report

        network_report(quick=quick)
        return 0
    if section == "rows":
        from .bench_rows import report as rows_report

        rows_report(quick=quick)
        return 0
    sizes = ("100", "book", "1M", "conv") if quick else tuple(bench.SIZES)
    budget = 0.05 if quick else 0.3
    torch = bench.torch_module()
    print("Median µs per call, side by side in one process; speedup = other / fastact; seed = the")
    print("NumPy twin (the book's layer where it has one);")
    print("copy = achieved fraction of a 2-thread copy's bandwidth for the bytes the op must move.")
    if torch is None:
        print("(torch is not installed: its columns are empty; pip install torch to compare)")
    header = (
        f"{'op':<17}{'dtype':<8}{'size':<5}{'fastact':>9}{'seed':>10}{'torch':>9}"
        f"{'vs seed':>9}{'vs torch':>9}{'copy':>6}  target"
    )
    print(header)
    print("-" * len(header))
    rows = []
    measured = {}  # (op, dtype, size) -> times: a forward's, for its backward's pair verdict
    start = time.perf_counter()
    for case in bench.cases(sizes=sizes):
        times = bench.measure(case, budget=budget)
        measured[case.op, case.dtype, case.size] = times
        forward = measured.get((f"{case.layer}.forward", case.dtype, case.size))
        rows.append((case, times, forward))
        torch_t = times.get("torch")
        print(
            f"{case.op:<17}{case.dtype:<8}{case.size:<5}{times['fastact'] * 1e6:>9.1f}"
            f"{times['seed'] * 1e6:>10.1f}"
            f"{torch_t * 1e6 if torch_t else float('nan'):>9.1f}"
            f"{times['seed'] / times['fastact']:>8.1f}x"
            f"{(torch_t / times['fastact']) if torch_t else float('nan'):>8.2f}x"
            f"{copy_fraction(case, times):>6.0%}  {verdict(case, times, forward)}",
            flush=True,
        )
    if not quick:
        for dtype in bench.DTYPES:
            cost = allocation_cost(dtype)
            print(f"allocating a fresh 10M {dtype} output (first-touch page faults): {cost * 1e3:.2f} ms per call")
    if section == "all":
        from .bench_rows import report as rows_report
        from .report_networks import report as network_report

        print()
        rows_report(quick=quick)
        print("\nWhole training steps (the book's networks):")
        network_report(quick=quick)
    verdicts = [verdict(c, t, f) for c, t, f in rows]
    judged = sum(v != "report" for v in verdicts)
    met = verdicts.count("MET")
    print(
        f"\n{met} of {judged} cases with targets meet them "
        f"({time.perf_counter() - start:.0f} s){'' if torch else '; torch not installed'}."
    )
    if plot:
        from .plot import plot_speedups

        return plot_speedups([(c, t) for c, t, _ in rows], plot)
    return 0
