"""Multiply-accumulates of layers trim keeps as they are: recurrent and attention layers.

Trimming never changes them, but they count in a model's size: without them a
convolution feeding an LSTM would look like most of the model's compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

L = keras.layers

# Matrix products per step and unit: LSTM's 4 gates, GRU's 3, SimpleRNN's 1.
_GATES: tuple[tuple[type, int], ...] = ((L.LSTM, 4), (L.GRU, 3), (L.SimpleRNN, 1))


def _size(shape: Sequence[int | None], axis: int) -> int:
    value = shape[axis]
    return 1 if value is None else int(value)


def _recurrent_macs(layer: keras.layers.Layer, shape: Sequence[int | None]) -> int:
    gates = next((n for kind, n in _GATES if isinstance(layer, kind)), 0)
    units = int(getattr(layer, "units", 0))
    return _size(shape, 1) * gates * units * (_size(shape, -1) + units)


def _attention_macs(
    layer: keras.layers.MultiHeadAttention, shapes: Sequence[Sequence[int | None]]
) -> int:
    query, value = shapes[0], shapes[1]
    key = shapes[2] if len(shapes) > 2 else value
    config = layer.get_config()
    heads, key_dim = int(config["num_heads"]), int(config["key_dim"])
    value_dim = int(config.get("value_dim") or key_dim)
    out = config.get("output_shape") or _size(query, -1)
    out_dim = out if isinstance(out, int) else math.prod(int(d) for d in out)
    t_q, t_v = _size(query, 1), _size(value, 1)
    projections = (
        t_q * _size(query, -1) * heads * key_dim
        + t_v * _size(key, -1) * heads * key_dim
        + t_v * _size(value, -1) * heads * value_dim
        + t_q * heads * value_dim * out_dim
    )
    return projections + heads * t_q * t_v * (key_dim + value_dim)


def fixed_macs(layer: keras.layers.Layer, shapes: Sequence[Sequence[int | None]]) -> int:
    """Multiply-accumulates per sample of one call of ``layer`` on inputs of ``shapes``.

    Counts LSTM, GRU, SimpleRNN (and each direction of a ``Bidirectional`` one) and
    MultiHeadAttention; other layers trim keeps count 0.
    """
    if isinstance(layer, L.Bidirectional):
        return sum(fixed_macs(part, shapes) for part in (layer.forward_layer, layer.backward_layer))
    if isinstance(layer, L.MultiHeadAttention) and len(shapes) >= 2:
        return _attention_macs(layer, shapes)
    if isinstance(layer, tuple(kind for kind, _ in _GATES)) and shapes:
        return _recurrent_macs(layer, shapes[0])
    return 0
