"""numba's OpenMP pool (``fastact._core.threads._start_pool``): libgomp sees fastact's short spin
when it loads, unless the user chose; the environment is restored at once."""

import json
import os
import subprocess
import sys
import textwrap

import fastact._core.threads

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
    env = {k: v for k, v in os.environ.items() if k not in NAMES} | env_extra
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


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
