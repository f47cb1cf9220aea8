"""Which layers a search can narrow without breaking the model."""

from __future__ import annotations

import keras

from regsearch.trimming._graph import GraphNode, ModelGraph, model_graph
from regsearch.trimming._kinds import classify

# Layer kinds (trim's classification) that read any number of input channels:
# rebuilt for a narrower input, they absorb the change.
_ABSORB = {"dense", "conv", "separable"}
# Kinds whose output has the channels of their input: the change passes through.
_PASS = {"identity", "zeropad", "activation", "channelwise", "flatten", "concat", "depthwise"}


def _readers(graph: ModelGraph) -> dict[int, list[GraphNode]]:
    readers: dict[int, list[GraphNode]] = {}
    for node in graph.nodes:
        for tensor in node.inputs:
            readers.setdefault(id(tensor), []).append(node)
    return readers


def _width_is_free(node: GraphNode, graph: ModelGraph, readers: dict[int, list[GraphNode]]) -> bool:
    """Whether every path from ``node``'s output meets a layer that absorbs a new width
    before a merge, a model output or a layer whose shape it would break."""
    outputs = {id(t) for t in graph.outputs}
    pending = list(node.outputs)
    seen: set[int] = set()
    while pending:
        tensor = pending.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if id(tensor) in outputs:
            return False
        for reader in readers.get(id(tensor), []):
            kind, _ = classify(reader, graph)
            if kind in _PASS:
                pending.extend(reader.outputs)
            elif kind not in _ABSORB:
                return False  # a merge, a reshape, a layer trim does not understand
    return True


def narrowable_layers(model: keras.Model) -> set[str]:
    """Names of the layers of ``model`` whose width a search can change.

    A layer qualifies when it has ``filters`` or ``units``, is called once, and
    each path from its output reaches a Dense or convolution (rebuilt for the new
    width) through channel-wise layers only: not a residual ``Add`` or other merge
    that needs equal widths, not a model output, not a ``Reshape``.
    """
    graph = model_graph(model)
    readers = _readers(graph)
    return {
        node.layer.name
        for node in graph.nodes
        if classify(node, graph)[0] in _ABSORB and _width_is_free(node, graph, readers)
    }
