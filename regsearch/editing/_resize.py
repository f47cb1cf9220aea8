"""Resized layers for ``apply``: scaled widths and shortened kernels.

A resize is a change to a layer's constructor arguments (``filters``/``units``,
``kernel_size``) that ``rebuild`` applies when it re-creates the layer from its
config. Keras then builds the layers that read a resized layer for their new input
shape, so a narrower ``conv1`` also gives ``conv2`` fewer input channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from regsearch._validation import check_float, check_int
from regsearch.editing._patterns import output_layers, resolve_mapping

# What a resize plan holds per layer: the constructor arguments to replace.
ResizePlan = dict[str, dict[str, Any]]


def _width_key(config: dict[str, Any]) -> str | None:
    for key in ("filters", "units"):
        if isinstance(config.get(key), int):
            return key
    return None


def has_kernel_size(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` takes a ``kernel_size`` (Conv, DepthwiseConv, SeparableConv)."""
    return isinstance(layer.get_config().get("kernel_size"), (tuple, list))


def kernel_size_cap(model: keras.Model, name: str, size: object) -> tuple[keras.layers.Layer, int]:
    """The layer a ``kernel_size={name: size}`` entry caps, and the size checked.

    Raises:
        TypeError, ValueError: for a size that is not an int >= 1, or a layer without
            a ``kernel_size``.
    """
    size = check_int(f"kernel_size[{name!r}]", size, minimum=1)
    layer = model.get_layer(name)
    if not has_kernel_size(layer):
        raise ValueError(
            f"Argument `kernel_size`: layer {name!r} is a {type(layer).__name__}, which "
            "has no `kernel_size`; it applies to Conv, DepthwiseConv and SeparableConv "
            "layers."
        )
    return layer, size


def _width_plan(model: keras.Model, width: Mapping[Any, float] | None) -> ResizePlan:
    plan: ResizePlan = {}
    resolved = resolve_mapping(model, width, argument="width")
    outputs = output_layers(model) if resolved else set()
    for name, factor in resolved.items():
        factor = check_float(f"width[{name!r}]", factor, exclusive_minimum=True)
        layer = model.get_layer(name)
        config = layer.get_config()
        key = _width_key(config)
        if key is None:
            raise ValueError(
                f"Argument `width`: layer {name!r} is a {type(layer).__name__}, which has "
                "no `filters` or `units` to scale; width applies to Dense and Conv layers."
            )
        if name in outputs:
            raise ValueError(
                f"Argument `width`: layer {name!r} produces a model output, so scaling it "
                "would change the model's output shape. Leave output layers out of `width`."
            )
        plan[name] = {key: max(1, round(config[key] * factor))}
    if plan:
        plan.update(_channel_reshapes(model))
    return plan


def channel_following_target(
    target_shape: tuple[int, ...],
    input_shape: tuple[int | None, ...],
    output_shape: tuple[int | None, ...],
) -> tuple[int, ...] | None:
    """A ``Reshape``'s target rewritten to follow its input's channels, if it keeps them last.

    Row-major data with the channels last keeps every element's channel through a
    reshape that leaves the last dimension as it was (``(c,)`` to ``(1, 1, c)``,
    ``(h, w, c)`` to ``(h * w, c)``): with ``-1`` as its last dimension it takes as many
    channels as come in. ``None`` when the reshape moves the channels, or already has
    a ``-1`` elsewhere.
    """
    target = tuple(target_shape)
    if (
        len(input_shape) > 1
        and input_shape[-1] is not None
        and input_shape[-1] == output_shape[-1]
        and -1 not in target[:-1]
    ):
        return (*target[:-1], -1)
    return None


def _channel_reshapes(model: keras.Model) -> ResizePlan:
    """``Reshape`` layers that keep the channels last, made to follow a width change.

    E.g. a squeeze-and-excitation block's ``Reshape((1, 1, c))`` after a global pooling.
    """
    plan: ResizePlan = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Reshape):
            continue
        try:
            shapes = tuple(layer.input.shape), tuple(layer.output.shape)
        except (AttributeError, ValueError):  # shared: each call has its own shapes
            continue
        target = channel_following_target(layer.target_shape, *shapes)
        if target is not None:
            plan[layer.name] = {"target_shape": target}
    return plan


def _kernel_size_plan(model: keras.Model, kernel_size: Mapping[Any, int] | None) -> ResizePlan:
    plan: ResizePlan = {}
    for name, size in resolve_mapping(model, kernel_size, argument="kernel_size").items():
        layer, size = kernel_size_cap(model, name, size)
        current = layer.get_config()["kernel_size"]
        plan[name] = {"kernel_size": tuple(min(int(k), size) for k in current)}
    return plan


def resize_plan(
    model: keras.Model,
    *,
    width: Mapping[Any, float] | None = None,
    kernel_size: Mapping[Any, int] | None = None,
) -> ResizePlan:
    """``{layer name: {constructor argument: new value}}`` for ``apply``'s resizes.

    ``width`` scales a layer's ``filters`` or ``units`` (rounded, at least 1);
    ``kernel_size`` caps every spatial axis of a layer's kernel (a kernel never
    grows). Layers absent from the plan keep their config.
    """
    plan = _width_plan(model, width)
    for name, change in _kernel_size_plan(model, kernel_size).items():
        plan.setdefault(name, {}).update(change)
    return {
        name: change
        for name, change in plan.items()
        if any(model.get_layer(name).get_config()[k] != v for k, v in change.items())
    }


def resize_error(error: ValueError) -> ValueError:
    """The error for a resized model Keras cannot build (e.g. a resized residual)."""
    return ValueError(
        f"Arguments `width`/`kernel_size`: the resized model cannot be built: "
        f"{str(error).rstrip('.')}. "
        "A layer whose output is added to, multiplied with or concatenated on a "
        "spatial axis with another layer's output must keep its width (and, with "
        "'valid' padding, its kernel size) unless the other one changes alike."
    )
