"""The registries are the only lists: every activation declaration and every layer of
``fastact.layers.LAYERS`` carries what the tests, benchmarks, stubs and docs read from it. A
declaration without a twin, a truth, a bound or PyTorch's op fails here, never skips elsewhere."""

import inspect

import numpy as np
import pytest

import fastact
from fastact import layers, reference
from fastact.activations import REGISTRY
from fastact.testing.truths import FLOAT64, TRUTH

DIRECTIONS = ("forward", "backward")


@pytest.mark.parametrize("name", REGISTRY)
def test_declaration_has_twins(name):
    for twin in (name, f"{name}_backward"):
        assert callable(getattr(reference, twin, None)), f"reference.{twin} is missing"
    assert callable(getattr(fastact, name)), f"fastact.{name}"


@pytest.mark.parametrize("name", REGISTRY)
def test_declaration_bounds_are_within_the_promise(name):
    spec = REGISTRY[name]
    for direction in DIRECTIONS:
        for dtype in (np.float32, np.float64):
            bound = spec.bound(direction, dtype)
            assert 0 <= bound <= spec.ulp, (direction, np.dtype(dtype).name, bound, spec.ulp)
    if spec.ulp == 0:
        assert spec.ulp64 == (0, 0) and spec.ulp32 == (None, None), "bit-exact twins have no ULP bound"
    else:
        assert any(spec.ulp64), "a declaration promising ULPs declares what it measures"


@pytest.mark.parametrize("name", REGISTRY)
def test_declaration_has_its_truths(name):
    spec = REGISTRY[name]
    for i, direction in enumerate(DIRECTIONS):
        if spec.ulp64[i]:
            assert name in TRUTH and callable(TRUTH[name][i]), f"no mpmath truth for {name} {direction}"
        if spec.ulp32[i] is not None:
            assert (name, direction) in FLOAT64, f"no float64 truth for the float32 sweep of {name} {direction}"


@pytest.mark.parametrize("name", REGISTRY)
def test_declaration_names_pytorchs_op(name):
    forward, backward = REGISTRY[name].torch
    compile(forward, f"{name}.torch[0]", "eval")
    compile(backward, f"{name}.torch[1]", "eval")


def test_every_truth_and_sweep_belongs_to_a_declaration():
    assert set(TRUTH) <= set(REGISTRY)
    assert {name for name, _ in FLOAT64} <= set(REGISTRY)


def test_every_declaration_has_its_layer():
    for name, spec in REGISTRY.items():
        assert layers.LAYERS[spec.layer] == "activation", spec.layer
        layer = layers.layer_for(name)
        assert layer.spec is spec, name


def test_layers_table_is_what_the_package_exports():
    assert set(layers.__all__) == {*layers.LAYERS, "ForwardNotCalledError"}
    for name, module in layers.LAYERS.items():
        cls = getattr(layers, name)
        assert inspect.isclass(cls) and cls.__module__ == f"fastact.layers.{module}", name
    names = [cls.__name__ for cls in map(lambda n: getattr(layers, n), layers.LAYERS)]
    assert len(names) == len(set(names)), "two layer classes with one name"


@pytest.mark.parametrize("name", [n for n, m in layers.LAYERS.items() if m != "activation"])
def test_book_layer_has_a_twin(name):
    assert inspect.isclass(getattr(reference, name, None)), f"reference.{name} is missing"


def test_no_two_public_classes_share_a_name():
    """Within volume 1's namespaces. Volume 2's drop-ins (``fastact.nlp``) keep the names of
    volume 2's own ``common/layers.py`` (an ``Affine`` with ``params``/``grads`` lists...), as
    the book has them: the same name in the other book's namespace, by design."""
    import fastact.activations
    import fastact.layers.activation

    seen = {}
    for module in (fastact, fastact.activations, fastact.layers, fastact.layers.activation):
        for attr in getattr(module, "__all__", dir(module)):
            if attr.startswith("_"):
                continue
            value = getattr(module, attr)
            if inspect.isclass(value) and value.__module__.startswith("fastact"):
                other = seen.setdefault(value.__name__, value)
                assert other is value, f"{value.__name__}: {other.__module__} and {value.__module__}"
