"""Rebuild a model with edited layers, layers inserted after layers and after outputs.

This is the one mechanism every model edit in regsearch goes through:

- ``Edits.clone``: how each top-level layer is re-created (default: from its config);
  it is called once per layer, so a shared layer stays shared;
- ``Edits.insert_before``: ``{layer name: [factory, ...]}``; each factory is called
  once with the layer name and its layer is applied, in order, to every tensor of
  the first positional argument of that layer's call (e.g. padding before a
  convolution; both inputs of an ``Add`` called on a list);
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
from regsearch._validation import check_model

LayerFactory = Callable[[str], keras.layers.Layer]
OutputHook = Callable[
    [list[keras.KerasTensor], Mapping[str, keras.KerasTensor]], list[keras.KerasTensor]
]


def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A fresh copy of ``layer`` from its config (no weights, nothing shared)."""
    return layer.__class__.from_config(layer.get_config())


@dataclasses.dataclass
class Edits:
    """What ``rebuild`` changes; see the module docstring."""

    clone: Callable[[keras.layers.Layer], keras.layers.Layer] = clone_layer
    insert_before: dict[str, list[LayerFactory]] = dataclasses.field(default_factory=dict)
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


def _fresh_input(input_layer: keras.layers.InputLayer) -> keras.KerasTensor:
    """A new ``keras.Input`` shaped, typed and named like ``input_layer``."""
    return keras.Input(
        batch_shape=input_layer.batch_shape,
        dtype=input_layer.dtype,
        sparse=input_layer.sparse,
        name=input_layer.name,
        optional=getattr(input_layer, "optional", False),
    )


@dataclasses.dataclass
class _Inserted:
    """The layers made by ``Edits.insert_before`` / ``insert_after``, by layer name."""

    before: dict[str, list[keras.layers.Layer]]
    after: dict[str, list[keras.layers.Layer]]

    @classmethod
    def make(cls, model: keras.Model, edits: Edits) -> _Inserted:
        for name in (*edits.insert_before, *edits.insert_after):
            model.get_layer(name)  # raises for an unknown name
        return cls(
            before={name: [f(name) for f in fs] for name, fs in edits.insert_before.items()},
            after={name: [f(name) for f in fs] for name, fs in edits.insert_after.items()},
        )

    def all(self) -> list[keras.layers.Layer]:
        return [x for table in (self.before, self.after) for v in table.values() for x in v]


def _sequential_input(model: keras.Sequential) -> keras.KerasTensor | None:
    """A fresh input like the one ``model`` was started or built with (``None`` if unbuilt)."""
    input_layer = sequential_input_layer(model)
    if input_layer is not None:
        return _fresh_input(input_layer)
    if not model.built:
        return None
    first = model.inputs[0]
    return keras.Input(batch_shape=tuple(first.shape), dtype=first.dtype)


def _rebuild_sequential(model: keras.Sequential, edits: Edits, inserted: _Inserted) -> keras.Model:
    inputs = _sequential_input(model)
    needs_functional = bool(edits.output_hooks)
    if inputs is None and (needs_functional or edits.append):
        raise ValueError(
            f"Model {model.name!r} is a Sequential model that is not built; it needs a "
            "known input shape for this edit. Start it with `keras.Input(shape)` or "
            "call `model.build(input_shape)` first."
        )
    new_layers: list[keras.layers.Layer] = []
    for layer in model.layers:
        new_layers.extend(inserted.before.get(layer.name, []))
        new_layers.append(edits.clone(layer))
        new_layers.extend(inserted.after.get(layer.name, []))
    last = model.layers[-1].name if model.layers else "input"
    appended = [factory(last) for factory in edits.append]
    _check_names(model, [*inserted.all(), *appended])
    new_layers.extend(appended)
    if not needs_functional:
        head = [] if inputs is None else [inputs]
        return keras.Sequential(head + new_layers, name=model.name, trainable=model.trainable)
    produced: dict[str, keras.KerasTensor] = {}
    x = inputs
    for layer in new_layers:
        x = layer(x)
        produced.setdefault(layer.name, x)
    outputs = [x]
    for hook in edits.output_hooks:
        outputs = hook(outputs, produced)
    return _functional_model(model, inputs, outputs[0])


def _functional_model(model: keras.Model, inputs: Any, outputs: Any) -> keras.Model:
    new_model = keras.Model(inputs, outputs, name=model.name)
    if not model.trainable:  # setting True would unfreeze every layer
        new_model.trainable = False
    return new_model


def _replay(
    model: keras.Model, edits: Edits, inserted: _Inserted
) -> tuple[keras.Model, dict[str, keras.KerasTensor]]:
    """Replay ``model``'s graph on fresh inputs with cloned layers and inserted layers."""
    produced: dict[str, keras.KerasTensor] = {}

    def call_function(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        before = inserted.before.get(layer.name)
        if before:
            args = (_apply_all(before, args[0]), *args[1:])
        out = layer(*args, **kwargs)
        produced.setdefault(layer.name, out)
        return _apply_all(inserted.after.get(layer.name, []), out)

    # Fresh inputs named like the original input layers (clone_model would name
    # them after the symbolic tensors, which breaks dict inputs keyed by name).
    def fresh_input(tensor: keras.KerasTensor) -> keras.KerasTensor:
        return _fresh_input(producing_layer(tensor))  # type: ignore[arg-type]

    clone = keras.models.clone_model(
        model,
        input_tensors=keras.tree.map_structure(fresh_input, model.input),
        clone_function=edits.clone,
        call_function=call_function,
    )
    return clone, produced


def _rebuild_functional(model: keras.Model, edits: Edits, inserted: _Inserted) -> keras.Model:
    clone, produced = _replay(model, edits, inserted)
    flat = list(keras.tree.flatten(clone.output))
    appended: list[keras.layers.Layer] = []
    for i, tensor in enumerate(flat):
        owner = producing_layer(tensor).name  # type: ignore[union-attr]
        for factory in edits.append:
            layer = factory(owner)
            appended.append(layer)
            tensor = layer(tensor)
        flat[i] = tensor
    _check_names(model, [*inserted.all(), *appended])
    for hook in edits.output_hooks:
        flat = hook(flat, produced)
    outputs = keras.tree.pack_sequence_as(clone.output, flat)
    return _functional_model(model, clone.input, outputs)


def copy_weights(
    source: keras.Model, target: keras.Model, *, same_shape_only: bool = False
) -> None:
    """Copy the weights of every layer of ``source`` to the same-named layer of ``target``.

    With ``same_shape_only``, a layer whose weights differ in shape (a resized layer,
    or one reading a resized layer) keeps the weights it has.
    """
    for layer in source.layers:
        if not layer.weights:
            continue
        new = target.get_layer(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        if same_shape_only and shapes != [tuple(w.shape) for w in new.weights]:
            continue
        new.set_weights(layer.get_weights())


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
    check_model("model", model)
    inserted = _Inserted.make(model, edits)
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
