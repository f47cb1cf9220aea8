"""Coupled channel groups: layers whose output channels merges tie together.

Channel ``c`` of every input of an ``Add`` (``Subtract``, ``Multiply``, ``Average``,
``Maximum``, ``Minimum``) and of its output is one channel: it can only go from all of
them. Following merges and the layers that keep channels in place (activations, batch
normalization, pooling, dropout, zero padding, ...) from tensor to tensor gives the
group; its *members* are the layers (or model inputs) that make those tensors, e.g. the
stem convolution and the last convolution of every residual block of a ResNet stage.

These groups name, in trim's report, the layers a channel is tied to
(``LayerTrim.coupled`` / ``coupled_through``); trim's channel analysis itself
(``._channels``) enforces the coupling. ``._groups.channel_groups`` is the
public view of the same ties used to narrow a model (by producer, with readers and
what blocks narrowing).
"""

from __future__ import annotations

from dataclasses import dataclass

from regsearch.trimming._graph import ModelGraph
from regsearch.trimming._kinds import SAME_CHANNEL_KINDS, Kinds, LayerKind


@dataclass(frozen=True)
class Group:
    """One coupled channel group.

    Attributes:
        members: ``(name, id(output tensor))`` of each layer or model input that makes
            the group's channels, in execution order.
        merges: names of the merge layers that tie them, in execution order.
        merge_inputs: for each member (same order), ``id`` of the tensors through which
            its channels enter merges (after its batch norms, activations, ...): a
            channel is live there unless it is constant there, e.g. after a zero gamma.
    """

    members: tuple[tuple[str, int], ...]
    merges: tuple[str, ...]
    merge_inputs: tuple[tuple[int, ...], ...] = ()

    def others(self, name: str) -> tuple[str, ...]:
        """The members other than ``name``."""
        return tuple(member for member, _ in self.members if member != name)


def coupled_groups(graph: ModelGraph, kinds: Kinds) -> dict[int, Group]:
    """Map ``id(tensor)`` of each member's output to its group (groups with a merge only)."""
    parent: dict[int, int] = {}

    def find(key: int) -> int:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    members: list[tuple[str, int]] = [(t.name, id(t)) for t in graph.inputs]
    merges: list[tuple[str, int]] = []
    readers: dict[int, list[tuple[list[int], LayerKind]]] = {}
    for node, (kind, _) in zip(graph.nodes, kinds, strict=True):
        for t in node.inputs:
            readers.setdefault(id(t), []).append(([id(o) for o in node.outputs], kind))
        if kind in SAME_CHANNEL_KINDS:
            tensors = [id(t) for t in (*node.inputs, *node.outputs)]
            for key in tensors[1:]:
                parent[find(key)] = find(tensors[0])
            if kind == LayerKind.MERGE:
                merges.append((node.layer.name, id(node.outputs[0])))
        else:
            members.extend((node.layer.name, id(t)) for t in node.outputs)

    by_root: dict[int, tuple[list[tuple[str, int]], list[str]]] = {}
    for name, key in merges:
        entry = by_root.setdefault(find(key), ([], []))
        if name not in entry[1]:
            entry[1].append(name)
    groups: dict[int, Group] = {}
    for root, (found, merge_names) in by_root.items():
        for name, key in members:
            if find(key) == root and all(name != other for other, _ in found):
                found.append((name, key))
        entries = tuple(_merge_inputs(key, readers) for _, key in found)
        group = Group(members=tuple(found), merges=tuple(merge_names), merge_inputs=entries)
        for _, key in found:
            groups[key] = group
    return groups


def _merge_inputs(
    key: int, readers: dict[int, list[tuple[list[int], LayerKind]]]
) -> tuple[int, ...]:
    """The tensors, from tensor ``key`` on through same-channel layers, that merges read."""
    found: list[int] = []
    pending, seen = [key], set()
    while pending:
        tensor = pending.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        for outputs, kind in readers.get(tensor, []):
            if kind == LayerKind.MERGE:
                found.append(tensor)
            elif kind in SAME_CHANNEL_KINDS:
                pending.extend(outputs)
    return tuple(dict.fromkeys(found))
