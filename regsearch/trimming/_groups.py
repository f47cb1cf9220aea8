"""Coupled channel groups: the output channels that must be removed together.

A Conv, SeparableConv or Dense layer *produces* channels. They pass unchanged through
channel-wise layers (BatchNormalization, activations, pooling, dropout, padding,
DepthwiseConv with ``depth_multiplier=1``) until a layer *reads* them (a Conv,
SeparableConv or Dense: it can take fewer input channels). An ``Add``-like merge
(``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``) ties the
channels of its inputs together, so the producers on every side of a merge form one
group: channel ``c`` of a ResNet's residual stream is channel ``c`` of the stem and
of each block's last convolution. A ``Concatenate`` passes each input's channels on
at an offset (its segment), so its inputs stay separate groups.

A group cannot be narrowed when its channels reach a model output, the model's
input, a layer that mixes channels or reshapes them (``LayerNormalization``,
``Reshape``, a custom layer), a merge after a ``Flatten`` or a ``Concatenate``, or a
shared layer; ``ChannelGroup.blocked`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from regsearch.trimming._graph import GraphNode, ModelGraph, model_graph
from regsearch.trimming._kinds import PRODUCER_KINDS, LayerKind, classify

# Kinds a group's channels pass through on their way to the layers that read them.
_PASS = frozenset(
    {
        LayerKind.IDENTITY,
        LayerKind.ZEROPAD,
        LayerKind.ACTIVATION,
        LayerKind.CHANNELWISE,
        LayerKind.DEPTHWISE,
        LayerKind.FLATTEN,
    }
)


@dataclass(frozen=True)
class ChannelGroup:
    """Output channels of several layers that are kept or removed together.

    Attributes:
        producers: the Conv/SeparableConv/Dense layers whose output channels form
            the group, in model order (one layer unless a merge couples several).
        members: ``(layer name, channel offset)`` of each channel-wise layer the
            group passes through (BatchNormalization, DepthwiseConv, merges, ...):
            channel ``c`` of the group is channel ``offset + c`` there.
        readers: the layers that read the group's channels (their input rows).
        channels: the number of channels.
        blocked: ``""`` if the group can be narrowed, else why not.
    """

    producers: tuple[str, ...]
    members: tuple[tuple[str, int], ...]
    readers: tuple[str, ...]
    channels: int
    blocked: str = ""

    @property
    def name(self) -> str:
        """The group's name: its first producer's."""
        return self.producers[0]


class _Walk:
    """Union-find over producer calls, filled by walking the graph from each producer."""

    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self.kinds = {id(node): classify(node, graph)[0] for node in graph.nodes}
        self.maker: dict[int, GraphNode] = {}
        self.readers: dict[int, list[GraphNode]] = {}
        for node in graph.nodes:
            for tensor in node.outputs:
                self.maker[id(tensor)] = node
            for tensor in node.inputs:
                self.readers.setdefault(id(tensor), []).append(node)
        self.outputs = {id(t) for t in graph.outputs}
        self.parent: dict[int, int] = {}
        self.members: dict[int, dict[str, int]] = {}
        self.consumers: dict[int, list[str]] = {}
        self.blocked: dict[int, str] = {}

    def root(self, key: int) -> int:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: int, b: int) -> None:
        self.parent[self.root(a)] = self.root(b)

    def block(self, producer: int, reason: str) -> None:
        self.blocked.setdefault(producer, reason)

    def forward(self, producer: GraphNode) -> None:
        key = id(producer)
        self.root(key)
        if self.graph.is_shared(producer.layer):
            self.block(key, f"{producer.layer.name} is called more than once")
        pending = [(tensor, 0, "") for tensor in producer.outputs]
        while pending:
            tensor, offset, passed = pending.pop()
            if id(tensor) in self.outputs:
                self.block(key, "its channels reach a model output")
            for reader in self.readers.get(id(tensor), []):
                pending.extend(self._follow(key, reader, tensor, offset, passed))

    def _follow(
        self, key: int, reader: GraphNode, tensor: keras.KerasTensor, offset: int, passed: str
    ) -> list[tuple[keras.KerasTensor, int, str]]:
        kind, name = self.kinds[id(reader)], reader.layer.name
        if kind in PRODUCER_KINDS:
            self.consumers.setdefault(key, []).append(name)
            return []
        if kind == LayerKind.DEPTHWISE and getattr(reader.layer, "depth_multiplier", 1) != 1:
            self.block(key, f"{name} has depth_multiplier > 1")
            return []
        is_layer = isinstance(reader.layer, keras.layers.Layer)  # not ``x + 3.0``
        if is_layer and (kind in _PASS or kind in (LayerKind.MERGE, LayerKind.CONCAT)):
            self.members.setdefault(key, {})[name] = offset
        if kind in _PASS:
            passed = passed or ("Flatten" if kind == LayerKind.FLATTEN else "")
            return [(t, offset, passed) for t in reader.outputs]
        if kind == LayerKind.CONCAT:
            position = next(i for i, t in enumerate(reader.inputs) if t is tensor)
            start = sum(int(t.shape[-1]) for t in reader.inputs[:position])
            return [(t, offset + start, passed or "Concatenate") for t in reader.outputs]
        if kind == LayerKind.MERGE:
            if passed:
                self.block(key, f"{name} merges channels after a {passed}")
                return []
            for other in reader.inputs:
                self.backward(key, other)
            return [(t, offset, passed) for t in reader.outputs]
        layer_type = type(reader.layer).__name__
        self.block(key, f"its channels reach {name} ({layer_type}), which mixes or reshapes them")
        return []

    def backward(self, key: int, tensor: keras.KerasTensor) -> None:
        """Union ``key`` with every producer that writes ``tensor``'s channels."""
        node = self.maker.get(id(tensor))
        if node is None:
            self.block(key, "its channels are merged with the model's input")
            return
        kind = self.kinds[id(node)]
        if kind in PRODUCER_KINDS:
            self.union(key, id(node))
        elif kind in _PASS - {LayerKind.FLATTEN} or kind == LayerKind.MERGE:
            for source in node.inputs:
                self.backward(key, source)
        else:
            self.block(key, f"its channels are merged with the output of {node.layer.name}")


def _group(walk: _Walk, producers: list[GraphNode]) -> ChannelGroup:
    members: dict[str, int] = {}
    readers: list[str] = []
    reasons = [walk.blocked[id(p)] for p in producers if id(p) in walk.blocked]
    for producer in producers:
        members.update(walk.members.get(id(producer), {}))
        readers.extend(r for r in walk.consumers.get(id(producer), []) if r not in readers)
    return ChannelGroup(
        producers=tuple(p.layer.name for p in producers),
        members=tuple(members.items()),
        readers=tuple(readers),
        channels=int(producers[0].outputs[0].shape[-1]),
        blocked=reasons[0] if reasons else "",
    )


def channel_groups(model: keras.Model) -> list[ChannelGroup]:
    """The coupled channel groups of ``model``, in the order of their first producer.

    Args:
        model: a built Sequential or functional Keras model. It is not changed.

    Returns:
        One ``ChannelGroup`` per set of coupled producers. Output layers and
        layers whose channels nothing can narrow are there too, with ``blocked`` set.

    Examples:
        >>> import keras
        >>> from regsearch.trimming import channel_groups
        >>> inputs = keras.Input((8, 8, 3))
        >>> stem = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
        >>> branch = keras.layers.Conv2D(8, 3, padding="same", name="branch")(stem)
        >>> merged = keras.layers.Add(name="add")([stem, branch])
        >>> pooled = keras.layers.GlobalAveragePooling2D()(merged)
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(pooled))
        >>> [(g.producers, g.blocked) for g in channel_groups(model)]
        [(('stem', 'branch'), ''), (('head',), 'its channels reach a model output')]
    """
    graph = model_graph(model)
    walk = _Walk(graph)
    producers = [node for node in graph.nodes if walk.kinds[id(node)] in PRODUCER_KINDS]
    for producer in producers:
        walk.forward(producer)
    classes: dict[int, list[GraphNode]] = {}
    for producer in producers:
        classes.setdefault(walk.root(id(producer)), []).append(producer)
    return [_group(walk, members) for members in classes.values()]
