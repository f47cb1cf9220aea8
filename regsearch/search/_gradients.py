"""The norm of a scalar's gradient with respect to some Keras variables, on any backend.

Keras 3 has no backend-neutral gradient call, so each backend's own is used here:
TensorFlow's ``GradientTape``, ``jax.grad`` over ``keras.StatelessScope`` (reading a
variable inside the scope returns the traced value), and ``torch.autograd.grad``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np


def _backend_module(name: str) -> Any:
    """The backend's own package (installed whenever Keras runs on that backend)."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"KERAS_BACKEND is {name!r} but {name} is not installed: pip install {name}."
        ) from error


def gradient_norms(fn: Callable[[], Any], variables: Sequence[keras.Variable]) -> list[float]:
    """``||d fn() / d v||`` for each ``v`` of ``variables``; 0 where ``fn`` ignores ``v``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf  # GradientTape: see the module docstring

        with tf.GradientTape() as tape:
            for variable in variables:
                tape.watch(variable.value)
            value = fn()
        grads = tape.gradient(value, [variable.value for variable in variables])
    elif backend == "jax":
        jax = _backend_module("jax")

        def scoped(values: list[Any]) -> Any:
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn()

        grads = jax.grad(scoped)([variable.value for variable in variables])
    elif backend == "torch":
        torch = _backend_module("torch")
        grads = torch.autograd.grad(
            fn(), [variable.value for variable in variables], allow_unused=True
        )
    else:
        raise NotImplementedError(
            f"Gradient-relative strengths need the TensorFlow, JAX or PyTorch backend; "
            f"KERAS_BACKEND is {backend!r}."
        )
    return [
        0.0 if g is None else float(np.linalg.norm(keras.ops.convert_to_numpy(g))) for g in grads
    ]
