"""KernelLength: penalize non-zero weights far from a convolution kernel's centre."""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
from keras import ops

from regsearch._validation import check_choice, check_float, check_int
from regsearch.regularizers._base import Regularizer

WINDOWS = ("poly", "hann", "hamming")


def _axis_window(length: int, window: str, poly_exp: int) -> np.ndarray:
    """Per-axis penalty: 0 at the centre, 1 at both ends (zeros for length 1)."""
    if length == 1:
        return np.zeros((1,))
    centre = (length - 1) / 2
    # Normalized distance from the centre: 0 at the centre, 1 at the first/last tap.
    # For odd lengths ``centre == length // 2``.
    distance = np.abs(np.arange(length) - centre) / centre
    if window == "poly":
        return distance**poly_exp
    # ``1 - hann`` and ``1 - hamming`` of the symmetric window, rescaled to end at 1.
    # Hamming's raw ``1 - window`` is 0.46 * (1 - cos), i.e. 0.92 times hann's, so
    # once rescaled the two coincide; "hamming" is accepted for compatibility.
    return (1.0 - np.cos(np.pi * distance)) / 2.0


@functools.lru_cache(maxsize=64)
def kernel_window(shape: tuple[int, ...], window: str = "poly", poly_exp: int = 2) -> np.ndarray:
    """The penalty window for a kernel of ``shape``, broadcastable against it.

    The spatial axes are all but the last two (``(*spatial, in, out)`` for ConvND,
    ``(*spatial, in, depth_multiplier)`` for DepthwiseConvND). The per-axis windows
    are averaged over the spatial axes longer than 1, so the window is 0 only at
    the centre and reaches 1 only at the far corners.

    Args:
        shape: The kernel's shape.
        window: ``"poly"``, ``"hann"`` or ``"hamming"``.
        poly_exp: Exponent of the ``"poly"`` window.

    Returns:
        A float32 array of shape ``(*spatial, 1, 1)``.
    """
    spatial = shape[:-2]
    total = np.zeros(spatial, dtype=np.float64)
    count = 0
    for axis, length in enumerate(spatial):
        if length == 1:
            continue
        axis_shape = [1] * len(spatial)
        axis_shape[axis] = length
        total = total + _axis_window(length, window, poly_exp).reshape(axis_shape)
        count += 1
    if count:
        total = total / count
    return total.reshape((*spatial, 1, 1)).astype("float32")


@keras.saving.register_keras_serializable(package="regsearch")
class KernelLength(Regularizer):
    """Penalize non-zero weights far from the centre of a convolution kernel.

    The penalty is ``strength * sum(window * mask(w) * |w|)``: ``window`` is 0 at
    the kernel's centre and grows to 1 at its far corners, and ``mask(w) =
    1 - exp(-(w / threshold) ** 2)`` is a smooth indicator of a non-zero weight
    (0 at ``w = 0``, above 0.98 once ``|w| >= 2 * threshold``). A zero kernel costs
    nothing and the gradient is finite everywhere (zero at ``w = 0``). Unlike a
    mask alone (indl's ``sigmoid(|w| - threshold)``), which stops pulling once a
    weight is well above ``threshold``, the ``|w|`` factor keeps a windowed L1
    pull of ``strength * window`` on every outer weight, so training drives
    them towards zero, after which ``regsearch.trim`` shortens the kernel.

    The spatial shape is read from the weight: it works for the kernels of
    ``Conv1D``, ``Conv2D``, ``Conv3D``, their transposed variants and
    ``DepthwiseConv1D``/``DepthwiseConv2D`` (spatial axes are all but the last two).
    Spatial axes of length 1 are not penalized. For a single weight of magnitude 1
    at tap ``i`` of a 1-D kernel of odd length ``L`` with ``window="poly"``, the
    penalty is (within 2 %) ``strength * (|i - c| / (L // 2)) ** poly_exp``, ``c = L // 2``.

    Args:
        strength: Non-negative penalty multiplier.
        window: ``"poly"`` (``d ** poly_exp`` of the normalized distance ``d`` from
            the centre, per axis), ``"hann"`` or ``"hamming"`` (one minus the
            window, rescaled to reach 1 at the ends; after rescaling the two are the
            same shape). Per-axis windows are averaged over the spatial axes.
        poly_exp: Positive integer exponent of the ``"poly"`` window.
        threshold: Positive magnitude below which a weight counts as zero.

    Raises:
        ValueError: at construction for a bad argument; when called on a weight
            without spatial axes (e.g. a ``Dense`` kernel or a bias).

    Examples:
        >>> import keras
        >>> from regsearch.regularizers import KernelLength
        >>> layer = keras.layers.Conv1D(4, 31, kernel_regularizer=KernelLength(0.01))
        >>> float(KernelLength(1.0)(keras.ops.zeros((31, 1, 4))))
        0.0
    """

    def __init__(
        self,
        strength: float = 0.01,
        window: str = "poly",
        *,
        poly_exp: int = 2,
        threshold: float = 1e-3,
    ) -> None:
        super().__init__(strength)
        self.window = check_choice("window", window, WINDOWS)
        self.poly_exp = check_int("poly_exp", poly_exp, minimum=1)
        self.threshold = check_float("threshold", threshold, exclusive_minimum=True)

    def __call__(self, x: Any) -> Any:
        shape = tuple(x.shape)
        if len(shape) < 3 or any(dim is None for dim in shape):
            raise ValueError(
                "KernelLength needs a convolution kernel with at least one spatial axis, "
                "shaped (*spatial, in, out); received a weight of shape "
                f"{shape}. A rank-{len(shape)} weight (a Dense kernel or a bias) has no "
                "length to shorten: use KernelLength as the kernel_regularizer of a "
                "Conv1D/Conv2D/Conv3D or DepthwiseConv layer, or GroupLasso/L1 here."
            )
        window = ops.convert_to_tensor(
            kernel_window(shape, self.window, self.poly_exp), dtype=x.dtype
        )
        mask = 1.0 - ops.exp(-ops.square(x / self.threshold))
        # mask * |w|: an L1 pull that never fades for large weights (a mask alone
        # would give them no gradient) and is smooth, with zero slope, at w = 0.
        return self.strength * ops.sum(window * mask * ops.abs(x))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "window": self.window,
            "poly_exp": self.poly_exp,
            "threshold": self.threshold,
        }
