"""The per-op bench's targets (fastact._tools.report): what each case must reach, and that the
verdicts judge it, Relu's own targets included."""

from fastact._tools import bench, report

#: Times where every engine-independent target is met: the seed 10x slower, the copy equal.
_FAST = {"fastact": 1.0, "seed": 10.0, "copy": 1.0}


def _copy_for(case, fraction):
    """A copy time at which the case's fastact time (1.0) is ``fraction`` of the copy's bandwidth."""
    return fraction * 2 * case.n * bench.np.dtype(case.dtype).itemsize / case.bytes_moved


def test_relu_at_the_books_size_needs_4x_the_seed_and_others_1_5x():
    relu = bench.Case("relu.backward", "float64", "book")
    assert report.verdict(relu, {**_FAST, "seed": 3.9}) == "MISSED <4x seed"
    assert report.verdict(relu, {**_FAST, "seed": 4.0}) == "MET"
    sigmoid = bench.Case("sigmoid.forward", "float64", "book")
    assert report.verdict(sigmoid, {**_FAST, "seed": 1.6}) == "MET"
    assert report.verdict(sigmoid, {**_FAST, "seed": 1.4}) == "MISSED <1.5x seed"


def test_relus_forward_is_judged_against_torch_with_its_backward():
    forward = bench.Case("relu.forward", "float32", "1M")
    backward = bench.Case("relu.backward", "float32", "1M")
    fwd = {**_FAST, "torch": 0.8, "copy": _copy_for(forward, 1.0)}  # slower than torch alone
    assert report.verdict(forward, fwd) == "MET"
    # the pair: torch 0.8 + 2.0 against 1.0 + 1.0 is 1.4x; 0.8 + 1.5 is 1.15x
    bwd = {**_FAST, "torch": 2.0, "copy": _copy_for(backward, 1.0)}
    assert report.verdict(backward, bwd, fwd) == "MET"
    bwd["torch"] = 1.5
    assert report.verdict(backward, bwd, fwd) == "MISSED pair <1.2x torch (1.15x)"
    bwd["torch"] = 0.9  # the backward alone is judged too
    assert report.verdict(backward, bwd, fwd).startswith("MISSED slower than torch, pair <1.2x")


def test_other_ops_are_judged_against_torch_alone_and_relu_on_its_bandwidth():
    sigmoid = bench.Case("sigmoid.forward", "float32", "1M")
    assert report.verdict(sigmoid, {**_FAST, "torch": 0.9}) == "MISSED slower than torch"
    assert report.verdict(sigmoid, {**_FAST, "torch": 1.1}) == "MET"
    forward = bench.Case("relu.forward", "float32", "1M")
    slow_copy = {**_FAST, "torch": 2.0, "copy": _copy_for(forward, 0.6)}
    assert report.verdict(forward, slow_copy) == "MISSED <70% copy"
    assert report.verdict(bench.Case("relu.forward", "float32", "10M"), _FAST) == "report"
