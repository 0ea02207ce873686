"""numba's OpenMP pool (``fastact._core.threads._start_pool``): libgomp sees fastact's short spin
when it loads, unless the user chose; the environment is restored at once."""

import json
import textwrap

import fastact._core.threads
from fastact.testing.processes import run_python

SCRIPT = textwrap.dedent(
    """
    import json, os
    from numba.np.ufunc import parallel
    import fastact._core.threads

    seen = {}
    launch = parallel._launch_threads

    def spy():  # what the OpenMP runtime reads from the environment when numba loads it
        if not seen:
            seen.update({k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")})
        launch()

    parallel._launch_threads = spy
    fastact._core.threads._start_pool()
    after = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    print(json.dumps({"at launch": seen, "after": after}))
    """
)

NAMES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def _run(env_extra):
    return json.loads(run_python(SCRIPT, env=env_extra, unset=NAMES, timeout=120).stdout)


def test_the_pool_loads_with_the_short_spin_and_the_environment_is_restored():
    seen = _run({})
    assert seen["at launch"] == {
        "OMP_WAIT_POLICY": "PASSIVE",
        "GOMP_SPINCOUNT": str(fastact._core.threads.OPENMP_SPIN_COUNT),
    }
    assert seen["after"] == {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None}


def test_a_users_choice_is_kept_as_it_is():
    for chosen in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "0"}):
        seen = _run(chosen)
        expected = {name: chosen.get(name) for name in NAMES}
        assert seen["at launch"] == expected
        assert seen["after"] == expected
