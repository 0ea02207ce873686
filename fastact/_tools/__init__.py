"""Tooling: the command line, the self-check, the benchmarks and their reports, the tuner.
Never imported by the runtime."""


def warm_up(calls, times=1):
    """Call each of ``calls`` ``times`` times, then once more after the parallel builds those
    calls deferred have been compiled (``fastact._core.jit.Background``): what is timed next
    runs the kernels a warm process runs, not the serial builds that stand in meanwhile."""
    from .._core import jit

    for call in calls:
        for _ in range(times):
            call()
    if jit.BACKGROUND.wait():
        for call in calls:
            call()
