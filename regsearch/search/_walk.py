"""Walk a model's layers, those of nested models included."""

from __future__ import annotations

from collections.abc import Iterator

import keras


def nested_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """``model``'s layers, those of nested models included."""
    for layer in getattr(model, "layers", []):
        yield layer
        if isinstance(layer, keras.Model):
            yield from nested_layers(layer)
