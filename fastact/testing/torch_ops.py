"""PyTorch's op for each activation, from its declaration (``Declaration.torch``): for the
benchmarks' PyTorch column and the accuracy reports. Imports torch when called."""

import functools


@functools.cache
def torch_op(spec):
    """(forward(x), backward(d, x, y)) for declaration ``spec``: PyTorch's forward and the
    backward op autograd runs (``y``: forward's output), at PyTorch's defaults."""
    import torch
    import torch.nn.functional as F

    scope = {"F": F, "A": torch.ops.aten}
    forward_source, backward_source = spec.torch
    forward = eval(f"lambda x: {forward_source}", scope)
    backward = eval(f"lambda d, x, y: {backward_source}", scope)
    return forward, backward
