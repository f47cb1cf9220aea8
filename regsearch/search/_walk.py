"""Walk a model's layers, those of nested models included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras

from regsearch.layers import CrossLayer


def nested_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """``model``'s layers, those of nested models included."""
    for layer in getattr(model, "layers", []):
        yield layer
        if isinstance(layer, keras.Model):
            yield from nested_layers(layer)


def weight_penalty_owners(model: keras.Model) -> Iterator[Any]:
    """What holds each penalty on ``model``'s weights, in its ``regularizer`` attribute.

    Every weight with a regularizer, and every ``CrossLayer`` with one (a penalty over
    several layers' kernels, e.g. the coupled group norm of a residual stream).
    Activity regularizers (penalties on outputs) are not among them.
    """
    for variable in model.weights:
        if getattr(variable, "regularizer", None) is not None:
            yield variable
    for layer in nested_layers(model):
        if isinstance(layer, CrossLayer) and layer.regularizer is not None:
            yield layer


def penalty_slots(model: keras.Model) -> list[tuple[Any, str]]:
    """``(owner, attribute)`` of every penalty of ``model``: its weight penalties
    (``weight_penalty_owners``, in ``regularizer``) and its layers' activity
    regularizers (in ``activity_regularizer``)."""
    slots = [(owner, "regularizer") for owner in weight_penalty_owners(model)]
    slots += [
        (layer, "activity_regularizer")
        for layer in nested_layers(model)
        if getattr(layer, "activity_regularizer", None) is not None
    ]
    return slots
