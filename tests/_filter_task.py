"""The synthetic kernel-length task used by the tests and benchmarks (a test fixture).

Signals filtered by a known short FIR filter, with noise: a model with one long
Conv1D kernel should learn that only a few central taps matter.
"""

from __future__ import annotations

import keras
import numpy as np

TRUE_TAPS = np.array([0.25, -0.5, 1.0, -0.5, 0.25], dtype="float32")


def filter_task(
    n: int = 512,
    length: int = 64,
    *,
    noise: float = 0.3,
    taps: np.ndarray = TRUE_TAPS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, y)`` with ``x`` of shape (n, length, 1) and ``y = conv(x, taps) + noise``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, length)).astype("float32")
    y = np.stack([np.convolve(row, taps[::-1], mode="same") for row in x]).astype("float32")
    y += rng.normal(scale=noise, size=y.shape).astype("float32")
    return x[..., None], y[..., None]


def long_kernel_model(taps: int = 31, length: int = 64) -> keras.Model:
    """One Conv1D with a ``taps``-long kernel and 'same' padding."""
    inputs = keras.Input((length, 1))
    outputs = keras.layers.Conv1D(1, taps, padding="same", name="fir")(inputs)
    return keras.Model(inputs, outputs, name="long_kernel")
