"""ReweightedGroupSparsity: a group lasso over output channels, reweighted at every step."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from regsearch._validation import check_float
from regsearch.regularizers._base import Regularizer
from regsearch.regularizers._group_lasso import safe_norm
from regsearch.regularizers._scales import output_channel_axes


@keras.saving.register_keras_serializable(package="regsearch")
class ReweightedGroupSparsity(Regularizer):
    """Reweighted group lasso over output channels: close to counting the live filters.

    Each output channel ``kernel[..., j]`` of a Dense or Conv kernel is one group
    (each channel ``kernel[..., i, 0]`` for a ``DepthwiseConv`` kernel with
    ``depth_multiplier=1``; each entry of a vector). With ``r_j`` the root mean
    square of group ``j`` the penalty is

    ``strength x mean_j(r_j / (stop_gradient(r_j) + eps))``

    the reweighted L1 of Candès, Wakin and Boyd (2008) applied to groups: each
    group's weight ``1 / (r_j + eps)`` is recomputed from the current weights at
    every step and is not differentiated. A live group (``r_j >> eps``) costs about
    ``strength``, an empty one nothing, so the value approximates ``strength x`` the
    fraction of live filters (an L0 penalty), whatever the layer's width. The pull
    on a group grows as it shrinks (``1 / (r_j + eps)``), so small filters are
    emptied quickly while large ones are barely shrunk, unlike a plain group lasso.

    ``r_j`` is the group's root mean square rather than its L2 norm (in L2 norms the
    weight is ``1 / (||group|| + eps x sqrt(group size))``), so ``eps`` is in the
    units of a single weight, like ``regsearch.trim``'s ``threshold``, for kernels
    of any size. The gradient is finite (zero) at an all-zero group.

    A kernel followed by ``BatchNormalization`` is a poor target: the normalization
    undoes each filter's scale, so the penalty shrinks every filter alike instead of
    emptying some. Put ``Slimming`` or ``Polarization`` on the gamma there.

    Args:
        strength: Non-negative multiplier of the penalty.
        eps: Root mean square, > 0, below which a group counts as nearly empty:
            the weights ``1 / (r + eps)`` stop growing there. Smaller values come
            closer to L0 (and pull harder on small groups).

    Raises:
        TypeError: if an argument is not a real number.
        ValueError: if ``strength`` is negative, NaN or infinite, or ``eps`` is not
            positive and finite; when called on a scalar.

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import ReweightedGroupSparsity
        >>> kernel = keras.ops.array([[3.0, 0.0], [4.0, 0.0]])  # Dense: 2 inputs, 2 units
        >>> # r = (sqrt(12.5), 0): 0.1 * (r / (r + 0.01) + 0) / 2
        >>> round(float(ReweightedGroupSparsity(0.1, eps=0.01)(kernel)), 5)
        0.04986
    """

    def __init__(self, strength: float = 0.01, *, eps: float = 0.01) -> None:
        super().__init__(strength)
        self.eps = check_float("eps", eps, minimum=0.0, exclusive_minimum=True)

    def __call__(self, x: Any) -> Any:
        if len(x.shape) == 0:
            raise ValueError(
                "ReweightedGroupSparsity needs a weight with an output-channel axis "
                f"(a kernel, or a vector); received a scalar of shape {tuple(x.shape)}."
            )
        shape = tuple(int(d) for d in x.shape)
        axes = output_channel_axes(shape)
        size = math.prod(shape[i] for i in axes)
        squares = ops.square(x)  # a vector has no axes to sum: each entry is a group
        if axes:
            squares = ops.sum(squares, axis=axes) / size
        rms = safe_norm(squares)
        weights = 1.0 / (ops.stop_gradient(rms) + self.eps)
        return self.strength * ops.mean(rms * weights)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "eps": self.eps}
