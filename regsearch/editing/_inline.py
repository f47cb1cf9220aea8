"""Nested models inlined: one flat graph of every layer a model and its sub-models call.

A model built on a backbone (``x = backbone(inputs)``, the transfer-learning pattern)
holds the backbone as one layer, which nothing can narrow. Inlined, the backbone's
layers are the model's own, so its channel groups are coupled with the layers around it.
"""

from __future__ import annotations

from typing import Any

import keras

from regsearch._compat.keras import functional_graph, run_through_graph
from regsearch._validation import check_model


def nested_models(model: keras.Model) -> list[keras.Model]:
    """The Sequential and functional models ``model`` calls as layers (not nested deeper)."""
    return [
        layer
        for layer in model.layers
        if isinstance(layer, keras.Model) and functional_graph(layer) is not None
    ]


def _inlined_call(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
    graph = functional_graph(layer) if isinstance(layer, keras.Model) else None
    if graph is None:
        return layer(*args, **kwargs)
    return run_through_graph(graph, args[0], _inlined_call)


def inline_models(model: keras.Model) -> keras.Model:
    """A copy of ``model`` in which every nested Sequential or functional model is
    replaced by the layers it calls, at any depth.

    The copy has ``model``'s weights (and its layers' ``trainable`` flags) and
    computes what it computes; ``model`` is not changed. A nested model called with
    ``training=False`` no longer fixes its layers' mode: they train as the rest of
    the model does. Layer names must be unique across the nested models.

    Args:
        model: a built Sequential or functional model.

    Returns:
        A functional model; ``model`` itself when it nests no model or has no layer
        graph (a subclassed or unbuilt model).

    Raises:
        ValueError: when inlining would give two layers one name.

    Examples:
        >>> import keras
        >>> from regsearch.editing import inline_models
        >>> backbone = keras.Sequential([
        ...     keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv")
        ... ], name="backbone")
        >>> inputs = keras.Input((8, 8, 1))
        >>> outputs = keras.layers.Dense(2, name="head")(
        ...     keras.layers.GlobalAveragePooling2D()(backbone(inputs)))
        >>> flat = inline_models(keras.Model(inputs, outputs))
        >>> [layer.name for layer in flat.layers[1:]]
        ['conv', 'global_average_pooling2d', 'head']
    """
    model = check_model("model", model)
    if functional_graph(model) is None or not nested_models(model):
        return model
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    graph = functional_graph(copy)
    assert graph is not None  # a clone of a model with a graph has one
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name), graph.input
    )
    try:
        return keras.Model(inputs, run_through_graph(graph, inputs, _inlined_call), name=model.name)
    except ValueError as error:
        raise ValueError(
            f"Cannot inline the models nested in {model.name!r}: {error} Rename the "
            "layers so that every name is unique across the nested models."
        ) from error
