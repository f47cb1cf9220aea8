"""Layer kinds: how trim classifies each layer call of a model's graph."""

from __future__ import annotations

import keras

from regsearch.trimming._graph import model_graph
from regsearch.trimming._kinds import (
    PASSTHROUGH_KINDS,
    PRODUCER_KINDS,
    SAME_CHANNEL_KINDS,
    LayerKind,
    classify,
)

L = keras.layers


def _kinds(model: keras.Model) -> dict[str, LayerKind]:
    graph = model_graph(model)
    return {node.layer.name: classify(node, graph)[0] for node in graph.nodes}


def test_every_kind_of_layer_call() -> None:
    inputs = keras.Input((8, 8, 3))
    x = L.ZeroPadding2D(1, name="pad")(inputs)
    x = L.Conv2D(4, 3, name="conv")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="relu")(x)
    y = L.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    z = L.SeparableConv2D(4, 3, padding="same", name="separable")(x)
    x = L.Add(name="add")([y, z])
    x = L.Concatenate(name="concat")([x, y])
    x = L.Dropout(0.1, name="dropout")(x)
    x = L.Activation("softmax", name="softmax")(x)
    shared = L.Dense(8, name="shared")
    a = shared(L.Flatten(name="flatten")(x))
    b = shared(L.Reshape((8 * 8 * 8,), name="reshape")(x))
    outputs = L.Dense(2, name="dense")(L.Average(name="average")([a, b]))
    assert _kinds(keras.Model(inputs, outputs)) == {
        "pad": LayerKind.ZEROPAD,
        "conv": LayerKind.CONV,
        "bn": LayerKind.CHANNELWISE,
        "relu": LayerKind.ACTIVATION,
        "depthwise": LayerKind.DEPTHWISE,
        "separable": LayerKind.SEPARABLE,
        "add": LayerKind.MERGE,
        "concat": LayerKind.CONCAT,
        "dropout": LayerKind.IDENTITY,
        "softmax": LayerKind.BARRIER,  # mixes channels
        "flatten": LayerKind.FLATTEN,
        "reshape": LayerKind.BARRIER,
        "shared": LayerKind.OPAQUE,  # called twice
        "average": LayerKind.MERGE,
        "dense": LayerKind.DENSE,
    }


def test_kind_sets() -> None:
    assert {LayerKind.CONV, LayerKind.DENSE, LayerKind.SEPARABLE} == PRODUCER_KINDS
    assert SAME_CHANNEL_KINDS < PASSTHROUGH_KINDS
    assert not PRODUCER_KINDS & PASSTHROUGH_KINDS
    assert LayerKind.BARRIER not in PASSTHROUGH_KINDS | PRODUCER_KINDS
