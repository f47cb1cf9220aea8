"""Soft targets from the given model, for ``shrink``'s trials (knowledge distillation).

Every trial of ``shrink`` fine-tunes a cut of the user's trained model; training it
on a mix of the labels and that model's own predictions (Hinton, Vinyals and Dean,
"Distilling the Knowledge in a Neural Network", 2015) keeps it closer to the model
it must match. For a loss linear in its target (cross-entropy, squared error), a
loss on the mixed target ``w * teacher + (1 - w) * y`` equals ``w`` times the loss
on the teacher's predictions plus ``1 - w`` times the loss on the labels, up to a
constant; so no custom loss or training step is needed, only new targets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import keras
import numpy as np

Kind = Literal["sparse", "categorical", "binary", "regression"]

_LOSSES: dict[str, Kind] = {
    "sparse_categorical_crossentropy": "sparse",
    "categorical_crossentropy": "categorical",
    "binary_crossentropy": "binary",
    "mean_squared_error": "regression",
    "mse": "regression",
}
_CLASSES: dict[type, Kind] = {
    keras.losses.SparseCategoricalCrossentropy: "sparse",
    keras.losses.CategoricalCrossentropy: "categorical",
    keras.losses.BinaryCrossentropy: "binary",
    keras.losses.MeanSquaredError: "regression",
}
_FUNCTIONS: dict[Any, Kind] = {
    keras.losses.sparse_categorical_crossentropy: "sparse",
    keras.losses.categorical_crossentropy: "categorical",
    keras.losses.binary_crossentropy: "binary",
    keras.losses.mean_squared_error: "regression",
}
# What a metric on sparse labels becomes on one-hot targets (same name in the logs).
_DENSE_METRICS: dict[str, type[keras.metrics.Metric]] = {
    "sparse_categorical_accuracy": keras.metrics.CategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": keras.metrics.TopKCategoricalAccuracy,
    "sparse_categorical_crossentropy": keras.metrics.CategoricalCrossentropy,
}
_SUPPORTED = "sparse or categorical cross-entropy, binary cross-entropy or mean squared error"


@dataclasses.dataclass(frozen=True)
class SoftTargets:
    """What the trials train on: mixed targets, and the data and compile arguments
    that read them."""

    y: np.ndarray
    validation_data: tuple[Any, np.ndarray]
    compile: dict[str, Any]


def loss_kind(loss: Any) -> Kind | None:
    """How targets of ``loss`` mix with predictions, or ``None`` when they do not."""
    if isinstance(loss, str):
        return _LOSSES.get(loss.lower())
    if isinstance(loss, keras.losses.Loss):
        return next((kind for cls, kind in _CLASSES.items() if type(loss) is cls), None)
    return _FUNCTIONS.get(loss)


def unsupported(
    model: keras.Model,
    x: Any,
    y: Any,
    compile: Mapping[str, Any],
    validation_data: Any = None,
) -> str | None:
    """Why ``model``'s predictions cannot serve as targets here, or ``None`` when they can."""
    if len(model.outputs) != 1:
        return f"the model has {len(model.outputs)} outputs (distillation needs one)"
    if not isinstance(y, np.ndarray) or not _arrays(x):
        return "x and y must be NumPy arrays (distillation predicts on x once, up front)"
    if validation_data is not None and not (
        isinstance(validation_data, (tuple, list)) and len(validation_data) == 2
    ):
        return "validation_data must be (x_val, y_val) arrays (distillation encodes y_val)"
    loss = compile.get("loss")
    if loss_kind(loss) is None:
        return f"its loss is {loss!r}; distillation needs {_SUPPORTED}"
    return None


def _arrays(x: Any) -> bool:
    leaves = keras.tree.flatten(x)
    return bool(leaves) and all(isinstance(leaf, np.ndarray) for leaf in leaves)


def soft_targets(
    teacher: keras.Model,
    x: Any,
    y: np.ndarray,
    validation_data: tuple[Any, Any],
    compile: Mapping[str, Any],
    *,
    weight: float,
    temperature: float,
    batch_size: int | None,
) -> SoftTargets:
    """``w * softened teacher predictions + (1 - w) * y``, and what reads them.

    Sparse labels become one-hot (training and validation alike), with the loss and
    the sparse metrics switched to their categorical forms under the same names, so
    the validation logs mean what they meant.
    """
    kind = loss_kind(compile.get("loss"))
    if kind is None:  # callers check `unsupported` first
        raise ValueError(f"Distillation needs {_SUPPORTED}; received {compile.get('loss')!r}.")
    predictions = np.asarray(teacher.predict(x, batch_size=batch_size, verbose=0), "float64")
    from_logits = _from_logits(compile["loss"])
    softened = _soften(predictions, kind, temperature, from_logits)
    x_val, y_val = validation_data
    if kind == "sparse":
        classes = predictions.shape[-1]
        labels, y_val = _one_hot(y, classes), _one_hot(np.asarray(y_val), classes)
        compile = _categorical(compile, from_logits)
    else:
        labels = np.asarray(y, "float64").reshape(softened.shape)
    mixed = weight * softened + (1.0 - weight) * labels
    return SoftTargets(mixed.astype("float32"), (x_val, y_val), dict(compile))


def _from_logits(loss: Any) -> bool:
    return isinstance(loss, keras.losses.Loss) and bool(loss.get_config().get("from_logits"))


def _soften(predictions: np.ndarray, kind: Kind, temperature: float, logits: bool) -> np.ndarray:
    """The teacher's probabilities at ``temperature`` (its outputs, for regression)."""
    if kind == "regression":
        return predictions
    if kind == "binary":
        p = np.clip(predictions, 1e-7, 1 - 1e-7)
        z = predictions if logits else np.log(p) - np.log1p(-p)
        return 1.0 / (1.0 + np.exp(-z / temperature))
    z = predictions if logits else np.log(np.clip(predictions, 1e-12, None))
    z = z / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype="float32")[np.asarray(labels).astype("int64").reshape(-1)]


def _categorical(compile: Mapping[str, Any], from_logits: bool) -> dict[str, Any]:
    loss = keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    metrics = compile.get("metrics")
    if metrics is None:
        return {**compile, "loss": loss}
    if not isinstance(metrics, Sequence) or isinstance(metrics, str):
        metrics = [metrics]
    return {**compile, "loss": loss, "metrics": [_dense_metric(m) for m in metrics]}


def _dense_metric(metric: Any) -> Any:
    """A sparse-label metric as its one-hot form, logged under the same name."""
    name = metric if isinstance(metric, str) else getattr(metric, "name", None)
    dense = _DENSE_METRICS.get(_canonical(metric))
    if dense is None:
        return metric
    config = metric.get_config() if isinstance(metric, keras.metrics.Metric) else {}
    options = {k: config[k] for k in ("k", "from_logits") if k in config}
    return dense(name=name, **options)


_SPARSE_METRIC_NAMES: dict[type, str] = {
    keras.metrics.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
    keras.metrics.SparseTopKCategoricalAccuracy: "sparse_top_k_categorical_accuracy",
    keras.metrics.SparseCategoricalCrossentropy: "sparse_categorical_crossentropy",
}


def _canonical(metric: Any) -> str:
    if isinstance(metric, str):
        return metric.lower()
    return _SPARSE_METRIC_NAMES.get(type(metric), "")
