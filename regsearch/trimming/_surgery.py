"""Model surgery: build the smaller model that a weight analysis describes.

Every layer trim understands is rebuilt from its Keras config (with regularizers and
constraints dropped, so the result needs nothing but Keras), smaller where the
analysis says so, and preceded by explicit ``ZeroPadding`` / ``Cropping`` layers when
its padding cannot be expressed as ``valid``, ``same`` or ``causal`` any more. Layers
trim does not understand are rebuilt from their config with their weights unchanged.
"""

from __future__ import annotations

import random
from typing import Any

import keras
import numpy as np

from regsearch.editing import Edits, LayerFactory, channel_following_target, rebuild
from regsearch.trimming._kinds import LayerKind
from regsearch.trimming._records import LayerPlan, LayerTrim, TrimmedSize

L = keras.layers
_PAD = {1: L.ZeroPadding1D, 2: L.ZeroPadding2D, 3: L.ZeroPadding3D}
_CROP = {1: L.Cropping1D, 2: L.Cropping2D, 3: L.Cropping3D}


def _from_config(
    layer: keras.layers.Layer, initializers: dict[str, Any] | None = None, **changes: Any
) -> keras.layers.Layer:
    """A copy of ``layer`` from its config, without regularizers and constraints.

    With ``initializers`` (a dict to fill), the copy's weights are created with zeros
    and the original initializers are recorded there, to be put back once the real
    weights are set (``_restore_initializers``): random initializers cost a
    compilation per weight shape on JAX, for values that are overwritten anyway.
    """
    config = layer.get_config()
    if type(layer).__module__.startswith("keras."):
        for key in config:
            if key.endswith(("_regularizer", "_constraint")):
                config[key] = None
    config.update(changes)
    if initializers is not None:
        for key, value in config.items():
            if key.endswith("_initializer") and value is not None:
                initializers[key] = value
                config[key] = "zeros"
    return type(layer).from_config(config)


def _restore_initializers(layer: keras.layers.Layer, initializers: dict[str, Any]) -> None:
    for key, value in initializers.items():
        setattr(layer, key, keras.initializers.get(value))


def _spatial_layer(
    table: dict[int, type[keras.layers.Layer]], amounts: tuple[tuple[int, int], ...], **kw: Any
) -> keras.layers.Layer:
    rank = len(amounts)
    arg = "padding" if table is _PAD else "cropping"
    value: Any = amounts[0] if rank == 1 else amounts
    if rank == 1 and table is _CROP:
        kw.pop("data_format", None)
    return table[rank](**{arg: value}, **kw)


class _Rebuilt:
    """The new layers standing for one original layer, and their weights."""

    def __init__(self, layer: keras.layers.Layer, entry: LayerTrim) -> None:
        self.pre: list[keras.layers.Layer] = []  # padding / cropping layers applied first
        self.weights: list[np.ndarray] | None = None
        # The initializers of the stock layers whose weights are set after the rebuild.
        self.initializers: dict[str, Any] = {}
        plan = entry.plan
        kind = plan.kind
        if kind in (LayerKind.CONV, LayerKind.DEPTHWISE, LayerKind.SEPARABLE):
            self.main = self._conv(layer, plan)
        elif kind == LayerKind.DENSE:
            self.main = self._dense(layer, plan)
        elif kind == LayerKind.CHANNELWISE:
            self.main = _from_config(layer, self.initializers)
            weights = layer.get_weights()
            if plan.kernels:  # the snapped gamma, the first weight of a scaled BN
                weights[0] = plan.kernels[0]
            if plan.mean_shift is not None:
                # Exact where gamma is 0 too: such a channel outputs beta whatever its mean.
                i = [v.name for v in layer.weights].index("moving_mean")
                weights[i] = (weights[i] - plan.mean_shift).astype(weights[i].dtype)
            self.weights = [w[..., plan.kept_out] for w in weights]
        elif kind == LayerKind.OPAQUE:
            try:
                self.main = _from_config(layer)
                self.weights = layer.get_weights()
            except Exception:
                self.main = layer  # reuse it as it is: it is kept unchanged anyway
        elif kind == LayerKind.IDENTITY and isinstance(layer, L.Reshape):
            # it keeps the channels last (``classify``): as many as are left
            shapes = tuple(layer.input.shape), tuple(layer.output.shape)
            target = channel_following_target(layer.target_shape, *shapes)
            self.main = _from_config(layer, target_shape=target)
        else:
            self.main = _from_config(layer)

    def _bias(self, layer: keras.layers.Layer, plan: LayerPlan) -> np.ndarray | None:
        """The kept bias plus the folded constants; a new bias if the layer had none."""
        if layer.use_bias:
            bias = layer.get_weights()[-1]
            if plan.bias_fold is not None:
                bias = (bias + plan.bias_fold).astype(bias.dtype)
        elif plan.bias_fold is not None:
            bias = plan.bias_fold.astype(plan.kernels[0].dtype)
        else:
            return None
        return bias if plan.kept_out is None else bias[plan.kept_out]

    def _dense(self, layer: keras.layers.Layer, plan: LayerPlan) -> keras.layers.Layer:
        kernel = plan.kernels[0][plan.kept_in][:, plan.kept_out]
        bias = self._bias(layer, plan)
        self.weights = [kernel] if bias is None else [kernel, bias]
        units = int(kernel.shape[-1])
        return _from_config(layer, self.initializers, units=units, use_bias=bias is not None)

    def _conv(self, layer: keras.layers.Layer, plan: LayerPlan) -> keras.layers.Layer:
        window = tuple(slice(a, a + k) for a, k in zip(plan.start, plan.kernel_size, strict=True))
        kernel = plan.kernels[0][window]
        if plan.kept_in is not None:
            kernel = kernel[..., plan.kept_in, :]
            if plan.kind == LayerKind.CONV and plan.kept_out is not None:
                kernel = kernel[..., plan.kept_out]
        changes: dict[str, Any] = {
            "kernel_size": plan.kernel_size,
            "padding": plan.padding,
        }
        weights = [kernel]
        if plan.kind == LayerKind.CONV:
            changes["filters"] = int(kernel.shape[-1])
        elif plan.kind == LayerKind.SEPARABLE:
            pointwise = plan.kernels[1]
            if plan.kept_in is not None and plan.kept_out is not None:
                # Input channel c feeds the pointwise rows c * m .. c * m + m - 1.
                m = int(plan.kernels[0].shape[-1])
                rows = (plan.kept_in[:, None] * m + np.arange(m)).reshape(-1)
                pointwise = pointwise[..., rows, :][..., plan.kept_out]
            weights.append(pointwise)
            changes["filters"] = int(pointwise.shape[-1])
        bias = self._bias(layer, plan)
        if bias is not None:
            weights.append(bias)
        changes["use_bias"] = bias is not None
        self.weights = weights
        fmt = {"data_format": layer.data_format}
        if any(p != (0, 0) for p in plan.pad):
            self.pre.append(_spatial_layer(_PAD, plan.pad, name=f"{layer.name}_pad", **fmt))
        if any(c != (0, 0) for c in plan.crop):
            self.pre.append(_spatial_layer(_CROP, plan.crop, name=f"{layer.name}_crop", **fmt))
        return _from_config(layer, self.initializers, **changes)


def _reuse(layer: keras.layers.Layer) -> LayerFactory:
    return lambda _name: layer


def build(size: TrimmedSize) -> keras.Model:
    """Build the trimmed model described by ``size`` (the result of ``analyze``).

    The graph is replayed by ``regsearch.editing.rebuild``, the one mechanism
    that edits models: each layer is replaced by its trimmed copy, padding and
    cropping layers go before it, and the trimmed weights are set afterwards.

    Python's global random state is left as it was: the new layers draw their
    initializers' seeds from it (Keras's ``make_default_seed``), and a search that
    trims at every epoch end would otherwise initialize its next trials
    differently from one that does not (``Objective(size="latency")`` against
    ``size="macs"`` with the same seed).
    """
    state = random.getstate()
    try:
        return _build(size)
    finally:
        random.setstate(state)


def _build(size: TrimmedSize) -> keras.Model:
    rebuilt: dict[int, _Rebuilt] = {}
    entries = iter(size.layers)
    for node in size.graph.nodes:
        if id(node.layer) not in rebuilt:
            rebuilt[id(node.layer)] = _Rebuilt(node.layer, next(entries))
    edits = Edits(
        clone=lambda layer: rebuilt[id(layer)].main,
        insert_before={
            item.main.name: [_reuse(pre) for pre in item.pre]
            for item in rebuilt.values()
            if item.pre
        },
    )
    new = rebuild(size.graph.model, edits, keep_weights=False)
    for item in rebuilt.values():
        if item.weights is not None:
            item.main.set_weights(item.weights)
        _restore_initializers(item.main, item.initializers)
    return new
