"""Model surgery: build the smaller model that a weight analysis describes.

Every layer trim understands is rebuilt from its Keras config (with regularizers and
constraints dropped, so the result needs nothing but Keras), smaller where the
analysis says so, and preceded by explicit ``ZeroPadding`` / ``Cropping`` layers when
its padding cannot be expressed as ``valid``, ``same`` or ``causal`` any more. Layers
trim does not understand are rebuilt from their config with their weights unchanged.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from regsearch._compat.keras import producing_layer
from regsearch.trimming._analysis import LayerPlan, LayerTrim, TrimmedSize

L = keras.layers
_PAD = {1: L.ZeroPadding1D, 2: L.ZeroPadding2D, 3: L.ZeroPadding3D}
_CROP = {1: L.Cropping1D, 2: L.Cropping2D, 3: L.Cropping3D}


def _from_config(layer: Any, **changes: Any) -> Any:
    config = layer.get_config()
    if type(layer).__module__.startswith("keras."):
        for key in config:
            if key.endswith(("_regularizer", "_constraint")):
                config[key] = None
    config.update(changes)
    return type(layer).from_config(config)


def _spatial_layer(table: dict[int, type], amounts: tuple[tuple[int, int], ...], **kw: Any):
    rank = len(amounts)
    arg = "padding" if table is _PAD else "cropping"
    value: Any = amounts[0] if rank == 1 else amounts
    if rank == 1 and table is _CROP:
        kw.pop("data_format", None)
    return table[rank](**{arg: value}, **kw)


class _Rebuilt:
    """The new layers standing for one original layer, and their weights."""

    def __init__(self, layer: Any, entry: LayerTrim) -> None:
        self.pre: list[Any] = []  # padding / cropping layers applied first
        self.weights: list[np.ndarray] | None = None
        plan = entry.plan
        kind = plan.kind
        if kind in ("conv", "depthwise", "separable"):
            self.main = self._conv(layer, plan)
        elif kind == "dense":
            self.main = self._dense(layer, plan)
        elif kind == "channelwise":
            self.main = _from_config(layer)
            kept = plan.kept_out
            self.weights = [w[..., kept] for w in layer.get_weights()]
        elif kind == "opaque":
            try:
                self.main = _from_config(layer)
                self.weights = layer.get_weights()
            except Exception:
                self.main = layer  # reuse it as it is: it is kept unchanged anyway
        else:
            self.main = _from_config(layer)

    def _bias(self, layer: Any, plan: LayerPlan) -> np.ndarray | None:
        if not layer.use_bias:
            return None
        bias = layer.get_weights()[-1]
        if plan.bias_fold is not None:
            bias = (bias + plan.bias_fold).astype(bias.dtype)
        return bias if plan.kept_out is None else bias[plan.kept_out]

    def _dense(self, layer: Any, plan: LayerPlan) -> Any:
        kernel = plan.kernels[0][plan.kept_in][:, plan.kept_out]
        bias = self._bias(layer, plan)
        self.weights = [kernel] if bias is None else [kernel, bias]
        return _from_config(layer, units=int(kernel.shape[-1]))

    def _conv(self, layer: Any, plan: LayerPlan) -> Any:
        window = tuple(slice(a, a + k) for a, k in zip(plan.start, plan.kernel_size, strict=True))
        kernel = plan.kernels[0][window]
        if plan.kept_in is not None and plan.kept_out is not None:
            kernel = kernel[..., plan.kept_in, :][..., plan.kept_out]
        changes: dict[str, Any] = {
            "kernel_size": plan.kernel_size,
            "padding": plan.padding,
        }
        weights = [kernel]
        if plan.kind == "conv":
            changes["filters"] = int(kernel.shape[-1])
        elif plan.kind == "separable":
            weights.append(layer.get_weights()[1])
        bias = self._bias(layer, plan)
        if bias is not None:
            weights.append(bias)
        self.weights = weights
        fmt = {"data_format": layer.data_format}
        if any(p != (0, 0) for p in plan.pad):
            self.pre.append(_spatial_layer(_PAD, plan.pad, name=f"{layer.name}_pad", **fmt))
        if any(c != (0, 0) for c in plan.crop):
            self.pre.append(_spatial_layer(_CROP, plan.crop, name=f"{layer.name}_crop", **fmt))
        return _from_config(layer, **changes)

    def layers(self) -> list[Any]:
        return [*self.pre, self.main]


def build(size: TrimmedSize) -> keras.Model:
    """Build the trimmed model described by ``size`` (the result of ``analyze``)."""
    graph = size.graph
    model = graph.model
    rebuilt: dict[int, _Rebuilt] = {}
    entries = iter(size.layers)
    for node in graph.nodes:
        if id(node.layer) not in rebuilt:
            rebuilt[id(node.layer)] = _Rebuilt(node.layer, next(entries))

    if isinstance(model, keras.Sequential):
        layers = [layer for node in graph.nodes for layer in rebuilt[id(node.layer)].layers()]
        first = graph.inputs[0]
        new = keras.Sequential(
            [keras.Input(batch_shape=tuple(first.shape), dtype=first.dtype), *layers],
            name=model.name,
        )
    else:
        new = _functional(graph, rebuilt)
    for item in rebuilt.values():
        if item.weights is not None:
            item.main.set_weights(item.weights)
    return new


def _functional(graph: Any, rebuilt: dict[int, _Rebuilt]) -> keras.Model:
    model = graph.model
    tensors: dict[int, Any] = {}
    new_inputs = []
    for t in graph.inputs:
        x = keras.Input(
            batch_shape=tuple(t.shape),
            dtype=t.dtype,
            sparse=getattr(t, "sparse", False),
            name=producing_layer(t).name,  # type: ignore[union-attr]
        )
        tensors[id(t)] = x
        new_inputs.append(x)
    for node in graph.nodes:
        item = rebuilt[id(node.layer)]
        # Replay the original call (positional/keyword structure, e.g. a list for
        # Add or `initial_state=` for an RNN) on the new tensors, like
        # keras.models.clone_model does.
        args, kwargs = node.keras_node.arguments.fill_in(tensors)
        if item.pre:
            x = args[0]
            for layer in item.pre:
                x = layer(x)
            args = (x, *args[1:])
        outputs = item.main(*args, **kwargs)
        for old, new in zip(node.outputs, keras.tree.flatten(outputs), strict=True):
            tensors[id(old)] = new
    # Keep the user's input/output structure (single tensor, list or dict).
    inputs = keras.tree.pack_sequence_as(model.input, new_inputs)
    outputs = keras.tree.pack_sequence_as(model.output, [tensors[id(t)] for t in graph.outputs])
    return keras.Model(inputs=inputs, outputs=outputs, name=model.name)
