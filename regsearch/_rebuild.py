"""Rebuild a model with edited layers, layers inserted after layers and after outputs.

This is the one mechanism every model edit in regsearch goes through:

- ``Edits.clone``: how each top-level layer is re-created (default: from its config);
- ``Edits.insert_after``: ``{layer name: [factory, ...]}``; each factory is called
  once with the layer name and its layer is applied to that layer's output(s);
- ``Edits.append``: factories called once per model output (with the name of the
  layer that produced it), appended after that output; a ``Sequential`` model stays
  ``Sequential``;
- ``Edits.output_hooks``: functions ``(outputs, produced) -> outputs`` where
  ``outputs`` is the flat list of output tensors and ``produced`` maps each
  top-level layer name to its (first) output tensor, before any inserted layer;
  a ``Sequential`` model becomes functional.

The user's model is never modified: layers are re-created from their configs and
weights are copied by layer name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import keras

from regsearch._compat.keras import is_functional, producing_layer, sequential_input_layer

LayerFactory = Callable[[str], keras.layers.Layer]
OutputHook = Callable[[list[Any], Mapping[str, Any]], list[Any]]


def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A fresh copy of ``layer`` from its config (no weights, nothing shared)."""
    return layer.__class__.from_config(layer.get_config())


@dataclasses.dataclass
class Edits:
    """What :func:`rebuild` changes; see the module docstring."""

    clone: Callable[[keras.layers.Layer], keras.layers.Layer] = clone_layer
    insert_after: dict[str, list[LayerFactory]] = dataclasses.field(default_factory=dict)
    append: list[LayerFactory] = dataclasses.field(default_factory=list)
    output_hooks: list[OutputHook] = dataclasses.field(default_factory=list)


def _apply_all(layers: list[keras.layers.Layer], tensors: Any) -> Any:
    for layer in layers:
        tensors = keras.tree.map_structure(layer, tensors)
    return tensors


def _check_names(model: keras.Model, new: list[keras.layers.Layer]) -> None:
    taken = {layer.name for layer in model.layers}
    for layer in new:
        if layer.name in taken:
            raise ValueError(
                f"Cannot insert layer {layer.name!r}: model {model.name!r} already has a "
                "layer with that name. Rename the model's layer."
            )
        taken.add(layer.name)


def _fresh_input(input_layer: Any) -> Any:
    """A new ``keras.Input`` shaped, typed and named like ``input_layer``."""
    return keras.Input(
        batch_shape=input_layer.batch_shape,
        dtype=input_layer.dtype,
        sparse=input_layer.sparse,
        name=input_layer.name,
        optional=getattr(input_layer, "optional", False),
    )


def _rebuild_sequential(
    model: keras.Sequential,
    edits: Edits,
    inserted: dict[str, list[keras.layers.Layer]],
) -> keras.Model:
    input_layer = sequential_input_layer(model)
    needs_functional = bool(edits.output_hooks)
    if input_layer is None and (needs_functional or edits.append):
        raise ValueError(
            f"Model {model.name!r} is a Sequential model that is not built; it needs a "
            "known input shape for this edit. Start it with `keras.Input(shape)` or "
            "call `model.build(input_shape)` first."
        )
    new_layers: list[keras.layers.Layer] = []
    for layer in model.layers:
        new_layers.append(edits.clone(layer))
        new_layers.extend(inserted.get(layer.name, []))
    last = model.layers[-1].name if model.layers else "input"
    appended = [factory(last) for factory in edits.append]
    _check_names(model, [*(x for v in inserted.values() for x in v), *appended])
    new_layers.extend(appended)
    if not needs_functional:
        head = [] if input_layer is None else [_fresh_input(input_layer)]
        return keras.Sequential(head + new_layers, name=model.name, trainable=model.trainable)
    inputs = _fresh_input(input_layer)
    produced: dict[str, Any] = {}
    x = inputs
    for layer in new_layers:
        x = layer(x)
        produced.setdefault(layer.name, x)
    outputs = [x]
    for hook in edits.output_hooks:
        outputs = hook(outputs, produced)
    new_model = keras.Model(inputs, outputs[0], name=model.name)
    if not model.trainable:  # setting True would unfreeze every layer
        new_model.trainable = False
    return new_model


def _rebuild_functional(
    model: keras.Model,
    edits: Edits,
    inserted: dict[str, list[keras.layers.Layer]],
) -> keras.Model:
    produced: dict[str, Any] = {}

    def call_function(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        out = layer(*args, **kwargs)
        produced.setdefault(layer.name, out)
        return _apply_all(inserted.get(layer.name, []), out)

    # Fresh inputs named like the original input layers (clone_model would name
    # them after the symbolic tensors, which breaks dict inputs keyed by name).
    def fresh_input(tensor: Any) -> Any:
        return _fresh_input(producing_layer(tensor))

    clone = keras.models.clone_model(
        model,
        input_tensors=keras.tree.map_structure(fresh_input, model.input),
        clone_function=edits.clone,
        call_function=call_function,
    )
    flat = list(keras.tree.flatten(clone.output))
    appended: list[keras.layers.Layer] = []
    for i, tensor in enumerate(flat):
        owner = producing_layer(tensor).name  # type: ignore[union-attr]
        for factory in edits.append:
            layer = factory(owner)
            appended.append(layer)
            tensor = layer(tensor)
        flat[i] = tensor
    _check_names(model, [*(x for v in inserted.values() for x in v), *appended])
    for hook in edits.output_hooks:
        flat = hook(flat, produced)
    outputs = keras.tree.pack_sequence_as(clone.output, flat)
    new_model = keras.Model(clone.input, outputs, name=model.name)
    if not model.trainable:  # setting True would unfreeze every layer
        new_model.trainable = False
    return new_model


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy the weights of every layer of ``source`` to the same-named layer of ``target``."""
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())


def rebuild(model: keras.Model, edits: Edits, *, keep_weights: bool = True) -> keras.Model:
    """Return a new model with ``edits`` applied; ``model`` is left untouched.

    Args:
        model: a ``Sequential`` or functional Keras model.
        edits: what to change.
        keep_weights: copy the weights of every original layer into the new one.

    Returns:
        A new, uncompiled model: ``Sequential`` if ``model`` is and no output hook
        is given, functional otherwise.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Argument `model` must be a keras.Model; received {model!r} of type "
            f"{type(model).__name__}."
        )
    for name in edits.insert_after:
        model.get_layer(name)  # raises for an unknown name
    inserted = {name: [f(name) for f in fs] for name, fs in edits.insert_after.items()}
    if isinstance(model, keras.Sequential):
        new_model = _rebuild_sequential(model, edits, inserted)
    elif is_functional(model):
        new_model = _rebuild_functional(model, edits, inserted)
    else:
        raise TypeError(
            f"Argument `model` must be a Sequential or functional model; received a "
            f"subclassed model of type {type(model).__name__}. Subclassed models have no "
            "graph of layers to edit: build the model with the functional API."
        )
    if keep_weights and model.built:
        copy_weights(model, new_model)
    return new_model
