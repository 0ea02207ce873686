"""Where a pytest run spends its time compiling: a pytest plugin.

    PYTHONPATH=tools NUMBA_CACHE_DIR=$(mktemp -d) python -m pytest -p compile_meter

A ``numba:compile`` listener in each process (each xdist worker) times every top-level
compilation (nested ones, the helpers a kernel compiles on the way, count in their caller) and
charges it to the function compiled and to the test module running. After the run the
controller prints the totals: seconds (each process's own, so two workers' add up to more than
the run's wall time) and compilations by kind (parallel builds, serial builds, the rest), and
the functions and test modules that cost most. With an empty kernel cache it measures what a
cold run compiles; with a warm one, what is never cached (the tests' own ``njit`` loops,
helpers compiled inside other functions). The processes meet in ``FASTACT_COMPILE_METER_DIR``
(a new temporary directory unless set; set it, to an empty one, only to keep their files).
"""

import collections
import json
import os
import tempfile
import threading
import time

from numba.core import event

_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
_DIR = os.environ.setdefault("FASTACT_COMPILE_METER_DIR", tempfile.mkdtemp(prefix="compile-meter-"))
_seconds = collections.Counter()
_count = collections.Counter()
_by_module = collections.Counter()
_builds = collections.Counter()  # (function, argument types): seconds, to find what two processes both compiled
_module = ["(collection)"]
_started = threading.local()


class _Listener(event.Listener):
    def on_start(self, ev):
        stack = getattr(_started, "stack", None)
        if stack is None:
            stack = _started.stack = []
        stack.append(time.perf_counter())

    def on_end(self, ev):
        stack = _started.stack
        start = stack.pop()
        if stack:  # nested: counted in its caller
            return
        dispatcher = ev.data.get("dispatcher")
        name = "?" if dispatcher is None else f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"
        seconds = time.perf_counter() - start
        _seconds[name] += seconds
        _count[name] += 1
        _by_module[_module[0]] += seconds
        _builds[f"{name}{ev.data.get('args')}"] += seconds


event.register("numba:compile", _Listener())


def pytest_runtest_setup(item):
    _module[0] = item.nodeid.split("::")[0]


def pytest_sessionfinish(session):
    path = os.path.join(_DIR, f"{_WORKER or 'controller'}.json")
    with open(path, "w") as f:
        json.dump({"seconds": _seconds, "count": _count, "modules": _by_module, "builds": _builds}, f)


def _kind(name):
    if "_parallel_" in name:
        return "parallel builds"
    if "_serial_" in name:
        return "serial builds"
    return "helpers, ufuncs and the tests' own functions"


def pytest_terminal_summary(terminalreporter):
    if _WORKER is not None:
        return
    seconds, count, modules = collections.Counter(), collections.Counter(), collections.Counter()
    per_build = collections.defaultdict(list)
    for entry in os.listdir(_DIR):
        with open(os.path.join(_DIR, entry)) as f:
            data = json.load(f)
        seconds.update(data["seconds"])
        count.update(data["count"])
        modules.update(data["modules"])
        for build, s in data["builds"].items():
            per_build[build].append(s)
    write = terminalreporter.write_line
    write(f"compile meter: {sum(seconds.values()):.1f} s in {sum(count.values())} compilations")
    kinds, kind_count = collections.Counter(), collections.Counter()
    for name, s in seconds.items():
        kinds[_kind(name)] += s
        kind_count[_kind(name)] += count[name]
    for kind, s in kinds.most_common():
        write(f"  {s:7.1f} s {kind_count[kind]:5d}  {kind}")
    repeated = [times for times in per_build.values() if len(times) > 1]
    write(
        f"  {len(repeated)} builds compiled in more than one process (the same function and argument"
        f" types); all but the longest of each: {sum(sum(t) - max(t) for t in repeated):.1f} s"
    )
    write("the functions:")
    for name, s in seconds.most_common(20):
        write(f"  {s:7.1f} s {count[name]:5d}  {name}")
    write("the test modules:")
    for name, s in modules.most_common(15):
        write(f"  {s:7.1f} s  {name}")
