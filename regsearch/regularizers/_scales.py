"""Scale penalties: Slimming and Polarization, on per-channel scales (BatchNorm's gamma)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from regsearch._validation import check_float
from regsearch.regularizers._base import Regularizer
from regsearch.regularizers._group_lasso import safe_norm


def safe_abs(x: Any) -> Any:
    """``|x|`` with a gradient of 0 at ``x == 0`` on every backend.

    ``keras.ops.abs`` has the gradient ``sign(x)`` on TensorFlow (0 at 0) but 1 at 0
    on JAX; ``sign(x) * x`` has the gradient ``sign(x)`` on both.
    """
    return ops.sign(x) * x


def output_channel_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes summed over inside one output channel of a weight of ``shape``.

    A kernel is ``(*spatial, in, out)``: an output channel is ``kernel[..., j]`` (the
    axes before the last). A kernel with a single output slice,
    ``(*spatial, channels, 1)`` (``DepthwiseConv`` with ``depth_multiplier=1``, whose
    output channels are its input channels), is grouped per ``kernel[..., i, 0]``
    instead. A vector (a bias, BatchNormalization's gamma) has one entry per channel.
    """
    rank = len(shape)
    if rank < 2:
        return ()
    if shape[-1] == 1:
        return tuple(i for i in range(rank) if i != rank - 2)
    return tuple(range(rank - 1))


def channel_scales(x: Any) -> Any:
    """The per-channel scales of a weight: ``|x|`` for a vector, else group L2 norms."""
    if len(x.shape) == 1:
        return safe_abs(x)
    squares = ops.sum(ops.square(x), axis=output_channel_axes(tuple(x.shape)))
    return ops.reshape(safe_norm(squares), (-1,))


@keras.saving.register_keras_serializable(package="regsearch")
class Slimming(Regularizer):
    """Network slimming (Liu et al., ICCV 2017): L1 on BatchNormalization's scale.

    Attach it as ``gamma_regularizer`` (``regsearch.apply(model, gamma={...})``). The
    penalty is ``strength x mean(|gamma|)``: the mean over the channels rather than
    the paper's sum, so one ``strength`` means the same on a 16- and a 512-channel
    layer. A channel whose gamma reaches 0 outputs the constant ``beta``;
    ``regsearch.trim`` removes it together with the filter feeding it (a gamma
    with ``|gamma| <= threshold`` counts as zero). The gradient at ``gamma == 0`` is 0
    on every backend.

    Args:
        strength: Non-negative multiplier of the mean absolute scale.

    Raises:
        TypeError: if ``strength`` is not a real number.
        ValueError: if ``strength`` is negative, NaN or infinite; when called on a
            weight that is not a vector.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import Slimming
        >>> gamma = keras.ops.array([1.0, -0.5, 0.0, 0.5])
        >>> round(float(Slimming(0.1)(gamma)), 6)  # 0.1 * (1 + 0.5 + 0 + 0.5) / 4
        0.05
        >>> layer = keras.layers.BatchNormalization(gamma_regularizer=Slimming(1e-2))
    """

    def __init__(self, strength: float = 0.01) -> None:
        super().__init__(strength)

    def __call__(self, x: Any) -> Any:
        if len(x.shape) != 1:
            raise ValueError(
                "Slimming penalizes a vector of per-channel scales (BatchNormalization's "
                f"gamma); received a weight of shape {tuple(x.shape)}. Attach it as "
                "`gamma_regularizer`; for a kernel use Polarization, GroupLasso or "
                "ReweightedGroupSparsity."
            )
        return self.strength * ops.mean(safe_abs(x))


@keras.saving.register_keras_serializable(package="regsearch")
class Polarization(Regularizer):
    """Polarization (Zhuang et al., NeurIPS 2020): push scales to 0 or away from it.

    On the per-channel scales ``s`` the penalty is
    ``strength x (t x mean(s) - mean(|s - mean(s)|))``: the paper's
    ``t ||s||_1 - ||s - mean(s)||_1`` divided by the channel count, so one
    ``strength`` suits layers of any width. The first term shrinks every scale; the
    second rewards scales far from their mean, so the small ones are pulled down
    about ``(t + 1) / (t - 1)`` times harder than the large ones (11 times at
    ``t=1.2``): the scales split into a group at 0 (removed by ``regsearch.trim``)
    and a group that stays, instead of all shrinking together as under
    ``Slimming``. The penalty can be negative.

    As a ``gamma_regularizer`` the scales are ``|gamma|`` (the sign of a scale does
    not matter). On a kernel they are the L2 norms of its output channels
    ``kernel[..., j]`` (per channel, ``kernel[..., i, 0]``, for a ``DepthwiseConv``
    kernel with ``depth_multiplier=1``).

    How ``t`` acts: a scale below the mean is always pulled down; a scale above it
    is pulled down while fewer than ``t / 2`` of the scales lie below the mean and
    pushed up beyond that. So ``t`` must be > 1: with ``t <= 1`` the larger half of
    the scales would grow without bound (the paper's code also clamps gamma to
    ``[0, 1]``). With ``1 < t < 2`` the scales settle near 0 for the unimportant
    channels while the others hold; with ``t >= 2`` the penalty is never negative
    and the larger ``t``, the closer it comes to ``t x`` ``Slimming``.

    Args:
        strength: Non-negative multiplier of the whole penalty.
        t: Weight of the L1 term, > 1 (1.2 in the paper's code).

    Raises:
        TypeError: if an argument is not a real number.
        ValueError: if ``strength`` is negative, NaN or infinite, or ``t <= 1``;
            when called on a scalar.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import Polarization
        >>> gamma = keras.ops.array([0.0, 0.0, 1.0, 1.0])  # mean 0.5
        >>> round(float(Polarization(1.0, t=1.2)(gamma)), 6)  # 1.2 * 0.5 - 0.5
        0.1
    """

    def __init__(self, strength: float = 0.01, *, t: float = 1.2) -> None:
        super().__init__(strength)
        t = check_float("t", t, minimum=None)
        if t <= 1.0:
            raise ValueError(
                f"Argument `t` must be > 1; received {t!r}. With t <= 1 the penalty "
                "rewards growing the larger scales without bound. Zhuang et al. use "
                "t=1.2 (the default); try values in (1, 2)."
            )
        self.t = t

    def __call__(self, x: Any) -> Any:
        if len(x.shape) == 0:
            raise ValueError(
                "Polarization needs per-channel scales (a vector such as "
                "BatchNormalization's gamma) or a kernel with an output-channel axis; "
                f"received a scalar of shape {tuple(x.shape)}."
            )
        scales = channel_scales(x)
        mean = ops.mean(scales)
        spread = ops.mean(safe_abs(scales - mean))
        return self.strength * (self.t * mean - spread)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "t": self.t}
