"""The end-to-end benchmark's own arithmetic (fastact.networks): what it reports must be what
it says it is."""

import numpy as np
import pytest

from fastact import networks


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
