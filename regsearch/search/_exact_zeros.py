"""Make the weight groups a group penalty has emptied exactly zero during training."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from regsearch._validation import check_float
from regsearch.regularizers import (
    GroupLasso,
    KernelExtent,
    Polarization,
    ReweightedGroupSparsity,
    Slimming,
    StructuredSparsity,
    extent_groups,
    group_axes,
    group_size,
    output_channel_axes,
)
from regsearch.search._switch import inner_penalty


def penalty_groups(regularizer: Any, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The axes summed over inside one group, for each group term of ``regularizer``."""
    regularizer = inner_penalty(regularizer)
    if isinstance(regularizer, StructuredSparsity):
        weights = regularizer.term_weights()
        return [axes for term, axes in group_axes(shape).items() if weights[term] > 0]
    if isinstance(regularizer, GroupLasso) and len(shape) > 0:
        return [tuple(range(len(shape) - 1))]
    if isinstance(regularizer, (Slimming, Polarization, ReweightedGroupSparsity)):
        return [output_channel_axes(shape)]  # a scale vector: each entry alone
    return []


def penalty_masks(regularizer: Any, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The groups of kernel positions of ``regularizer`` (over every channel), as masks.

    Each mask is shaped ``(*spatial, 1, 1)``: ``KernelExtent``'s rings or edge slices.
    """
    regularizer = inner_penalty(regularizer)
    if isinstance(regularizer, KernelExtent) and len(shape) >= 3:
        found = extent_groups(shape, regularizer.groups, regularizer.power)
        return [mask.reshape((*mask.shape, 1, 1)) for mask, _ in found]
    return []


class _Penalized(NamedTuple):
    variable: Any
    groups: list[tuple[tuple[int, ...], int]]
    masks: list[tuple[np.ndarray, int]]  # position groups and how many weights each holds
    bias: Any  # the layer's bias when one entry belongs to each filter, else None


def sync_weights(callback: keras.callbacks.Callback) -> None:
    """Make the model's variables hold the weights being trained, mid-epoch too.

    JAX's trainer keeps the weights outside the variables during an epoch; reading
    ``callback.model`` writes them back (and the next step reads the variables
    again), so an edit a batch callback makes to the variables sticks. Other
    backends train the variables themselves.
    """
    _ = callback.model


def compiled(step: Callable[[], None]) -> Callable[[], None]:
    """``step`` (variable updates after a batch) as one TensorFlow graph on that backend.

    A callback that edits every penalized weight after every batch issues a dozen eager
    operations per weight; on a MobileNetV2 that is most of a training step. On
    TensorFlow one graph call does them all; other backends run ``step`` as it is.
    """
    if keras.backend.backend() != "tensorflow":
        return step
    import tensorflow as tf  # the backend's own graph compiler; Keras exposes none

    return tf.function(step, autograph=False)


class ExactZeros(keras.callbacks.Callback):
    """After every batch, set the groups a group penalty has emptied to exactly 0.

    For every weight regularized by ``StructuredSparsity`` (its filters, input channels
    and kernel positions with a non-zero weight), ``GroupLasso`` or
    ``ReweightedGroupSparsity`` (its filters), ``Slimming`` or ``Polarization`` (each
    BatchNormalization scale, or each filter of a kernel), or ``KernelExtent`` (its
    rings or edge slices, over every channel), alone or wrapped in
    ``Growing``, a group whose root mean square is at most ``threshold`` is set to
    exactly 0 right after the optimizer update. When a whole output filter of a
    layer's kernel is 0, its bias is set to 0 as well: the filter then outputs
    ``activation(0)`` (0 for ReLU and linear layers) instead of a constant
    ``activation(bias)`` that a following ``"same"``-padded convolution could not
    absorb, so ``regsearch.trim`` can remove it.

    Why: a smooth group penalty pulls a group towards 0 but never lands on it; SGD
    leaves it jittering around 1e-4 and Adam, whose steps do not shrink with the
    gradient, around 1e-3, so what counts as zero depends on the threshold. Set to
    exactly 0, the penalty's gradient there is 0 too, the next update moves the
    group only by what the data asks for, and the group is back at 0 after the
    batch unless the data pushes it past ``threshold`` in one step: emptied groups
    stay empty under any optimizer. Measured on the digits demo model
    (``StructuredSparsity(1e-3)`` on both convolutions, 15 epochs), Adam(1e-2) ends
    with as many exactly-zero filters as SGD(0.1, momentum=0.9); without this
    callback it ends with none.

    Args:
        threshold: The largest root mean square of a group set to zero, >= 0
            (``RegSearchHyperModel`` passes its ``trim_threshold``).
        relative: Interpret ``threshold`` relative to the weight's largest ``|w|``.

    Examples:
        >>> import keras, numpy as np, regsearch
        >>> from regsearch.regularizers import StructuredSparsity
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        ...     3, kernel_regularizer=StructuredSparsity(0.01))])
        >>> kernel = np.ones((4, 3), "float32")
        >>> kernel[:, 1] = 1e-4  # an emptied filter
        >>> _ = model.layers[0].kernel.assign(kernel)
        >>> callback = regsearch.search.ExactZeros(1e-3)
        >>> callback.set_model(model)
        >>> callback.on_train_batch_end(0)
        >>> keras.ops.convert_to_numpy(model.layers[0].kernel)[:, 1].tolist()
        [0.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, threshold: float = 1e-3, *, relative: bool = False) -> None:
        super().__init__()
        self.threshold = check_float("threshold", threshold)
        self.relative = bool(relative)
        self._key: list[Any] | None = None  # the groups the compiled update zeroes

    def _penalized(self) -> list[_Penalized]:
        found = []
        for layer in self.model.layers:
            bias = getattr(layer, "bias", None) if getattr(layer, "use_bias", False) else None
            for variable in layer.trainable_weights:
                shape = tuple(int(d) for d in variable.shape)
                regularizer = getattr(variable, "regularizer", None)
                axes = penalty_groups(regularizer, shape)
                channels = math.prod(shape[-2:])
                masks = [(m, int(m.sum()) * channels) for m in penalty_masks(regularizer, shape)]
                if not axes and not masks:
                    continue
                groups = [(a, group_size(shape, a)) for a in axes]
                per_filter = bias is not None and tuple(bias.shape) == shape[-1:]
                per_filter = per_filter and variable.name == "kernel"
                found.append(_Penalized(variable, groups, masks, bias if per_filter else None))
        return found

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # Read every epoch: a ``PenaltyWarmup`` attaches the penalties between epochs.
        self._use(self._penalized())

    def _use(self, groups: list[_Penalized]) -> None:
        """Zero ``groups`` from now on (one compiled step, rebuilt only when they change)."""
        key = [(id(p.variable), p.groups, len(p.masks), p.bias is not None) for p in groups]
        if self._key != key:
            self._groups, self._key = groups, key
            self._compiled_update = compiled(self._zero_emptied_groups)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        sync_weights(self)
        if not hasattr(self, "_groups"):
            self._use(self._penalized())
        self._compiled_update()

    def _zero_emptied_groups(self) -> None:
        for penalized in self._groups:
            value = ops.convert_to_tensor(penalized.variable)
            limit = self.threshold**2
            if self.relative:
                limit = limit * ops.square(ops.max(ops.abs(value)))
            zero = ops.zeros((), value.dtype)
            for axes, size in penalized.groups:
                squares = ops.square(value)
                if axes:  # no axes: each entry is its own group (a scale vector)
                    squares = ops.sum(squares, axis=axes, keepdims=True)
                value = ops.where(squares <= size * limit, zero, value)
            for mask, size in penalized.masks:
                inside = ops.convert_to_tensor(mask)
                total = ops.sum(ops.where(inside, ops.square(value), zero))
                value = ops.where(ops.logical_and(inside, total <= size * limit), zero, value)
            penalized.variable.assign(value)
            if penalized.bias is not None:
                alive = ops.any(ops.reshape(value, (-1, value.shape[-1])) != 0, axis=0)
                bias = ops.convert_to_tensor(penalized.bias)
                penalized.bias.assign(ops.where(alive, bias, zero))
