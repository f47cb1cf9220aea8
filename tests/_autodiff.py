"""Gradients for the tests on whichever Keras backend runs them (TensorFlow or JAX)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest


def gradient(fn: Callable[[Any], Any], x: Any) -> np.ndarray:
    """The gradient of ``sum(fn(x))`` with respect to ``x``, as a NumPy array.

    Keras 3 has no backend-neutral autodiff, so each backend's own is used here.
    """
    x = np.asarray(x, dtype="float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(x)
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(fn(variable))
        return tape.gradient(total, variable).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: keras.ops.sum(fn(v)))(jax.numpy.asarray(x)))
    pytest.skip(f"the tests take gradients on tensorflow and jax only, not on {backend}")


def batch_jacobian(fn: Callable[[Any], Any], x: Any, outputs: int) -> np.ndarray:
    """``d fn(x)[b, i] / d x[b, j]`` shaped (batch, outputs, inputs); samples independent."""
    rows = [gradient(lambda v, i=i: fn(v)[:, i], x) for i in range(outputs)]
    return np.stack(rows, axis=1)
