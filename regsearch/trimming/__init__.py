"""Trim a trained model: shorten kernels and remove dead filters, exactly.

A weight *counts as zero* when ``|w| <= threshold`` (or ``<= threshold x`` the
largest ``|w|`` of its layer's kernel -- each kernel of a ``SeparableConv`` on its
own -- or of its BatchNormalization's gamma, with ``relative=True``). This applies
to the kernels trim reads and to the ``gamma`` of ``BatchNormalization`` layers.
From that alone:

- **Kernel extent.** For ``Conv1D/2D/3D``, ``DepthwiseConv1D/2D`` and the depthwise
  part of ``SeparableConv1D/2D`` (over the depthwise filters that still reach a kept
  output), leading and trailing kernel positions whose weights all count as zero are
  dropped along each spatial axis. The padding is rewritten
  (``valid``/``same``/``causal`` or explicit ``ZeroPadding``/``Cropping`` + ``valid``)
  so that outputs keep their shape and values for every padding, stride and dilation.
- **Dead filters.** An output channel of a ``Conv``, ``SeparableConv`` or ``Dense``
  layer that reads nothing (its whole kernel slice counts as zero; for a
  ``SeparableConv``, its pointwise column, or the depthwise filters feeding it)
  outputs a constant, ``activation(bias)``. It is removed together with the matching
  input channels of its consumers (through activations, batch normalization,
  pooling, ``Flatten``, merges, ``DepthwiseConv``) when that is exact: the constant
  is 0, or it folds into a consumer that adds no zero padding (a ``Dense``, a
  ``valid`` convolution, a 1x1 ``same`` one). The fold goes into the consumer's bias;
  a consumer without a bias or activation whose output only a ``BatchNormalization``
  reads shifts that layer's moving mean instead, and any other gets a bias.
  A constant goes through a ``DepthwiseConv`` where it stays constant: 0 (or a dead
  depthwise filter) gives ``activation(bias)``; with no zero padding, any constant does.
- **Zero BatchNormalization scales.** A ``BatchNormalization`` channel (over the last
  axis) whose ``gamma`` counts as zero outputs the constant ``beta`` at inference. It
  is removed like a dead filter's constant (where it is 0 or folds exactly into its
  consumers, as above), and with it the filter feeding it when nothing else reads that
  filter (listed in ``LayerTrim.unused_filters``). This is what
  ``regsearch.regularizers.Slimming`` and ``Polarization`` drive gammas to.
- **Unused filters.** An output channel of a ``Conv``, ``SeparableConv`` or ``Dense``
  layer that no consumer uses -- every consumer's kernel rows for it count as zero,
  through the same channel-wise layers, ``Flatten`` (all rows of the channel) and
  merges -- is removed together with those rows; a channel that reaches a model output
  or a layer trim does not understand is kept. A ``SeparableConv`` does not use input
  channel ``c`` when each of its ``depth_multiplier`` depthwise filters is zero or
  feeds all-zero pointwise rows; removing ``c`` removes those filters and rows.
  Removing filters can leave more kernel rows zero, so this repeats until nothing
  changes; a layer whose outputs nobody uses keeps one channel. A ``DepthwiseConv``
  channel goes (with its input channel) when all its outputs go. ``LayerTrim.unused_filters``
  lists the channels removed this way.
- **Coupled channels.** Channel ``c`` of every input of an ``Add``, ``Subtract``,
  ``Multiply``, ``Average``, ``Maximum`` or ``Minimum`` is one channel: it goes from
  every layer that makes it (e.g. the stem and each residual block's last
  convolution, or a squeeze-and-excitation block's expansion and the excitation
  convolution whose ``(1, 1, c)`` scales multiply it) or from none. Channels also pass
  through a ``Reshape`` that keeps them last (``(c,)`` to ``(1, 1, c)``; rebuilt with
  ``-1`` there) and element-wise ``keras.ops`` on one tensor and numbers
  (``x + 3.0``). ``LayerTrim.coupled`` and ``coupled_through`` name the group, and the
  report table shows it where channels went or were kept (``channel_groups`` lists
  the groups by producer, as ``narrow`` uses them).
- Layers trim does not understand (RNNs, custom layers, shared layers) are kept as
  they are, and so are the input channels of layers that mix channels
  (``LayerNormalization`` over the channel axis, softmax, a ``Reshape`` that moves
  the channels, ...); the
  report says why.

``trimmed_size`` runs the same analysis without building anything (fast enough
for every epoch end); ``snap_to_zero`` sets the weights that count as zero to 0 in
place, after which the model computes exactly what the trimmed model computes.

MACs are the multiply-accumulates of one sample through the kernels of ``Conv``,
``DepthwiseConv``, ``SeparableConv`` and ``Dense`` layers: kernel taps x input
channels (per group) x output channels x output positions; biases, activations,
normalization and pooling are not counted. A spatial axis of unknown length counts
as one position.
"""

from __future__ import annotations

from regsearch.trimming._groups import ChannelGroup, channel_groups
from regsearch.trimming._narrow import Narrower as Narrower
from regsearch.trimming._narrow import channel_importance, narrow
from regsearch.trimming._penalties import coupled_penalties
from regsearch.trimming._records import LayerTrim, TrimmedSize
from regsearch.trimming._report import TrimReport
from regsearch.trimming._sizes import EmptiedLayerError
from regsearch.trimming._trim import snap_to_zero, trim, trimmed_size

__all__ = [
    "ChannelGroup",
    "EmptiedLayerError",
    "LayerTrim",
    "TrimReport",
    "TrimmedSize",
    "channel_groups",
    "channel_importance",
    "coupled_penalties",
    "narrow",
    "snap_to_zero",
    "trim",
    "trimmed_size",
]
