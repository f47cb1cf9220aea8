"""The default model of the estimators: a small MLP sized from the data."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from regsearch._validation import check_int


def default_hidden_units(n_features: int, n_outputs: int) -> tuple[int, ...]:
    """One hidden layer of ``2 * (n_features + n_outputs)`` units, clipped to [16, 128]."""
    return (int(min(128, max(16, 2 * (n_features + n_outputs)))),)


def mlp(
    n_features: int,
    n_outputs: int,
    *,
    output_activation: str,
    hidden_units: Sequence[int] | None = None,
    activation: str = "relu",
) -> keras.Sequential:
    """A Sequential MLP: ``Dense`` hidden layers named ``hidden_<i>``, then ``output``.

    Args:
        n_features: Input width.
        n_outputs: Output width.
        output_activation: Activation of the output layer (``"sigmoid"``,
            ``"softmax"``, ``"linear"``).
        hidden_units: Units per hidden layer; ``None`` sizes one hidden layer from
            the data (see ``default_hidden_units``); ``()`` gives a linear model.
        activation: Activation of the hidden layers.

    Returns:
        An uncompiled, built ``keras.Sequential``.
    """
    if hidden_units is None:
        hidden_units = default_hidden_units(n_features, n_outputs)
    if isinstance(hidden_units, (str, int)) or not isinstance(hidden_units, Sequence):
        raise TypeError(
            "model_kwargs['hidden_units'] must be a list of layer widths such as [64, 32]; "
            f"received {hidden_units!r}."
        )
    layers: list[keras.layers.Layer] = [keras.Input((n_features,))]
    for i, units in enumerate(hidden_units, start=1):
        units = check_int(f"model_kwargs['hidden_units'][{i - 1}]", units, minimum=1)
        layers.append(keras.layers.Dense(units, activation=activation, name=f"hidden_{i}"))
    layers.append(keras.layers.Dense(n_outputs, activation=output_activation, name="output"))
    return keras.Sequential(layers, name="regsearch_mlp")
