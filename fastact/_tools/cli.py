"""``python -m fastact``: check fastact against the seed on this machine, then time both.

python -m fastact            check the book's layers (Relu, Sigmoid, softmax, SoftmaxWithLoss)
                             on every dtype and build, then a short timing table
python -m fastact check      the checks of every activation and the row ops, no timing
python -m fastact bench      the full benchmark report (--quick: short; --plot FILE.png;
                             --section ops|rows|networks|nlp: one part only; nlp, volume 2's
                             models, runs only when asked for)
python -m fastact tune       measure this machine's ufunc/serial/parallel crossovers, keep them
"""

import argparse
import os
import platform
import sys
import time

import numba
import numpy as np

from .. import __version__
from .._core import jit
from .._core.threads import cpu_name, get_num_threads
from . import bench, selfcheck

MAIN_SIZES = ("book", "1M")
#: The main job checks and times the book's own layers (the seed is the book's code itself);
#: ``check`` checks the whole registry, ``bench`` times it. The family's kernels are compiled
#: on first use instead: checking all 14 activations took 50.8 s of a cold first run, 2 cores
#: (AMD EPYC), against a 30 s goal; timing them all (112 rows, the textbook twins of GELU
#: taking 0.1 s a call at 1M) had taken another 30 s.
MAIN_OPS = tuple(f"{name}.{direction}" for name in selfcheck.BOOK for direction in ("forward", "backward"))


def machine():
    return (
        f"{cpu_name()}, {os.cpu_count()} cores, numba {numba.__version__} "
        f"({get_num_threads()} threads, {_threading_layer()}), "
        f"NumPy {np.__version__}, Python {platform.python_version()}"
    )


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:  # raised until a parallel kernel has run
        return "threading layer not started"


def check(names=None, rows=True):
    """Print the self-check of ``names`` (default: every activation) and the row ops ``rows``
    (default: all); return how many checks failed."""
    print("Checking fastact against its NumPy twins (fastact.reference) on this machine:")
    failed = 0
    for layer, dtype, build, ok, detail in selfcheck.run_checks(names=names, rows=rows):
        failed += not ok
        print(f"  {'PASS' if ok else 'FAIL'}  {layer:<20}{dtype:<9}{build:<10}{detail}")
    return failed


def timing_table(ops=MAIN_OPS, sizes=MAIN_SIZES, budget=0.05):
    print("\nMedian time per call (µs), as a user calls the layers; speedup = seed / fastact")
    print("(every activation, size and PyTorch: python -m fastact bench):")
    print(f"  {'op':<18}{'dtype':<9}{'size':<7}{'fastact':>10}{'seed':>10}{'speedup':>9}")
    for case in bench.cases(ops=ops, sizes=sizes):
        t = bench.measure(case, budget=budget, engine_names=("fastact", "seed"))
        print(
            f"  {case.op:<18}{case.dtype:<9}{case.size:<7}{t['fastact'] * 1e6:>10.1f}"
            f"{t['seed'] * 1e6:>10.1f}{t['seed'] / t['fastact']:>8.1f}x",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m fastact", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="main", choices=("main", "check", "bench", "tune"))
    parser.add_argument("--quick", action="store_true", help="bench: a short run")
    parser.add_argument("--plot", metavar="FILE.png", help="bench: also draw speedup vs size")
    parser.add_argument(
        "--section",
        choices=("all", "ops", "rows", "networks", "nlp"),
        default="all",
        help="bench: the per-op table, the row ops (softmax...), the whole networks, all of these, "
        "or volume 2's models (nlp, not part of all)",
    )
    args = parser.parse_args(argv)
    if args.command != "bench" and (args.plot or args.quick or args.section != "all"):
        parser.error("--quick, --plot and --section apply to the bench command only")
    if args.plot:
        try:
            import matplotlib  # noqa: F401  (checked before minutes of measuring, not after)
        except ImportError:
            parser.error(
                "--plot needs matplotlib: python -m pip install matplotlib "
                '(or, in a checkout, python -m pip install -e ".[plot]")'
            )

    # The tools compile what they check or time in the call that needs it: a serial build
    # standing in for a parallel one (jit.Background) would only be compiled besides it here
    # (1.3-2.4 s more of a cold `python -m fastact`, Intel VM).
    jit.BACKGROUND.enabled = False
    print(f"fastact {__version__}")
    start = time.perf_counter()
    if args.command == "bench":
        from .report import run_report

        return run_report(quick=args.quick, plot=args.plot, section=args.section)
    if args.command == "tune":
        from .tune import tune

        print("Measuring where the ufunc, serial and parallel paths cross (a minute or two):")
        tune()
        return 0
    failed = check(selfcheck.BOOK, selfcheck.BOOK_ROWS) if args.command == "main" else check()
    if args.command == "main":
        timing_table()
        print("\nEvery activation of the registry: python -m fastact check")
    print(
        f"\n{machine()}\n{'all checks passed' if not failed else f'{failed} checks FAILED'} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
