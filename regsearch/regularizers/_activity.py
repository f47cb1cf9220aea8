"""Activity regularizers: penalties on a layer's outputs.

Keras divides whatever an activity regularizer returns by the batch size (see
``keras.layers.Layer.__call__``), so that its ``L1``/``L2`` (sums over the batch)
become per-sample means. The regularizers here follow that convention: each
returns ``strength`` times a *sum over the batch* of a per-sample statistic, so
the loss Keras adds to ``model.losses`` is ``strength`` times the *batch mean*
of that statistic, whatever the batch size. Called directly (outside a layer),
they return the un-divided sum.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from regsearch._compat.keras import current_layer_call
from regsearch._validation import check_choice
from regsearch.regularizers._base import Regularizer


def _per_sample_mean(values: Any) -> Any:
    """Mean over every axis but the first (the batch axis)."""
    if len(values.shape) < 2:
        return values
    return ops.mean(values, axis=tuple(range(1, len(values.shape))))


def _check_rank(name: str, x: Any, minimum: int, expected: str) -> None:
    if len(x.shape) < minimum:
        raise ValueError(f"{name} expects {expected}; received a tensor of shape {tuple(x.shape)}.")


@keras.saving.register_keras_serializable(package="regsearch")
class HiddenL1(Regularizer):
    """Sparse hidden activity: ``strength * mean(|h|)``.

    As an ``activity_regularizer`` the loss Keras adds is ``strength`` times the
    mean of ``|h|`` over the batch and every unit: the regularizer returns the sum
    over the batch of each sample's mean ``|h|`` and Keras divides by the batch size.

    Args:
        strength: Non-negative penalty multiplier.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import HiddenL1
        >>> layer = keras.layers.Dense(8, activation="relu", activity_regularizer=HiddenL1(0.01))
    """

    def __init__(self, strength: float = 0.01) -> None:
        super().__init__(strength)

    def __call__(self, x: Any) -> Any:
        _check_rank("HiddenL1", x, 1, "a batch of activations (rank >= 1)")
        return self.strength * ops.sum(_per_sample_mean(ops.abs(x)))


@keras.saving.register_keras_serializable(package="regsearch")
class RecurrentState(Regularizer):
    """Smooth hidden state: mean squared change between consecutive timesteps.

    For a sequence ``h`` of shape ``(batch, time, units)`` (e.g. an RNN with
    ``return_sequences=True``) the loss Keras adds is ``strength * mean((h[:, t] -
    h[:, t - 1]) ** 2)`` over the batch, the ``time - 1`` steps and the units: the
    regularizer returns the batch sum of the per-sample means and Keras divides by
    the batch size. A sequence of length 1 costs 0.

    Args:
        strength: Non-negative penalty multiplier.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import RecurrentState
        >>> layer = keras.layers.GRU(
        ...     8, return_sequences=True, activity_regularizer=RecurrentState(0.01)
        ... )
    """

    def __init__(self, strength: float = 0.01) -> None:
        super().__init__(strength)

    def __call__(self, x: Any) -> Any:
        _check_rank(
            "RecurrentState",
            x,
            3,
            "a sequence shaped (batch, time, units): set "
            "return_sequences=True on the recurrent layer",
        )
        if x.shape[1] is not None and x.shape[1] < 2:
            return ops.zeros((), dtype=x.dtype)
        change = ops.square(x[:, 1:] - x[:, :-1])
        return self.strength * ops.sum(_per_sample_mean(change))


@keras.saving.register_keras_serializable(package="regsearch")
class RecurrentNorm(Regularizer):
    """Stable state norm: mean squared change of ``||h_t||^2`` between timesteps.

    For a sequence ``h`` of shape ``(batch, time, units)`` the loss Keras adds is
    ``strength * mean((||h[:, t]||^2 - ||h[:, t - 1]||^2) ** 2)`` over the batch and
    the ``time - 1`` steps (squared L2 norms over every axis after ``time``). It is
    never negative. The regularizer returns the batch sum of the per-sample means
    and Keras divides by the batch size. A sequence of length 1 costs 0.

    Args:
        strength: Non-negative penalty multiplier.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import RecurrentNorm
        >>> layer = keras.layers.LSTM(
        ...     8, return_sequences=True, activity_regularizer=RecurrentNorm(0.01)
        ... )
    """

    def __init__(self, strength: float = 0.01) -> None:
        super().__init__(strength)

    def __call__(self, x: Any) -> Any:
        _check_rank(
            "RecurrentNorm",
            x,
            3,
            "a sequence shaped (batch, time, units): set "
            "return_sequences=True on the recurrent layer",
        )
        if x.shape[1] is not None and x.shape[1] < 2:
            return ops.zeros((), dtype=x.dtype)
        norms = ops.sum(ops.square(x), axis=tuple(range(2, len(x.shape))))
        change = ops.square(norms[:, 1:] - norms[:, :-1])
        return self.strength * ops.sum(ops.mean(change, axis=1))


# Derivative of each supported elementwise activation, written in terms of its
# output y = f(z), which is all an activity regularizer sees.
def _derivative_from_output(activation: str, y: Any) -> Any:
    if activation == "linear":
        return ops.ones_like(y)
    if activation == "relu":
        return ops.cast(y > 0, y.dtype)
    if activation == "sigmoid":
        return y * (1.0 - y)
    if activation == "tanh":
        return 1.0 - ops.square(y)
    if activation == "softplus":  # f'(z) = sigmoid(z) = 1 - exp(-y)
        return 1.0 - ops.exp(-y)
    if activation == "elu":  # alpha = 1: f'(z) = 1 for z > 0, y + 1 otherwise
        return ops.where(y > 0, ops.ones_like(y), y + 1.0)
    raise AssertionError(activation)  # unreachable: checked by _activation_name


ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softplus", "elu")


def _activation_name(activation: Any) -> str:
    name = activation if isinstance(activation, str) else keras.activations.serialize(activation)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    return check_choice("activation", name, ACTIVATIONS)


@keras.saving.register_keras_serializable(package="regsearch")
class Contractive(Regularizer):
    """Contractive penalty of a Dense layer: squared Frobenius norm of its Jacobian.

    For ``y = f(x @ W + b)`` with an elementwise activation ``f``, the Jacobian of
    one sample's output with respect to its input is ``diag(f'(z)) W^T``, and
    ``||J||_F^2 = sum_j f'(z_j)^2 * sum_i W_ij^2``. ``f'(z)`` is computed from the
    output ``y`` (supported activations: linear, relu, sigmoid, tanh, softplus, elu),
    so no second forward pass or autodiff is needed.

    Use it as the ``activity_regularizer`` of a ``Dense`` layer: when Keras calls it
    on the layer's output it reads the kernel and activation of the layer being
    called (the layer Keras's name scope records as the caller), so it needs no
    reference to the layer and survives ``.keras`` saving and loading. The loss
    Keras adds is ``strength`` times the *batch mean* of ``||J||_F^2``: the
    regularizer returns the batch sum and Keras divides by the batch size.

    Outside a layer, ``squared_jacobian_norm`` computes the per-sample values
    from an output, a kernel and an activation.

    Args:
        strength: Non-negative penalty multiplier.

    Raises:
        ValueError: when called outside a ``Dense`` layer's activity
            regularization, or for an unsupported activation.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import Contractive
        >>> encoder = keras.layers.Dense(
        ...     16, activation="sigmoid", activity_regularizer=Contractive(0.1)
        ... )
    """

    def __init__(self, strength: float = 0.01) -> None:
        super().__init__(strength)

    @staticmethod
    def squared_jacobian_norm(outputs: Any, kernel: Any, activation: Any) -> Any:
        """Per-sample ``||d outputs / d inputs||_F^2`` of a Dense layer.

        Args:
            outputs: The layer's outputs, shaped ``(batch, ..., units)``.
            kernel: The layer's kernel, shaped ``(input_dim, units)``.
            activation: The layer's activation (a name or a Keras activation).

        Returns:
            A tensor shaped ``outputs.shape[:-1]``.
        """
        derivative = _derivative_from_output(_activation_name(activation), outputs)
        column_norms = ops.sum(ops.square(ops.cast(kernel, outputs.dtype)), axis=0)
        return ops.sum(ops.square(derivative) * column_norms, axis=-1)

    def __call__(self, x: Any) -> Any:
        layer = current_layer_call()
        kernel = getattr(layer, "kernel", None)
        activation = getattr(layer, "activation", None)
        if kernel is None or activation is None or len(kernel.shape) != 2:
            raise ValueError(
                "Contractive must be the activity_regularizer of a Dense layer (a layer "
                "with a rank-2 `kernel` and an elementwise `activation`); it was called "
                f"from {layer!r}. Outside a layer use "
                "Contractive.squared_jacobian_norm(outputs, kernel, activation)."
            )
        norms = self.squared_jacobian_norm(x, kernel, activation)
        return self.strength * ops.sum(_per_sample_mean(norms))
