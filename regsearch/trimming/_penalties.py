"""One coupled penalty per channel group: what group-norm sparse learning attaches."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import keras

from regsearch.editing import match_layers
from regsearch.layers import CrossLayer
from regsearch.regularizers import RegularizerLike
from regsearch.trimming._groups import channel_groups


def coupled_penalties(
    model: keras.Model,
    regularizer: RegularizerLike | str | dict[str, Any],
    *,
    layers: str | Sequence[str] | None = None,
) -> list[CrossLayer]:
    """A ``CrossLayer`` penalty over each coupled channel group of ``model``.

    Channels tied across a residual ``Add`` (the stem and each block's last
    convolution) go together or not at all, so a penalty on each layer alone rarely
    empties them. This gives one penalty per group of two or more layers with kernels,
    over the stacked kernels of all of them (``CrossLayer(..., flatten=True)``), as
    Torch-Pruning's group-norm sparse learning does: with a ``GroupLasso``, one norm
    per channel of the group. Pass the result to ``regsearch.apply(cross_layer=...)``.

    Args:
        model: A Sequential or functional model.
        regularizer: The penalty of each group (a regsearch regularizer, a name or a
            config), e.g. ``GroupLasso(1e-3)``; each group gets its own copy.
        layers: Glob pattern(s): only groups with a producer among these layers.
            ``None``: every group.

    Returns:
        The ``CrossLayer`` specs, named ``"<first producer>_coupled"``; empty when
        no group couples two layers.

    Examples:
        >>> import keras, regsearch
        >>> inputs = keras.Input((8, 8, 1))
        >>> stem = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
        >>> block = keras.layers.Conv2D(4, 3, padding="same", name="block")(stem)
        >>> x = keras.layers.Add()([stem, block])
        >>> x = keras.layers.GlobalAveragePooling2D()(x)
        >>> model = keras.Model(inputs, keras.layers.Dense(2)(x))
        >>> specs = regsearch.trimming.coupled_penalties(model, "group_lasso")
        >>> [(spec.name, spec.layer_patterns) for spec in specs]
        [('stem_coupled', ['stem', 'block'])]
        >>> penalized = regsearch.apply(model, cross_layer=specs)
    """
    matched = None if layers is None else set(match_layers(model, layers, argument="layers"))
    specs = []
    for group in channel_groups(model):
        members = [n for n in group.producers if hasattr(model.get_layer(n), "kernel")]
        if group.blocked or len(members) < 2:
            continue
        if matched is not None and not matched.intersection(members):
            continue
        penalty = copy.deepcopy(regularizer)
        specs.append(CrossLayer(members, penalty, flatten=True, name=f"{group.name}_coupled"))
    return specs
