"""``narrow``: a narrower copy of a trained model that keeps the weights that matter.

The channels a group loses are the ones with the smallest weights over the whole
group. They are emptied in a copy of the model (kernel slices, biases,
BatchNormalization scales and offsets, depthwise filters) so that they output exactly
0, taps outside the centre of a capped kernel are set to 0 likewise, and ``trim``
then removes what is empty: the rest of the model keeps its trained weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from regsearch._validation import check_float
from regsearch.editing import kernel_size_cap, resolve_mapping
from regsearch.trimming._analysis import analyze
from regsearch.trimming._groups import ChannelGroup, channel_groups
from regsearch.trimming._surgery import build

_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)


def _copy(model: keras.Model) -> keras.Model:
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _output_kernel(layer: keras.layers.Layer) -> keras.Variable:
    return layer.pointwise_kernel if isinstance(layer, _SEPARABLE) else layer.kernel


def _normalized(values: np.ndarray) -> np.ndarray:
    mean = float(values.mean())
    return values / mean if mean > 0 else values


def channel_importance(model: keras.Model, group: ChannelGroup) -> np.ndarray:
    """Each channel's weight over the whole group (larger matters more).

    The sum over the group's producers of each output channel's squared kernel norm,
    and over its BatchNormalization layers of the squared scale, each layer's share
    normalized by its mean so that every member counts alike.
    """
    total = np.zeros(group.channels)
    for name in group.producers:
        kernel = keras.ops.convert_to_numpy(_output_kernel(model.get_layer(name)))
        total += _normalized(np.square(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0))
    for name, offset in group.members:
        layer = model.get_layer(name)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.scale:
            gamma = keras.ops.convert_to_numpy(layer.gamma)[offset : offset + group.channels]
            total += _normalized(np.square(gamma))
    return total


def _zero(variable: keras.Variable, index: Any) -> None:
    values = keras.ops.convert_to_numpy(variable).copy()
    values[index] = 0
    variable.assign(values)


def _empty_channels(model: keras.Model, group: ChannelGroup, drop: np.ndarray) -> None:
    """Make channels ``drop`` of ``group`` output exactly 0 everywhere."""
    for name in group.producers:
        layer = model.get_layer(name)
        _zero(_output_kernel(layer), (..., drop))
        if layer.use_bias:
            _zero(layer.bias, drop)
    for name, offset in group.members:
        layer, shifted = model.get_layer(name), drop + offset
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in (layer.gamma, layer.beta, layer.moving_mean):
                if variable is not None:
                    _zero(variable, shifted)
        elif isinstance(layer, _DEPTHWISE):
            _zero(layer.kernel, (..., shifted, slice(None)))
            if layer.use_bias:
                _zero(layer.bias, shifted)


def _cap_kernel(layer: keras.layers.Layer, size: int) -> None:
    """Set the taps outside the centred ``size``-long window of each spatial axis to 0."""
    variable = layer.depthwise_kernel if isinstance(layer, _SEPARABLE) else layer.kernel
    kernel = keras.ops.convert_to_numpy(variable)
    spatial = kernel.ndim - 2
    mask = np.zeros(kernel.shape, dtype=bool)
    window = []
    for axis in range(spatial):
        length = kernel.shape[axis]
        start = (length - min(size, length)) // 2
        window.append(slice(start, start + min(size, length)))
    mask[tuple(window)] = True
    variable.assign(np.where(mask, kernel, 0).astype(kernel.dtype))


def _group_widths(
    model: keras.Model, width: Mapping[Any, float] | None
) -> list[tuple[ChannelGroup, int]]:
    resolved = resolve_mapping(model, width, argument="width")
    if not resolved:
        return []
    by_producer = {name: g for g in channel_groups(model) for name in g.producers}
    chosen: dict[str, tuple[ChannelGroup, float]] = {}
    for name, factor in resolved.items():
        factor = check_float(f"width[{name!r}]", factor, exclusive_minimum=True)
        group = by_producer.get(name)
        if group is None:
            raise ValueError(
                f"Argument `width`: layer {name!r} ({type(model.get_layer(name)).__name__}) "
                "produces no channels to narrow; width applies to Conv, SeparableConv and "
                f"Dense layers: {sorted(by_producer)}."
            )
        if group.blocked:
            raise ValueError(
                f"Argument `width`: layer {name!r} cannot be narrowed: {group.blocked}."
            )
        previous = chosen.get(group.name)
        if previous is not None and previous[1] != factor:
            raise ValueError(
                f"Argument `width`: layers {list(group.producers)} share their channels "
                f"(coupled through a merge) and must be narrowed alike; received "
                f"{previous[1]!r} and {factor!r}."
            )
        chosen[group.name] = (group, factor)
    return [(g, max(1, round(g.channels * f))) for g, f in chosen.values() if f < 1]


def narrow(
    model: keras.Model,
    *,
    width: Mapping[Any, float] | None = None,
    kernel_size: Mapping[Any, int] | None = None,
) -> keras.Model:
    """A narrower copy of a trained ``model`` that keeps its most important weights.

    Each coupled channel group (see ``channel_groups``) named in ``width``
    keeps ``round(channels x factor)`` channels (at least 1): those with the largest
    weights over the whole group (``channel_importance``), with their trained
    weights, and the matching input rows of every layer that reads them. Each
    convolution named in ``kernel_size`` keeps the centre taps of its kernel, at most
    ``kernel_size`` per spatial axis. The rest of the model keeps its weights, so at
    ``width`` 1 and no ``kernel_size`` the copy predicts exactly what ``model`` does.

    The narrowed layers are rebuilt from stock Keras layers by ``trim``, without
    their regularizers and constraints. A dropped channel whose activation does not
    map 0 to 0 (e.g. ``sigmoid``) outputs a constant; trim keeps it where it cannot
    fold that constant exactly.

    Args:
        model: a built Sequential or functional model. It is not changed.
        width: ``{pattern: factor}`` over producer layer names; every producer of a
            coupled group gets the same factor (naming one narrows the group).
        kernel_size: ``{pattern: size}`` over Conv, DepthwiseConv and SeparableConv
            layers.

    Returns:
        A new model.

    Examples:
        >>> import keras, numpy as np
        >>> from regsearch.trimming import narrow
        >>> model = keras.Sequential([
        ...     keras.Input((8, 1)),
        ...     keras.layers.Conv1D(8, 5, padding="same", activation="relu", name="conv"),
        ...     keras.layers.Flatten(),
        ...     keras.layers.Dense(2, name="head"),
        ... ])
        >>> small = narrow(model, width={"conv": 0.5}, kernel_size={"conv": 3})
        >>> tuple(small.get_layer("conv").kernel.shape)
        (3, 1, 4)
    """
    return Narrower(model)(width=width, kernel_size=kernel_size)


class Narrower:
    """``narrow`` for many calls on one model, reusing one working copy of it.

    ``narrow`` empties the dropped channels in a copy of the model before it rebuilds
    the narrower one, and cloning a large model costs more than the rest of the
    call. A ``Narrower`` clones ``model`` once and, on later calls, sets the copy's
    weights to ``model``'s weights then (so it follows changes to them). Each call
    returns a new model, as ``narrow`` does; ``model`` is never changed.

    Args:
        model: a built Sequential or functional model.

    Examples:
        >>> import keras
        >>> from regsearch.trimming import Narrower
        >>> model = keras.Sequential([
        ...     keras.Input((8, 1)),
        ...     keras.layers.Conv1D(8, 3, activation="relu", name="conv"),
        ...     keras.layers.Flatten(),
        ...     keras.layers.Dense(2, name="head"),
        ... ])
        >>> narrower = Narrower(model)
        >>> [int(narrower(width={"conv": w}).get_layer("conv").kernel.shape[-1])
        ...  for w in (0.5, 0.25)]
        [4, 2]
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self._work: keras.Model | None = None

    def __call__(
        self,
        *,
        width: Mapping[Any, float] | None = None,
        kernel_size: Mapping[Any, int] | None = None,
    ) -> keras.Model:
        """``narrow(model, width=width, kernel_size=kernel_size)``."""
        plans = _group_widths(self.model, width)
        caps = resolve_mapping(self.model, kernel_size, argument="kernel_size")
        if not plans and not caps:
            return _copy(self.model)
        work = self._working_copy()
        for group, keep in plans:
            order = np.argsort(-channel_importance(work, group), kind="stable")
            _empty_channels(work, group, np.sort(order[keep:]))
        for name, size in caps.items():
            _cap_kernel(*kernel_size_cap(work, name, size))
        return build(analyze(work, 0.0))

    def _working_copy(self) -> keras.Model:
        """The copy to empty channels in, with ``model``'s weights as they are now."""
        if self._work is None:
            self._work = _copy(self.model)
        else:
            self._work.set_weights(self.model.get_weights())
        return self._work
