"""Glob patterns over layer names and weight paths.

A pattern is an ``fnmatch.fnmatchcase`` glob. Without a ``/`` it matches
layer names (``"conv*"``, ``"block[23]_*"``); with a ``/`` it matches weight
paths ``"<layer name>/<weight name>"`` (``"*/kernel"``, ``"conv1/bias"``) and
selects the layers that own a matching weight. Only the model's top-level
layers are targeted (a nested model is one layer).

A pattern that matches nothing is a ``ValueError`` listing what exists, so a
typo never silently regularizes nothing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import TypeVar

import keras

from regsearch._compat.keras import producing_layer
from regsearch._validation import check_patterns, did_you_mean

T = TypeVar("T")

Patterns = str | Sequence[str]


def target_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The top-level layers patterns can target (input layers excluded)."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def output_layers(model: keras.Model) -> set[str]:
    """Names of the layers that produce ``model``'s outputs."""
    return {producing_layer(t).name for t in keras.tree.flatten(model.outputs)}  # type: ignore[union-attr]


def weight_paths(layer: keras.layers.Layer) -> list[str]:
    """The ``"<layer>/<weight>"`` paths of a layer's weights."""
    return [f"{layer.name}/{w.name}" for w in layer.weights]


def _no_match(argument: str, pattern: str, model: keras.Model) -> ValueError:
    if "/" in pattern:
        names = [p for layer in target_layers(model) for p in weight_paths(layer)]
        kind = "weight path"
    else:
        names = [layer.name for layer in target_layers(model)]
        kind = "layer name"
    hint = did_you_mean(pattern, names)
    return ValueError(
        f"Argument `{argument}`: pattern {pattern!r} matches no {kind} of model "
        f"{model.name!r}. The {kind}s are {names}.{hint} Patterns are fnmatch globs "
        f'("conv*", "block[23]_*"); a pattern with "/" matches weight paths ("*/kernel").'
    )


def match_weights(
    model: keras.Model, patterns: Patterns, *, argument: str = "patterns"
) -> dict[str, list[str]]:
    """Match patterns against ``model``'s layers.

    Args:
        model: a built Keras model.
        patterns: one glob or a list of globs.
        argument: the argument name used in error messages.

    Returns:
        ``{layer name: weight names}`` in model layer order. A layer matched by a
        layer-name pattern maps to all its weight names; a layer matched only by
        weight-path patterns maps to the matched weight names.

    Raises:
        ValueError: if any pattern matches nothing.
    """
    result: dict[str, list[str]] = {}
    for pattern in check_patterns(argument, patterns):
        found = False
        for layer in target_layers(model):
            if "/" in pattern:
                names = [
                    w.name
                    for w, path in zip(layer.weights, weight_paths(layer), strict=True)
                    if fnmatch.fnmatchcase(path, pattern)
                ]
                if not names:
                    continue
            elif fnmatch.fnmatchcase(layer.name, pattern):
                names = [w.name for w in layer.weights]
            else:
                continue
            found = True
            existing = result.setdefault(layer.name, [])
            existing.extend(n for n in names if n not in existing)
        if not found:
            raise _no_match(argument, pattern, model)
    order = {layer.name: i for i, layer in enumerate(target_layers(model))}
    return dict(sorted(result.items(), key=lambda item: order[item[0]]))


def match_layers(
    model: keras.Model, patterns: Patterns, *, argument: str = "patterns"
) -> list[str]:
    """Names of the layers of ``model`` matched by ``patterns``, in model order.

    Examples:
        >>> import keras
        >>> from regsearch.editing import match_layers
        >>> model = keras.Sequential([
        ...     keras.Input((4,)),
        ...     keras.layers.Dense(3, name="dense_a"),
        ...     keras.layers.Dense(2, name="out"),
        ... ])
        >>> match_layers(model, "dense_*")
        ['dense_a']
    """
    return list(match_weights(model, patterns, argument=argument))


def resolve_mapping(
    model: keras.Model, mapping: Mapping[str | tuple[str, ...], T] | None, *, argument: str
) -> dict[str, T]:
    """Resolve ``{pattern or tuple of patterns: value}`` to ``{layer name: value}``.

    A layer matched by two keys with different values is a ``ValueError`` (fnmatch
    has no notion of a more specific pattern, so neither silently wins).
    """
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise TypeError(
            f"Argument `{argument}` must be a mapping from layer-name patterns to "
            f"values, e.g. {{'conv*': ...}}; received {mapping!r} of type "
            f"{type(mapping).__name__}."
        )
    resolved: dict[str, T] = {}
    source: dict[str, str | tuple[str, ...]] = {}
    for key, value in mapping.items():
        patterns = list(key) if isinstance(key, tuple) else key
        for name in match_layers(model, patterns, argument=argument):
            if name in resolved and resolved[name] is not value and resolved[name] != value:
                raise ValueError(
                    f"Argument `{argument}`: layer {name!r} is matched by both "
                    f"{source[name]!r} (-> {resolved[name]!r}) and {key!r} (-> {value!r}). "
                    "Make the patterns disjoint."
                )
            resolved[name] = value
            source[name] = key
    return resolved
