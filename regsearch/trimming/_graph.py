"""The call graph of a Sequential or functional Keras model, in execution order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from regsearch._compat.keras import functional_graph, nodes_by_depth, scalar_operand_call
from regsearch._validation import check_model


@dataclass(frozen=True)
class GraphNode:
    """One call of a layer inside the model.

    Attributes:
        layer: the layer that was called.
        inputs: the symbolic tensors it was called on (flattened).
        outputs: the symbolic tensors it returned (flattened).
        replay: for an operation on one tensor and Python numbers (``x + 3.0``),
            the operation applied to a new value of that tensor; else ``None``.
    """

    layer: keras.layers.Layer
    inputs: tuple[keras.KerasTensor, ...]
    outputs: tuple[keras.KerasTensor, ...]
    replay: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class ModelGraph:
    """A model's layer calls in topological order, with its inputs and outputs."""

    model: keras.Model
    nodes: tuple[GraphNode, ...]
    inputs: tuple[keras.KerasTensor, ...]
    outputs: tuple[keras.KerasTensor, ...]
    call_counts: dict[int, int]

    def is_shared(self, layer: keras.layers.Layer) -> bool:
        """Whether ``layer`` is called more than once in this model."""
        return self.call_counts.get(id(layer), 0) > 1


def _built_graph(value: object) -> keras.Model:
    """``value``'s functional graph; a clear error unless it is a built Sequential/functional."""
    model = check_model("model", value)
    functional = functional_graph(model)
    if not model.built or functional is None:
        raise ValueError(
            f"Argument `model` must be a built Sequential or functional model; received "
            f"the unbuilt model {model.name!r}. Build it first, e.g. start it with "
            "`keras.Input(shape=...)` or call `model.build(input_shape)`."
        )
    return functional


def model_graph(model: keras.Model) -> ModelGraph:
    """Extract the layer calls of a built Sequential or functional model."""
    functional = _built_graph(model)
    nodes: list[GraphNode] = []
    counts: dict[int, int] = {}
    by_depth = nodes_by_depth(functional)  # the same walk as Function._run_through_graph
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            layer = node.operation
            counts[id(layer)] = counts.get(id(layer), 0) + 1
            nodes.append(
                GraphNode(
                    layer=layer,
                    inputs=tuple(node.input_tensors),
                    outputs=tuple(node.output_tensors),
                    replay=None
                    if isinstance(layer, keras.layers.Layer)
                    else scalar_operand_call(node),
                )
            )
    return ModelGraph(
        model=model,
        nodes=tuple(nodes),
        inputs=tuple(functional.inputs),
        outputs=tuple(functional.outputs),
        call_counts=counts,
    )
