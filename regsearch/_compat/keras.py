"""Private Keras names: the layer graph of a model and the layer being called."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import keras
from keras.src.backend.common import global_state
from keras.src.models.functional import Functional


def is_functional(model: keras.Model) -> bool:
    """Whether ``model`` is a functional model (built with ``keras.Model(inputs, outputs)``).

    Keras exports no name for its functional model class (``keras.Model(...)``
    returns an instance of the private ``Functional``); ``clone_model`` tests it too.
    """
    return isinstance(model, Functional)


def producing_layer(tensor: keras.KerasTensor) -> keras.layers.Layer | None:
    """The layer whose call produced the symbolic ``tensor`` (``None`` if none did).

    Keras keeps it only in the tensor's private ``_keras_history``;
    ``model.output_names`` names the output layers of functional models only.
    """
    history = getattr(tensor, "_keras_history", None)
    return history[0] if history else None


def sequential_input_layer(model: keras.Sequential) -> keras.layers.InputLayer | None:
    """The ``InputLayer`` a ``Sequential`` model was started with, if any.

    ``Sequential.layers`` hides it; the model keeps it in its private ``_layers``.
    """
    layers = model._layers
    first = layers[0] if layers else None
    return first if isinstance(first, keras.layers.InputLayer) else None


def functional_graph(model: keras.Model) -> keras.Model | None:
    """The functional model holding ``model``'s layer graph, or ``None`` if it has none.

    A built ``Sequential`` model traces itself into a private ``_functional``
    model; a functional model is its own graph; a subclassed model has none.
    """
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    return model if is_functional(model) else None


def nodes_by_depth(functional: keras.Model) -> dict[int, list[Any]]:
    """``{depth: [keras node, ...]}`` of a functional model (inputs at the largest depth).

    Keras exposes no public graph walker; ``Function._run_through_graph`` walks
    this private mapping from the largest depth down.
    """
    return dict(functional._nodes_by_depth)


def current_layer_call() -> keras.layers.Layer | None:
    """The layer whose ``__call__`` is running (the innermost Keras name scope's caller).

    Keras opens ``name_scope(layer.name, caller=layer)`` around a layer's call and
    its activity regularization; there is no public accessor for that stack.
    """
    stack = global_state.get_global_attribute("name_scope_stack") or []
    for scope in reversed(stack):
        if isinstance(scope.caller, keras.layers.Layer):
            return scope.caller
    return None


def scalar_operand_call(node: Any) -> Callable[[Any], Any] | None:
    """Replay a graph node's operation on a new value of its one symbolic input.

    For an operation applied to one ``KerasTensor`` and Python numbers only (e.g.
    ``x + 3.0`` or ``x * (1 / 6)`` in a functional model, which Keras records as
    ``keras.ops`` nodes rather than layers), returns ``f`` with ``f(value)`` equal to
    the operation applied to ``value`` in place of the tensor; ``None`` for any
    other node. Keras keeps the recorded arguments in the node's private
    ``arguments`` (``Function._run_through_graph`` replays them the same way).
    """
    arguments = getattr(node, "arguments", None)
    if arguments is None or len(arguments.keras_tensors) != 1:
        return None
    (tensor,) = arguments.keras_tensors
    constants = [
        x
        for x in keras.tree.flatten((arguments.args, arguments.kwargs))
        if not isinstance(x, keras.KerasTensor)
    ]
    if not all(isinstance(x, numbers.Number) and not isinstance(x, bool) for x in constants):
        return None
    operation = node.operation

    def call(value: Any) -> Any:
        args, kwargs = arguments.fill_in({id(tensor): value})
        return operation(*args, **kwargs)

    return call


def run_through_graph(functional: keras.Model, inputs: Any, call: Callable[..., Any]) -> Any:
    """``functional``'s outputs for symbolic ``inputs``, each layer applied by ``call``.

    ``call(layer, *args, **kwargs)`` receives each layer call's own arguments (e.g.
    ``training=False``); ``clone_model(call_function=...)`` reaches the same walk but
    always builds a model of it, and a nested model's walk must end in tensors.
    """
    return functional._run_through_graph(inputs, operation_fn=lambda layer: layer, call_fn=call)
