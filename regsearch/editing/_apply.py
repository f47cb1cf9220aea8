"""``apply()``: a new model with regularizers, constraints and inserted layers."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import keras

from regsearch import regularizers
from regsearch._validation import check_bool, check_float, check_int, check_model
from regsearch.constraints import FreezeFilters
from regsearch.editing._patterns import match_layers, match_weights, resolve_mapping, target_layers
from regsearch.editing._rebuild import Edits, LayerFactory, copy_weights, rebuild
from regsearch.editing._resize import ResizePlan, resize_error, resize_plan
from regsearch.layers import CrossLayer, TopK
from regsearch.regularizers import RegularizerLike

_TRANSPOSE = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


def _private_copy(regularizer: RegularizerLike | None) -> RegularizerLike | None:
    """A copy of a resolved regularizer, so the new model never shares the user's object.

    ``copy.deepcopy`` rather than ``get_config``/``from_config``: a regularizer needs
    neither a config nor a registration to train in Keras, so it needs none here. A
    plain function deep-copies to itself (functions hold no per-model state).
    """
    return copy.deepcopy(regularizer)


def _unique_name(base: str, taken: set[str]) -> str:
    name, i = base, 1
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    taken.add(name)
    return name


def _factory(make: Callable[..., keras.layers.Layer], *args: Any, name: str) -> LayerFactory:
    """A ``rebuild`` factory that makes ``make(*args, name=name)``."""

    def factory(_anchor: str) -> keras.layers.Layer:
        return make(*args, name=name)

    return factory


def _filter_axis(layer: keras.layers.Layer, weight_name: str) -> int:
    return -2 if weight_name == "kernel" and isinstance(layer, _TRANSPOSE) else -1


def _regularizer_key(layer: keras.layers.Layer, argument: str) -> str | None:
    """The constructor argument a ``kernel``/``bias``/``gamma``/``activity`` plan sets on ``layer``.

    ``DepthwiseConv*`` and ``SeparableConv*`` take ``depthwise_regularizer`` for the
    kernel: the depthwise kernel is the one ``trim`` shortens. A SeparableConv's
    ``pointwise_regularizer`` is left as the layer has it (trim does not read the
    pointwise kernel, so a penalty there would not shrink the trimmed model).
    ``None`` when the layer takes no such regularizer.
    """
    if argument == "activity":
        return "activity_regularizer"  # every Keras layer takes one (base Layer argument)
    config = layer.get_config()
    if f"{argument}_regularizer" in config:
        return f"{argument}_regularizer"
    if argument == "kernel" and "depthwise_regularizer" in config:
        return "depthwise_regularizer"
    return None


def _regularizer_plan(
    model: keras.Model, argument: str, mapping: Mapping[Any, Any] | None
) -> dict[str, Any]:
    plan = resolve_mapping(model, mapping, argument=argument)
    for name in plan:
        layer = model.get_layer(name)
        if _regularizer_key(layer, argument) is None:
            key = f"{argument}_regularizer"
            supported = [
                other.name
                for other in target_layers(model)
                if _regularizer_key(other, argument) is not None
            ]
            raise ValueError(
                f"Argument `{argument}`: layer {name!r} ({type(layer).__name__}) has no "
                f"`{key}`. Layers that have one: {supported}. Narrow the pattern, or use "
                f'"*/{argument}" to match only layers with a {argument} weight.'
            )
        try:
            identifier = plan[name]
            if isinstance(identifier, dict):
                # A saved config: Keras resolves built-in and registered classes.
                identifier = keras.saving.deserialize_keras_object(identifier)
            plan[name] = regularizers.get(identifier)
        except (TypeError, ValueError) as error:
            raise type(error)(f"Argument `{argument}`, layer {name!r}: {error}") from error
    return plan


def _rate_plan(
    model: keras.Model, argument: str, mapping: Mapping[Any, Any] | None, *, below_one: bool
) -> dict[str, float]:
    plan = resolve_mapping(model, mapping, argument=argument)
    for name, value in plan.items():
        value = check_float(f"{argument}[{name!r}]", value, minimum=0.0)
        if below_one and value >= 1.0:
            raise ValueError(
                f"Argument `{argument}`: the rate for layer {name!r} must be in [0, 1); "
                f"received {value!r}."
            )
        plan[name] = value
    return plan


def _freeze_plan(
    model: keras.Model, freeze: Mapping[Any, Any] | None
) -> dict[str, dict[str, list[int]]]:
    """``{layer name: {"kernel"/"bias": filter indices}}``, validated on ``model``."""
    if freeze is None:
        return {}
    if not isinstance(freeze, Mapping):
        raise TypeError(
            "Argument `freeze` must be a mapping {layer pattern: filter indices}, e.g. "
            f'{{"conv": [0, 2]}}; received {freeze!r} of type {type(freeze).__name__}.'
        )
    plan: dict[str, dict[str, list[int]]] = {}
    for key, raw in freeze.items():
        patterns = list(key) if isinstance(key, tuple) else key
        items = [raw] if isinstance(raw, int) else raw
        if not isinstance(items, Iterable) or isinstance(items, (str, bytes)):
            raise TypeError(
                f"Argument `freeze`: the value for {key!r} must be a filter index or a "
                f"list of them; received {raw!r}."
            )
        indices = sorted({check_int(f"freeze[{key!r}]", i, minimum=0) for i in items})
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            for name, weights in match_weights(model, pattern, argument="freeze").items():
                layer = model.get_layer(name)
                chosen = [w for w in weights if w in ("kernel", "bias")]
                if not chosen or ("/" in pattern and len(chosen) < len(weights)):
                    what = "other weights than" if chosen else "a layer with no"
                    raise ValueError(
                        f"Argument `freeze`: pattern {pattern!r} matches {what} kernel or "
                        f"bias: layer {name!r} ({type(layer).__name__}) has weights "
                        f"{[w.name for w in layer.weights]}. Freeze applies to the filters "
                        "of a layer's `kernel` and `bias`."
                    )
                _add_freeze(plan, layer, chosen, indices)
    return plan


def _add_freeze(
    plan: dict[str, dict[str, list[int]]],
    layer: keras.layers.Layer,
    chosen: list[str],
    indices: list[int],
) -> None:
    name = layer.name
    if "depthwise_constraint" in layer.get_config():
        raise ValueError(
            f"Argument `freeze`: layer {name!r} is a {type(layer).__name__}; freeze applies "
            "to the filters of Dense and Conv kernels, not to depthwise or separable ones."
        )
    for weight_name in chosen:
        weight = getattr(layer, weight_name)
        axis = _filter_axis(layer, weight_name)
        filters = int(weight.shape[axis])
        out_of_range = [i for i in indices if i >= filters]
        if out_of_range:
            raise ValueError(
                f"Argument `freeze`: filter indices {out_of_range} are out of range "
                f"for layer {name!r}, which has {filters} filters; expected "
                f"indices in [0, {filters - 1}]."
            )
        if f"{weight_name}_constraint" not in layer.get_config():
            raise ValueError(
                f"Argument `freeze`: layer {name!r} ({type(layer).__name__}) takes "
                f"no `{weight_name}_constraint`, so its filters cannot be frozen."
            )
        merged = plan.setdefault(name, {}).setdefault(weight_name, [])
        merged[:] = sorted(set(merged) | set(indices))


def _cross_layer_plan(
    model: keras.Model, cross_layer: CrossLayer | Sequence[CrossLayer] | None
) -> list[tuple[CrossLayer, list[str]]]:
    if cross_layer is None:
        return []
    specs = [cross_layer] if isinstance(cross_layer, CrossLayer) else cross_layer
    plan = []
    for spec in specs:
        if not isinstance(spec, CrossLayer):
            raise TypeError(
                "Argument `cross_layer` must be a list of regsearch.CrossLayer; received "
                f"an item {spec!r} of type {type(spec).__name__}."
            )
        names = match_layers(model, spec.layer_patterns, argument="cross_layer")
        no_kernel = [n for n in names if not hasattr(model.get_layer(n), "kernel")]
        if no_kernel:
            raise ValueError(
                f"Argument `cross_layer`: patterns {spec.layer_patterns} match layers "
                f"without a kernel: {no_kernel}. Narrow the patterns."
            )
        plan.append((spec, names))
    return plan


def _cross_layer_hook(plan: list[tuple[CrossLayer, list[str]]], taken: set[str]) -> Any:
    layers = []
    for spec, names in plan:
        name = _unique_name(spec.name, taken)
        regularizer = _private_copy(spec.regularizer)
        copied = CrossLayer(
            spec.layer_patterns,
            regularizer,
            axis=spec.axis,
            flatten=spec.flatten,
            name=name,
            dtype=spec.dtype_policy,
        )
        layers.append((copied, names))

    def hook(outputs: list[Any], produced: Mapping[str, Any]) -> list[Any]:
        first = outputs[0]
        for layer, names in layers:
            sources = [keras.tree.flatten(produced[n])[0] for n in names]
            first = layer([first, *sources])
        return [first, *outputs[1:]]

    return hook


def _attach_freeze(model: keras.Model, plan: dict[str, dict[str, list[int]]]) -> None:
    for name, weights in plan.items():
        layer = model.get_layer(name)
        for weight_name, indices in weights.items():
            variable = getattr(layer, weight_name)
            attribute = f"{weight_name}_constraint"
            constraint = FreezeFilters.from_weight(
                variable,
                indices,
                axis=_filter_axis(layer, weight_name),
                constraint=getattr(layer, attribute, None),
            )
            setattr(layer, attribute, constraint)  # saved by get_config()
            variable.constraint = constraint  # used by the optimizer


def _cloner(
    regularizer_plan: Mapping[str, Mapping[str, Any]], resizes: ResizePlan
) -> Callable[[keras.layers.Layer], keras.layers.Layer]:
    """A ``rebuild`` clone function that attaches the planned regularizers and resizes."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = {**layer.get_config(), **resizes.get(layer.name, {})}
        for argument, plan in regularizer_plan.items():
            if layer.name in plan:
                # The object itself, not its config: Keras layers take any regularizer.
                config[str(_regularizer_key(layer, argument))] = _private_copy(plan[layer.name])
        return layer.__class__.from_config(config)

    return clone


def _insert_after(
    edits: Edits,
    plan: Mapping[str, float],
    make: Callable[..., keras.layers.Layer],
    suffix: str,
    taken: set[str],
) -> None:
    """Plan a ``make(value)`` layer named ``<layer>_<suffix>`` after each planned layer."""
    for name, value in plan.items():
        new_name = _unique_name(f"{name}_{suffix}", taken)
        edits.insert_after.setdefault(name, []).append(_factory(make, value, name=new_name))


def apply(
    model: keras.Model,
    *,
    kernel: Mapping[Any, Any] | None = None,
    bias: Mapping[Any, Any] | None = None,
    activity: Mapping[Any, Any] | None = None,
    gamma: Mapping[Any, Any] | None = None,
    dropout: Mapping[Any, float] | None = None,
    noise: Mapping[Any, float] | None = None,
    cross_layer: CrossLayer | Sequence[CrossLayer] | None = None,
    freeze: Mapping[Any, int | Sequence[int]] | None = None,
    top_k: int | None = None,
    width: Mapping[Any, float] | None = None,
    kernel_size: Mapping[Any, int] | None = None,
    keep_weights: bool = True,
) -> keras.Model:
    """Return a new model with regularizers, freezes and extra layers attached.

    Every mapping goes from layer-name globs (``"conv*"``, ``"block[23]_*"``, a
    tuple of globs, or weight paths such as ``"*/kernel"``) to a value; a pattern
    matching no layer is a ``ValueError`` listing the layers that exist. The user's
    model is never modified; the new model is not compiled.

    Args:
        model: a ``Sequential`` or functional Keras model.
        kernel: ``{pattern: regularizer}`` for ``kernel_regularizer``: anything a
            Keras layer takes (a ``Regularizer`` instance, registered or not, or
            any callable ``penalty(weight)``; each layer gets its own deep copy),
            a name such as ``"l2"`` or a config; ``None`` removes one. On
            ``DepthwiseConv*`` and ``SeparableConv*`` layers it sets
            ``depthwise_regularizer`` (the kernel ``trim`` shortens); a
            SeparableConv's ``pointwise_regularizer`` stays as the layer has it.
        bias: same for ``bias_regularizer``.
        activity: same for ``activity_regularizer``.
        gamma: same for ``gamma_regularizer``, the penalty on the scale of a
            ``BatchNormalization`` (or another normalization layer that has one),
            e.g. ``regsearch.regularizers.Slimming``: a channel whose gamma
            reaches zero is one ``trim`` removes.
        dropout: ``{pattern: rate}``: a ``Dropout`` after each matched layer.
        noise: ``{pattern: stddev}``: a ``GaussianNoise`` after each matched layer
            (before the dropout if both are given).
        cross_layer: ``regsearch.CrossLayer`` specs; each adds one penalty over
            the concatenated kernels of its layers. A ``Sequential`` model given a
            cross-layer penalty is returned as a functional model.
        freeze: ``{pattern: filter indices}``: those filters of the kernel and bias
            (or only the weights named by a ``"layer/kernel"`` pattern) stay exactly
            as they are in the new model while the others train
            (``regsearch.constraints.FreezeFilters``, combined with any
            constraint the layer already has).
        top_k: append a ``regsearch.layers.TopK`` with this ``k`` after each
            model output, so at most ``k`` outputs per sample are non-zero.
        width: ``{pattern: factor}``: each matched Dense or Conv layer gets
            ``round(factor x filters)`` filters (or units), at least 1; the layers
            reading it are built for the new width. Model outputs cannot be resized.
        kernel_size: ``{pattern: size}``: each matched convolution's kernel is cut
            to at most ``size`` taps along every spatial axis.
        keep_weights: copy the model's weights into the new model (else the new
            model starts from fresh initial weights). Layers whose weights change
            shape under ``width`` or ``kernel_size`` (the resized layers and those
            reading a resized layer) start from fresh initial weights.

    Returns:
        The new model: ``Sequential`` if ``model`` is (and no ``cross_layer``),
        functional otherwise.

    Examples:
        >>> import keras, regsearch
        >>> model = keras.Sequential([
        ...     keras.Input((8,)),
        ...     keras.layers.Dense(4, name="dense_1"),
        ...     keras.layers.Dense(2, name="out"),
        ... ])
        >>> new = regsearch.apply(
        ...     model, kernel={"dense_*": "l2"}, dropout={"dense_1": 0.2},
        ...     freeze={"out": [0]},
        ... )
        >>> [layer.name for layer in new.layers]
        ['dense_1', 'dense_1_dropout', 'out']
        >>> regsearch.apply(model, width={"dense_1": 0.5}).get_layer("dense_1").units
        2
    """
    check_model("model", model)
    check_bool("keep_weights", keep_weights)
    regularizer_plan = {
        argument: _regularizer_plan(model, argument, mapping)
        for argument, mapping in (
            ("kernel", kernel),
            ("bias", bias),
            ("gamma", gamma),
            ("activity", activity),
        )
    }
    noise_plan = _rate_plan(model, "noise", noise, below_one=False)
    dropout_plan = _rate_plan(model, "dropout", dropout, below_one=True)
    if freeze and not model.built:
        raise ValueError(
            "Argument `freeze` needs a built model (its weights are frozen at their "
            "current values); build the model first."
        )
    freeze_plan = _freeze_plan(model, freeze)
    if top_k is not None:
        top_k = check_int("top_k", top_k, minimum=1)
    cross_plan = _cross_layer_plan(model, cross_layer)
    resizes = resize_plan(model, width=width, kernel_size=kernel_size)
    frozen_and_resized = sorted(set(freeze_plan) & set(resizes))
    if frozen_and_resized:
        raise ValueError(
            f"Arguments `freeze` and `width`/`kernel_size` both name layers "
            f"{frozen_and_resized}: a resized layer gets new weights, so there is "
            "nothing to freeze. Freeze other layers, or do not resize these."
        )

    taken = {layer.name for layer in model.layers}
    edits = Edits(clone=_cloner(regularizer_plan, resizes))
    _insert_after(edits, noise_plan, keras.layers.GaussianNoise, "noise", taken)
    _insert_after(edits, dropout_plan, keras.layers.Dropout, "dropout", taken)
    if top_k is not None:
        k = top_k
        edits.append.append(
            lambda output_name: TopK(k, name=_unique_name(f"{output_name}_top_k", taken))
        )
    if cross_plan:
        edits.output_hooks.append(_cross_layer_hook(cross_plan, taken))
    try:
        new_model = rebuild(model, edits, keep_weights=False)
    except ValueError as error:
        raise (resize_error(error) if resizes else error) from error
    if keep_weights and model.built:
        # A resized layer, and each layer reading one, keeps its fresh weights.
        copy_weights(model, new_model, same_shape_only=bool(resizes))
    _attach_freeze(new_model, freeze_plan)
    return new_model
