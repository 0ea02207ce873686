"""The end-to-end benchmark's own arithmetic (fastact._tools.networks): what it reports must be what
it says it is."""

import numpy as np
import pytest

from fastact._tools import networks


def test_blas_seconds_counts_the_time_inside_np_dot(monkeypatch):
    """Every np.dot of the step is counted: make each call last at least 10 ms and the
    two-layer MLP's six (two forward, four backward) must add up to at least 60 ms."""
    import time

    real = np.dot

    def slow_dot(*args, **kwargs):
        time.sleep(0.01)
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "dot", slow_dot)
    sets = networks.layer_sets()
    x, t = networks.batch("mlp", "float64", size=8)
    net = networks.build("mlp", sets["seed"], "float64")
    assert networks.blas_seconds(net, x, t, steps=1) >= 0.06
    assert np.dot is slow_dot  # what was there before is put back


def test_blas_seconds_counts_the_convolutions_own_dgemm(monkeypatch):
    """fastact's Convolution calls dgemm itself where it fuses the bias (fastact._core.gemm): that counts
    too. The ConvNet's first layer (25 columns) takes that path where NumPy bundles OpenBLAS."""
    import time

    import fastact._core.gemm

    if not fastact._core.gemm._ready():
        pytest.skip("the fused path is not available with this NumPy's BLAS")
    real = fastact._core.gemm._call

    def slow_call(*args):
        time.sleep(0.05)
        return real(*args)

    monkeypatch.setattr(fastact._core.gemm, "_call", slow_call)
    sets = networks.layer_sets()
    x, t = networks.batch("convnet", "float64", size=2)
    net = networks.build("convnet", sets["fastact"], "float64")
    assert networks.blas_seconds(net, x, t, steps=1) >= 0.05
    assert fastact._core.gemm._call is slow_call


def test_blas_seconds_puts_numpy_back_when_a_step_fails():
    sets = networks.layer_sets()
    x, t = networks.batch("mlp", "float64", size=8)
    net = networks.build("mlp", sets["seed"], "float64")
    real = np.dot
    with pytest.raises(ValueError):
        networks.blas_seconds(net, x[:, :10], t, steps=1)  # the first Affine's dot refuses it
    assert np.dot is real


def test_verdicts_name_the_blas_ceiling():
    seed = {"step": 0.060, "blas": 0.020}
    fast = {"step": 0.025, "blas": 0.020}
    (what, ratio, want, met), *_ = networks.verdicts("convnet", {"seed": seed, "fastact": fast})
    assert what == "step, fastact (BLAS alone caps it at 3.0x)"
    assert ratio == pytest.approx(2.4) and want == 4.0 and not met
