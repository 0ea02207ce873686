"""OpenBLAS's idle spin (``fastact._core.openblas``): shortened once, only when it is safe, never
over the user's own choice, and with BLAS giving the same results afterwards."""

import json
import textwrap

import pytest

import fastact._core.openblas
from fastact.testing.processes import run_python

pytestmark = pytest.mark.skipif(not fastact._core.openblas.loaded_openblas(), reason="NumPy here does not use OpenBLAS")

SCRIPT = textwrap.dedent(
    """
    import json, os, threading
    import numpy as np
    import fastact._core.openblas
    import fastact._core.threads

    a = np.random.default_rng(0).random((300, 300))
    before = a @ a
    libs = [fastact._core.openblas._controls(p) for p in fastact._core.openblas.loaded_openblas()]
    timeouts = lambda: [lib.openblas_thread_timeout() for lib in libs if lib is not None]

    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    fastact._core.threads._start_pool()  # another Python thread alive: left alone, tried again later
    with_thread = timeouts()
    release.set()
    other.join()
    fastact._core.threads._start_pool()
    print(json.dumps({"libraries": len(libs), "with a thread": with_thread, "alone": timeouts(),
                      "environment": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
                      "same product": bool((a @ a == before).all())}))
    """
)


def _run(env_extra):
    return json.loads(run_python(SCRIPT, env=env_extra, unset=("OPENBLAS_THREAD_TIMEOUT",), timeout=120).stdout)


def test_shortened_when_no_other_thread_is_about_and_the_environment_restored():
    seen = _run({})
    n = seen["libraries"]
    assert n >= 1
    assert seen["with a thread"] == [0] * n  # not set when OpenBLAS loaded, left so
    assert seen["alone"] == [fastact._core.openblas.SPIN_EXPONENT] * n
    assert seen["environment"] is None
    assert seen["same product"]


def test_the_users_own_setting_is_kept():
    seen = _run({"OPENBLAS_THREAD_TIMEOUT": "25"})
    n = seen["libraries"]
    assert seen["with a thread"] == seen["alone"] == [25] * n
    assert seen["environment"] == "25"
    assert seen["same product"]
