"""PyTorch in the same process: who owns the OpenMP runtime numba's parallel regions run
on, with which idle spin, and the same result bits whatever the order of the imports.

PyTorch ships its own ``libgomp.so.1`` and loads it with global symbols at ``import torch``; numba's
OpenMP pool, loaded afterwards, would bind to it (GNU's default spin, ~10 ms of a core after every
region, whatever fastact sets). fastact then loads numba's pool with ``RTLD_DEEPBIND`` on the libgomp
it was built against, with fastact's short spin (``fastact._core.threads._start_pool``). Each check
runs in a fresh interpreter: the order of loading is the whole point. No timing is asserted.
"""

import json
import os

import pytest

torch = pytest.importorskip("torch")

from fastact.testing.processes import run_python  # noqa: E402

NAMES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "FASTACT_OPENMP", "OMP_NUM_THREADS", "LD_DEBUG", "OMP_DISPLAY_ENV")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORCH_GOMP = os.path.realpath(os.path.join(os.path.dirname(torch.__file__), "lib", "libgomp.so.1"))

SCRIPT = """
import hashlib, json, os, sys
import numpy as np
ORDER = {order!r}
torch_at_import = None
if ORDER == "torch-first":
    import torch
    torch_at_import = torch.get_num_threads()
    torch.softmax(torch.ones(4096, 256), -1)  # PyTorch's own pool runs, and spins
import fastact
from fastact import functions
from fastact._core import threads as T

rng = np.random.default_rng(0)
digest = hashlib.sha256()
for dtype in (np.float32, np.float64):
    x = rng.standard_normal(1 << 20).astype(dtype)
    d = rng.standard_normal(1 << 20).astype(dtype)
    s = rng.standard_normal((3072, 256)).astype(dtype)
    for path in ("parallel", "serial"):
        with T.forced(path):
            for layer in (fastact.Relu(), fastact.Sigmoid()):
                digest.update(layer.forward(x).tobytes())
                digest.update(layer.backward(d.copy()).tobytes())
            digest.update(functions.softmax(s).tobytes())
            digest.update(fastact.gelu(x).tobytes())
if ORDER == "torch-after":
    import torch
    torch_at_import = torch.get_num_threads()
if "torch" in sys.modules:
    import torch
    torch.relu(torch.ones(1 << 20))  # PyTorch's pool runs after fastact's
    torch_threads = torch.get_num_threads()
else:
    torch_threads = None
import numba
print(json.dumps({{
    "digest": digest.hexdigest(),
    "private": T.private_openmp(),
    "runtime": T.openmp_runtime(),
    "loaded": T.loaded_libgomp(),
    "layer": numba.threading_layer(),
    "numba_threads": numba.get_num_threads(),
    "fastact_threads": fastact.get_num_threads(),
    "torch_threads": torch_threads,
    "torch_at_import": torch_at_import,
    "environ": {{k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}},
    "spin": str(T.openmp_spin_count()),
}}))
"""


def _run(order, env=None, tmp_path=None):
    """The script's report in a fresh interpreter, the libgomp settings each runtime displayed
    (OMP_DISPLAY_ENV), and, with ``tmp_path``, the dynamic linker's bindings of GOMP_parallel."""
    extra = {"PYTHONPATH": ROOT, "NUMBA_NUM_THREADS": "2", "OMP_DISPLAY_ENV": "VERBOSE"} | (env or {})
    if tmp_path is not None:
        extra |= {"LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": str(tmp_path / "ld")}
    result = run_python(SCRIPT.format(order=order), env=extra, unset=NAMES, timeout=600)
    report = json.loads(result.stdout.splitlines()[-1])
    bindings = {}
    if tmp_path is not None:
        for name in os.listdir(tmp_path):
            if name.startswith("ld."):
                with open(tmp_path / name, errors="replace") as f:
                    for line in f:
                        if "`GOMP_parallel'" in line and "binding file" in line:
                            who, _, to = line.split("binding file ", 1)[1].partition(" to ")
                            lib = os.path.basename(who.split(" [")[0]).split(".")[0]
                            bindings.setdefault(lib, set()).add(os.path.realpath(to.split(" [")[0]))
    return report, _displayed(result.stderr), bindings


def _displayed(stderr):
    """One {name: value} per OpenMP runtime that started in the process, in the order they did."""
    blocks = []
    for line in stderr.splitlines():
        if "OPENMP DISPLAY ENVIRONMENT BEGIN" in line:
            blocks.append({})
        name, _, value = line.strip().partition(" = ")
        if blocks and name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
            blocks[-1][name] = value.strip("'")
    return blocks


def _separate_files():
    """Whether PyTorch's libgomp is another file than the one numba's pool links to (PyTorch's
    pip wheels: yes; a conda environment sharing one libgomp: no, and nothing is separate)."""
    report, _, _ = _run("none")
    return report["runtime"] is not None and report["runtime"] != TORCH_GOMP


@pytest.fixture(scope="module")
def reports():
    return {order: _run(order)[:2] for order in ("none", "torch-first", "torch-after")}


def test_result_bits_do_not_depend_on_pytorch_being_there(reports):
    digests = {order: report["digest"] for order, (report, _) in reports.items()}
    assert len(set(digests.values())) == 1, digests


def test_the_pools_keep_their_sizes_and_the_environment_stays_clean(reports):
    for order, (report, _) in reports.items():
        assert report["layer"] == "omp", (order, report)
        assert report["numba_threads"] == report["fastact_threads"] == 2, (order, report)
        if order != "none":  # PyTorch's own choice (its default depends on the machine), kept
            assert report["torch_threads"] == report["torch_at_import"] >= 1, (order, report)
        assert report["environ"] == {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None}, (order, report)


def test_without_pytorch_numba_runs_on_the_libgomp_fastact_loaded_with_the_short_spin(reports):
    report, displayed = reports["none"]
    assert not report["private"]
    assert report["loaded"] == [report["runtime"]]
    assert displayed[-1] == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": report["spin"]}


def test_torch_first_numba_gets_its_own_runtime_with_the_short_spin(reports, tmp_path):
    if not _separate_files():
        pytest.skip("PyTorch and numba link to the same libgomp file here: one runtime, PyTorch's")
    report, displayed, bindings = _run("torch-first", tmp_path=tmp_path)
    assert report["private"]
    assert report["runtime"] != TORCH_GOMP and TORCH_GOMP in report["loaded"] and report["runtime"] in report["loaded"]
    # PyTorch's runtime keeps its own settings (GNU's default spin); numba's, started after, has ours
    assert displayed[0] == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "300000"}
    assert displayed[-1] == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": report["spin"]}
    # the dynamic linker's own account: numba's pool calls the runtime openmp_runtime() names
    assert bindings["omppool"] == {report["runtime"]}, bindings
    assert bindings["libtorch_cpu"] == {TORCH_GOMP}, bindings


def test_torch_after_pytorch_shares_the_runtime_fastact_loaded(reports, tmp_path):
    report, displayed, bindings = _run("torch-after", tmp_path=tmp_path)
    assert not report["private"]
    assert report["loaded"] == [report["runtime"]]  # PyTorch's copy never loaded: the soname matched
    assert len(displayed) == 1 and displayed[0]["GOMP_SPINCOUNT"] == report["spin"]
    assert bindings["omppool"] == bindings["libtorch_cpu"] == {report["runtime"]}, bindings


def test_fastact_openmp_shared_lets_numba_run_on_pytorchs_runtime(tmp_path):
    report, _, bindings = _run("torch-first", {"FASTACT_OPENMP": "shared"}, tmp_path=tmp_path)
    assert not report["private"]
    assert bindings["omppool"] == bindings["libtorch_cpu"] == {TORCH_GOMP}, bindings
    assert report["runtime"] == TORCH_GOMP


def test_a_users_spin_reaches_numbas_own_runtime_too():
    if not _separate_files():
        pytest.skip("PyTorch and numba link to the same libgomp file here")
    report, displayed, _ = _run("torch-first", {"GOMP_SPINCOUNT": "12345"})
    assert report["private"]
    assert [block["GOMP_SPINCOUNT"] for block in displayed] == ["12345", "12345"]
    assert report["environ"]["GOMP_SPINCOUNT"] == "12345"


def test_no_separate_runtime_under_ld_preload():
    # a preloaded allocator would be bypassed by a module loaded with RTLD_DEEPBIND; libm stands in for it
    report, _, _ = _run("torch-first", {"LD_PRELOAD": "libm.so.6"})
    assert not report["private"]
